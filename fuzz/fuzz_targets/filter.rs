//! Fuzzes the metadata filter parser: any JSON must become a filter or a `ParamError`, never
//! a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ragway_protocol::filter;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = filter::parse(&value, "filter");
    }
});
