//! Replays the fuzz seed corpora and every input that once crashed a fuzz target
//! (`tests/fuzz_regressions/<target>/`) through the same code as the fuzz targets, on stable
//! and on a 2 MiB stack, so a fixed crash cannot come back unnoticed between fuzzing runs.

use std::path::{Path, PathBuf};

use ragway_ingest::isolate::{decode_request, decode_response, encode_request, encode_response};
use ragway_ingest::parse::{detect_format, parse_as, Format, ParseLimits, ParseOptions};

/// The limits the fuzz targets use (fuzz/src/lib.rs).
fn limits() -> ParseLimits {
    ParseLimits {
        max_inflated_bytes: 8 << 20,
        max_text_bytes: 8 << 20,
        ..ParseLimits::default()
    }
}

fn run_target(target: &str, data: &[u8]) {
    let format = match target {
        "detect" => {
            let mut parts = data.splitn(3, |&b| b == b'\n');
            let name = parts.next().map(String::from_utf8_lossy);
            let content_type = parts.next().map(String::from_utf8_lossy);
            let bytes = parts.next().unwrap_or(data);
            let _ = detect_format(bytes, name.as_deref(), content_type.as_deref());
            let _ = detect_format(data, None, None);
            return;
        }
        "isolate_protocol" => {
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
            return;
        }
        // The request decoders' targets are replayed by the protocol crate's own test.
        "chat_request" | "filter" | "sse" => return,
        "markdown" => Format::Markdown,
        other => Format::from_name(other).unwrap_or_else(|| panic!("unknown target {other}")),
    };
    let _ = parse_as(data, format, &ParseOptions::default(), &limits());
}

fn inputs(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let Ok(targets) = std::fs::read_dir(root) else {
        return out;
    };
    for target in targets.flatten().filter(|e| e.path().is_dir()) {
        let name = target.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(target.path()).unwrap().flatten() {
            out.push((name.clone(), file.path()));
        }
    }
    out.sort();
    out
}

#[test]
fn seeds_and_past_crashes_run_clean() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = inputs(&manifest.join("../fuzz/corpus"));
    let seeds = all.len();
    all.extend(inputs(&manifest.join("tests/fuzz_regressions")));
    assert!(
        seeds >= 9 * 2,
        "the seed corpora are missing ({seeds} files)"
    );
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            for (target, path) in all {
                let data = std::fs::read(&path).unwrap();
                eprintln!("{target}: {}", path.display());
                run_target(&target, &data);
            }
        })
        .unwrap()
        .join()
        .expect("no input panics");
}
