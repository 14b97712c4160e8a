//! Fuzzes format detection: name and content type come from the input too, so every mix of
//! extension, MIME type and sniffed bytes is tried. It must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ragway_ingest::parse::detect_format;

fuzz_target!(|data: &[u8]| {
    // First line: file name; second line: content type; the rest: the file.
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let name = parts.next().map(String::from_utf8_lossy);
    let content_type = parts.next().map(String::from_utf8_lossy);
    let bytes = parts.next().unwrap_or(data);
    let _ = detect_format(bytes, name.as_deref(), content_type.as_deref());
    let _ = detect_format(data, None, None);
});
