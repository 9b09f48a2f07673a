#![no_main]

use std::sync::LazyLock;

use invokeguard::policies::Policies;
use invokeguard_fuzz::harness;
use libfuzzer_sys::fuzz_target;

static POLICIES: LazyLock<Policies> = LazyLock::new(harness::fixed_policies);

fuzz_target!(|data: &[u8]| harness::record_parser(&POLICIES, data));
