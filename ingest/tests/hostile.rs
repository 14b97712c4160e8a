//! Hostile files against the in-process parsers: each ends in an error naming the limit it
//! broke, on a thread with a normal 2 MiB stack. (Memory and CPU bounds of the whole parse
//! are proven through the isolated parser process, in tests/isolate.rs.)

use std::time::Instant;

use ragway_ingest::hostile;
use ragway_ingest::{parse_limited, ParseError, ParseLimits, ParseOptions, ParsedDocument};

const GIB: u64 = 1 << 30;

/// Parses on a fresh thread with a 2 MiB stack (the default of a spawned Rust thread and of
/// tokio's workers), so unbounded recursion shows as a crash of the test binary.
fn parse_on_small_stack(
    bytes: Vec<u8>,
    name: &'static str,
    limits: ParseLimits,
) -> Result<ParsedDocument, ParseError> {
    let started = Instant::now();
    let size = bytes.len();
    let result = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || parse_limited(&bytes, Some(name), None, &ParseOptions::default(), &limits))
        .unwrap()
        .join()
        .expect("the parser thread did not panic");
    eprintln!(
        "{name}: {size} bytes parsed in {:.2?}: {:?}",
        started.elapsed(),
        result.as_ref().map(|d| d.sections.len())
    );
    result
}

