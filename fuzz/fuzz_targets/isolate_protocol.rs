//! Fuzzes the isolated parser's frame decoders (request: what the child reads; response: what
//! the server reads from the child). Any bytes must decode or fail with a `ProtocolError`,
//! allocating no more than arrived; what decodes must encode back to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ragway_ingest::isolate::{decode_request, decode_response, encode_request, encode_response};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = decode_request(data) {
        let again = decode_request(&encode_request(&request.header, &request.bytes));
        assert_eq!(again.as_ref(), Ok(&request));
    }
    if let Ok(result) = decode_response(data) {
        assert_eq!(
            decode_response(&encode_response(&result)).as_ref(),
            Ok(&result)
        );
    }
});
