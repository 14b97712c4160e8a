//! Fuzzes the chat request decoder (`ChatRequest::parse`, with `rag_params`): any JSON must
//! become a request or a `ParamError` naming a parameter, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ragway_protocol::chat::ChatRequest;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Err(e) = ChatRequest::parse(body) {
            assert!(!e.message.is_empty());
        }
    }
});
