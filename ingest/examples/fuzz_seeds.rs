//! Writes the fuzz seed corpora (`fuzz/corpus/<target>/`): small real-looking files of every
//! format plus small versions of the hostile cases, so fuzzing starts from valid structure.
//! Usage: cargo run -p ragway-ingest --no-default-features --example fuzz_seeds -- fuzz/corpus
use std::path::Path;

use ragway_ingest::isolate::{encode_request, encode_response, RequestHeader};
use ragway_ingest::{fixtures, hostile, ParseLimits, ParseOptions};

fn main() {
    let root = std::env::args()
        .nth(1)
        .expect("usage: fuzz_seeds CORPUS_DIR");
    let root = Path::new(&root);
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };

    let html = br#"<!doctype html><html><head><title>Glaciers</title><style>p{}</style></head>
<body><nav>menu</nav><h1>Glaciers</h1><p>Glaciers carve <b>U-shaped</b> valleys.<br>Slowly.</p>
<ul><li>ice</li><li>rock<ol><li>till</li></ol></li></ul><table><tr><th>a</th><td>1</td></tr></table>
<pre>code
  block</pre><blockquote>quoted</blockquote><script>var x = "<p>";</script></body></html>"#;
    write("html", "page.html", html);
    write("html", "nested.html", &hostile::nested_html("div", 64));
    write(
        "html",
        "formatting.html",
        &hostile::html_formatting_bomb(8, 8),
    );
    write(
        "html",
        "broken.html",
        b"<table><tr><td><p><b><i>x</table></i>y<template><p>z",
    );

    let pdf = fixtures::pdf(
        &[&["Glaciers carve valleys.", "(Parens) and \\ slashes"], &[]],
        Some("Notes"),
    );
    write("pdf", "two_pages.pdf", &pdf);
    write("pdf", "flate.pdf", &hostile::pdf_bomb(1));
    write("pdf", "nested.pdf", &hostile::pdf_nested_arrays(16));
    write("pdf", "pages.pdf", &hostile::pdf_many_pages(3));

    write(
        "docx",
        "memo.docx",
        &fixtures::docx("Quarterly memo", &["Revenue grew.", "Costs & <fell>."]),
    );
    write("docx", "bomb.docx", &hostile::docx_bomb_declaring(1, None));
    write("docx", "entries.docx", &hostile::docx_many_entries(4));

    write(
        "json",
        "array.json",
        br#"[{"title": "T", "text": "a"}, {"text": "b", "x": [1, {"y": null}]}]"#,
    );
    write(
        "json",
        "object.json",
        br#"{"text": "only \u00e9 one", "title": 5}"#,
    );
    write("json", "nested.json", &hostile::nested_json_in_record(16));
    write(
        "jsonl",
        "lines.jsonl",
        b"{\"text\": \"a\"}\n\n{\"text\": \"b\", \"title\": \"t\"}\n",
    );
    write(
        "jsonl",
        "bad.jsonl",
        b"{\"text\": \"a\"}\n[1]\n{\"text\": 1}\n",
    );

    write("markdown", "doc.md", b"# Title\n\nPara *em* **b**.\n\n- a\n  - b\n    1. c\n\n> quote\n> > deeper\n\n```\n> not a quote\n```\n");
    write(
        "markdown",
        "quotes.md",
        &hostile::nested_markdown_quotes(32),
    );
    write("markdown", "list.md", &hostile::nested_markdown_list(16));
    write("markdown", "utf16.md", b"\xFF\xFE#\0 \0h\0i\0");

    write("text", "plain.txt", b"Hello,\r\nworld.\rOld Mac line.\n");
    write("text", "bom.txt", b"\xEF\xBB\xBFwith a BOM");
    write("text", "utf16be.txt", b"\xFE\xFF\0h\0i");
    write("text", "invalid.txt", b"abc\xE9def");

    write(
        "detect",
        "named_pdf",
        &[b"notes.pdf\napplication/octet-stream\n".as_slice(), &pdf].concat(),
    );
    write("detect", "sniff_json", b"\n\n [{\"text\": \"a\"}]");
    write(
        "detect",
        "sniff_docx",
        &[b"\n\n".as_slice(), &fixtures::docx("T", &["p"])].concat(),
    );
    write(
        "detect",
        "html_type",
        b"page\ntext/html; charset=utf-8\n<!doctype html><p>x",
    );

    let header = RequestHeader {
        options: ParseOptions::default(),
        limits: ParseLimits::default(),
        file_name: Some("a.md".into()),
        content_type: Some("text/markdown".into()),
    };
    write(
        "isolate_protocol",
        "request",
        &encode_request(&header, b"# hi\n\nthere"),
    );
    let parsed = ragway_ingest::parse(
        b"# hi\n\nthere",
        Some("a.md"),
        None,
        &ParseOptions::default(),
    );
    write("isolate_protocol", "response_ok", &encode_response(&parsed));
    let limit = ragway_ingest::parse_limited(
        &hostile::nested_markdown_quotes(600),
        Some("q.md"),
        None,
        &ParseOptions::default(),
        &ParseLimits::default(),
    );
    write("isolate_protocol", "response_err", &encode_response(&limit));
}
