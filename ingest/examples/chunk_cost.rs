//! Measures chunking cost of pathological texts (nested blockquotes at and under the depth
//! limit, one long line without spaces, many tiny words). Prints one line per case; with
//! `--json`, one JSON object per line. `CASES=substring` runs only the matching cases.
//! Usage: cargo run -p ragway-ingest --example chunk_cost -- DATA_DIR [--json]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ragway_ingest::{hostile, load_tokenizer, ChunkSettings, Chunker, EmbedderConfig};
use ragway_ingest::{Format, ParsedDocument, Section};

fn main() {
    let mut args = std::env::args().skip(1);
    let data = PathBuf::from(args.next().expect("usage: chunk_cost DATA_DIR [--json]"));
    let json = args.any(|a| a == "--json");
    let model_dir = EmbedderConfig::from_data_dir(&data).model_dir;
    let tokenizer = Arc::new(load_tokenizer(&model_dir.join("tokenizer.json")).unwrap());
    let chunker = Chunker::new(tokenizer);
    let only: Option<String> = std::env::var("CASES").ok();
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        (
            "quotes_depth_512",
            hostile::nested_markdown_quotes(512),
            true,
        ),
        (
            "quotes_depth_50000",
            hostile::nested_markdown_quotes(50_000),
            true,
        ),
        (
            "quotes_512_x_200_lines",
            hostile::nested_markdown_quotes(512).repeat(200),
            true,
        ),
        ("list_depth_64", hostile::nested_markdown_list(64), true),
        ("list_depth_256", hostile::nested_markdown_list(256), true),
        ("list_depth_512", hostile::nested_markdown_list(512), true),
        (
            "line_10mb_no_spaces_text",
            hostile::giant_line(10 << 20),
            false,
        ),
        (
            "line_10mb_no_spaces_markdown",
            hostile::giant_line(10 << 20),
            true,
        ),
        ("words_1mb_text", b"a ".repeat(1 << 19), false),
        (
            "prose_1mb_text",
            b"Glaciers carve U-shaped valleys over millennia, and moraines mark where they ended. "
                .repeat(12_000),
            false,
        ),
        (
            "prose_lines_1mb_markdown",
            b"Glaciers carve U-shaped valleys over millennia.\nMoraines mark where they ended.\n\n"
                .repeat(13_000),
            true,
        ),
    ];
    for (name, bytes, structured) in cases {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let doc = ParsedDocument {
            title: None,
            format: if structured {
                Format::Markdown
            } else {
                Format::Text
            },
            structured,
            sections: vec![Section::new(String::from_utf8(bytes).unwrap())],
        };
        let started = Instant::now();
        let chunks = chunker.chunk(&doc, &ChunkSettings::default()).unwrap();
        let secs = started.elapsed().as_secs_f64();
        let size = doc.sections[0].text.len();
        if json {
            println!(
                r#"{{"case":"{name}","bytes":{size},"chunks":{},"secs":{secs:.3}}}"#,
                chunks.len()
            );
        } else {
            println!(
                "{name:32} {size:>10} bytes {:>7} chunks {secs:>8.3} s",
                chunks.len()
            );
        }
    }
}
