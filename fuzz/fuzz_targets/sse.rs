//! Fuzzes the decoder of a backend's SSE stream: any bytes, cut into chunks anywhere (the first
//! byte sets the chunk size), must become events and nothing else: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ragway_protocol::sse::SseDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&size, rest)) = data.split_first() else {
        return;
    };
    let mut decoder = SseDecoder::default();
    for chunk in rest.chunks(usize::from(size).max(1)) {
        decoder.push(chunk);
        while decoder.next_event().is_some() {}
    }
});
