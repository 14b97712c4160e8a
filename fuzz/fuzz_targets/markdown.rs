//! Fuzzes the markdown parser: any bytes must end in a document or a `ParseError`, within the
//! limits, never a panic, an abort or a stack overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ragway_fuzz_common::limits;
use ragway_ingest::parse::{parse_as, Format, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let _ = parse_as(data, Format::Markdown, &ParseOptions::default(), &limits());
});
