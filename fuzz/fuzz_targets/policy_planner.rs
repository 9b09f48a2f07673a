#![no_main]

use invokeguard_fuzz::harness;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| harness::policy_planner(data));
