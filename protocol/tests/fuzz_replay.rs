//! Replays the seed corpora of the request decoders' fuzz targets (`fuzz/corpus/chat_request`,
//! `filter`, `sse`) through the same code as those targets, on stable, so an input that once
//! broke a decoder cannot come back unnoticed between fuzzing runs.

use std::path::Path;

use ragway_protocol::chat::ChatRequest;
use ragway_protocol::filter;
use ragway_protocol::sse::SseDecoder;

fn run_target(target: &str, data: &[u8]) {
    match target {
        "chat_request" => {
            if let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) {
                if let Err(e) = ChatRequest::parse(body) {
                    assert!(!e.message.is_empty());
                }
            }
        }
        "filter" => {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
                let _ = filter::parse(&value, "filter");
            }
        }
        "sse" => {
            let Some((&size, rest)) = data.split_first() else {
                return;
            };
            let mut decoder = SseDecoder::default();
            for chunk in rest.chunks(usize::from(size).max(1)) {
                decoder.push(chunk);
                while decoder.next_event().is_some() {}
            }
        }
        other => panic!("unknown target {other}"),
    }
}

#[test]
fn decoder_seeds_run_clean() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut replayed = 0;
    for target in ["chat_request", "filter", "sse"] {
        for file in std::fs::read_dir(corpus.join(target)).unwrap().flatten() {
            run_target(target, &std::fs::read(file.path()).unwrap());
            replayed += 1;
        }
    }
    assert!(
        replayed >= 10,
        "the seed corpora are missing ({replayed} files)"
    );
}
