//! Shared harness of the fuzz targets. `tests/fuzz_regressions.rs` includes `harness.rs` too,
//! so a reproducer dropped into `tests/fixtures/fuzz/<target>/` replays the exact same code.

pub mod harness;
