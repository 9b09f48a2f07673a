#![no_main]

use std::sync::LazyLock;

use invokeguard::allowlist::Allowlist;
use invokeguard_fuzz::harness;
use libfuzzer_sys::fuzz_target;

static POLICIES: LazyLock<Allowlist> = LazyLock::new(harness::fixed_policies);

fuzz_target!(|data: &[u8]| harness::record_parser(&POLICIES, data));