fn limit_error(bytes: Vec<u8>, name: &'static str) -> String {
    parse_on_small_stack(bytes, name, ParseLimits::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn deeply_nested_html_fails_at_the_depth_limit() {
    for tag in ["span", "div"] {
        let bytes = hostile::nested_html(tag, 200_000);
        assert!(bytes.len() > 2_000_000, "{}", bytes.len());
        assert_eq!(
            limit_error(bytes, "deep.html"),
            "HTML nesting depth over 512 (ingest.limits.max_depth)"
        );
    }
}

#[test]
fn html_nesting_under_the_limit_still_renders() {
    // The explicit-stack walk renders what the recursive one did.
    let bytes = hostile::nested_html("div", 400);
    let doc = parse_on_small_stack(bytes, "ok.html", ParseLimits::default()).unwrap();
    assert_eq!(doc.sections[0].text, "deep");
}

#[test]
fn html_formatting_element_bomb_is_stopped_while_the_tree_grows() {
    // 300 <b>s re-opened in each of 20,000 paragraphs would be 6 million elements.
    let bytes = hostile::html_formatting_bomb(300, 20_000);
    assert!(bytes.len() < 200_000, "{}", bytes.len());
    assert_eq!(
        limit_error(bytes, "bomb.html"),
        "HTML elements over 1000000 (ingest.limits.max_elements)"
    );
    // Re-opened elements nest, so a deeper pile breaks the depth limit first.
    assert_eq!(
        limit_error(hostile::html_formatting_bomb(600, 20_000), "bomb.html"),
        "HTML nesting depth over 512 (ingest.limits.max_depth)"
    );
}

#[test]
fn docx_inflation_bomb_fails_at_the_inflated_size_limit() {
    let bytes = hostile::docx_bomb(3 * GIB / 2);
    assert!(bytes.len() < 3_000_000, "{} bytes", bytes.len());
    assert_eq!(
        limit_error(bytes, "bomb.docx"),
        "DOCX inflated size over 134217728 bytes (ingest.limits.max_inflated_bytes)"
    );
}

#[test]
fn docx_bomb_lying_about_its_size_is_counted_as_it_inflates() {
    // Declared as 1 KiB: only the bytes that come out count. With a ratio limit it cannot
    // reach, the byte budget stops it; with the default ratio limit, the ratio does.
    let limits = ParseLimits {
        max_compression_ratio: 1_000_000,
        ..Default::default()
    };
    let bytes = hostile::docx_bomb_declaring(3 * GIB / 2, Some(1024));
    let err = parse_on_small_stack(bytes, "liar.docx", limits).unwrap_err();
    assert_eq!(
        err.to_string(),
        "DOCX inflated size over 134217728 bytes (ingest.limits.max_inflated_bytes)"
    );
    let bytes = hostile::docx_bomb_declaring(64 << 20, Some(1024));
    assert_eq!(
        limit_error(bytes, "liar.docx"),
        "DOCX compression ratio of word/document.xml over 250:1 \
         (ingest.limits.max_compression_ratio)"
    );
}

#[test]
fn docx_with_too_many_entries_is_refused_before_indexing() {
    let bytes = hostile::docx_many_entries(20_000);
    assert_eq!(
        limit_error(bytes, "many.docx"),
        "DOCX archive entries over 10000 (ingest.limits.max_archive_entries)"
    );
}

#[test]
fn pdf_inflation_bomb_fails_at_the_inflated_size_limit() {
    let bytes = hostile::pdf_bomb(3 * GIB / 2);
    assert!(bytes.len() < 3_000_000, "{} bytes", bytes.len());
    assert_eq!(
        limit_error(bytes, "bomb.pdf"),
        "PDF inflated stream size over 134217728 bytes (ingest.limits.max_inflated_bytes)"
    );
}

#[test]
fn small_pdf_stream_under_the_budget_still_reads() {
    // The same construction, small: the bounded inflater gives lopdf the page's text.
    let doc =
        parse_on_small_stack(hostile::pdf_bomb(1 << 20), "ok.pdf", Default::default()).unwrap();
    assert!(
        doc.sections[0].text.starts_with("bomb"),
        "{:.200}",
        doc.sections[0].text
    );
}

#[test]
fn pdf_page_and_object_limits() {
    assert_eq!(
        limit_error(hostile::pdf_many_pages(5_001), "pages.pdf"),
        "PDF pages over 5000 (ingest.limits.max_pages)"
    );
    let limits = ParseLimits {
        max_elements: 1_000,
        ..Default::default()
    };
    let err = parse_on_small_stack(hostile::pdf_many_pages(2_000), "objects.pdf", limits);
    assert_eq!(
        err.unwrap_err().to_string(),
        "PDF objects over 1000 (ingest.limits.max_elements)"
    );
}

#[test]
fn pdf_of_nested_arrays_fails_at_the_depth_limit() {
    // lopdf parses arrays by recursion: 200,000 of them overflowed a 2 MiB stack.
    assert_eq!(
        limit_error(hostile::pdf_nested_arrays(200_000), "deep.pdf"),
        "PDF object nesting depth over 512 (ingest.limits.max_depth)"
    );
}

#[test]
fn deeply_nested_markdown_fails_before_any_markdown_parser() {
    let bytes = hostile::nested_markdown_quotes(50_000);
    assert!(bytes.len() >= 100_000);
    assert_eq!(
        limit_error(bytes, "deep.md"),
        "Markdown nesting depth over 512 (ingest.limits.max_depth)"
    );
    assert_eq!(
        limit_error(hostile::nested_markdown_list(600), "list.md"),
        "Markdown nesting depth over 512 (ingest.limits.max_depth)"
    );
    // A 100-level nested list is a (strange but) real document.
    let doc = parse_on_small_stack(
        hostile::nested_markdown_list(100),
        "ok.md",
        Default::default(),
    );
    assert!(doc.is_ok(), "{:?}", doc.err());
}

#[test]
fn markdown_markers_inside_html_text_count_too() {
    // HTML text is chunked as Markdown, so "> > > …" in a paragraph costs the same.
    let mut html = b"<p>".to_vec();
    html.extend(hostile::nested_markdown_quotes(50_000));
    assert_eq!(
        limit_error(html, "quotes.html"),
        "HTML text nesting depth (read as Markdown) over 512 (ingest.limits.max_depth)"
    );
}

#[test]
fn nested_json_fails_cleanly() {
    // An array where records belong is refused at once, without descending into it.
    assert_eq!(
        limit_error(hostile::nested_json(100_000), "deep.json"),
        "JSON item 0: expected a JSON object with a 'text' field"
    );
    // Nesting inside a skipped field is skipped by serde_json without recursion.
    for name in ["deep.json", "deep.jsonl"] {
        let bytes = hostile::nested_json_in_record(100_000);
        let doc = parse_on_small_stack(bytes, name, ParseLimits::default()).unwrap();
        assert_eq!(doc.sections[0].text, "a");
    }
    // And in the text field, too.
    let deep_text = format!(
        "{{\"text\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(
        limit_error(deep_text.into_bytes(), "deep.json"),
        "JSON object: field 'text' must be a string"
    );
}

#[test]
fn jsonl_record_limit() {
    assert_eq!(
        limit_error(hostile::many_jsonl_records(1_000_001), "many.jsonl"),
        "JSONL records over 1000000 (ingest.limits.max_elements)"
    );
}

#[test]
fn text_size_limit() {
    assert_eq!(
        limit_error(hostile::giant_line(20 << 20), "giant.txt"),
        "plain text over 8388608 bytes (ingest.limits.max_text_bytes)"
    );
    // Just over the limit, so the check after decoding (not the early one) answers.
    assert_eq!(
        limit_error(hostile::giant_line((8 << 20) + 1), "giant.md"),
        "Markdown text over 8388608 bytes (ingest.limits.max_text_bytes)"
    );
}
