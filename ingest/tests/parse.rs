//! Parsing real files of every supported format, built here with the crates that write them.
//! Needs no model files.

use ragway_ingest::fixtures::{pdf, zip, CONTENT_TYPES};
use ragway_ingest::{parse, Format, ParseError, ParseOptions, ParsedDocument};

fn opts() -> ParseOptions {
    ParseOptions::default()
}

fn parse_named(bytes: &[u8], name: &str) -> Result<ParsedDocument, ParseError> {
    parse(bytes, Some(name), None, &opts())
}

const DOCUMENT_XML: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
  <w:body>
    <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Quarterly Report</w:t></w:r></w:p>
    <w:p><w:r><w:t xml:space="preserve">Revenue grew </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>12%</w:t></w:r><w:r><w:t xml:space="preserve"> &amp; costs fell.</w:t></w:r></w:p>
    <w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr><w:r><w:t>Name</w:t><w:tab/><w:t>Value</w:t><w:br/><w:t>Second line</w:t></w:r></w:p>
    <w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Outlook</w:t></w:r></w:p>
    <w:p><w:r><w:t>Steady.</w:t></w:r></w:p>
    <w:p/>
    <w:sectPr/>
  </w:body>
</w:document>"#;

const CORE_XML: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:title>Q3 Report &amp; Outlook</dc:title>
</cp:coreProperties>"#;

#[test]
fn pdf_text_per_page() {
    let bytes = pdf(
        &[
            &["Retrieval augmented generation", "answers from documents."],
            &["The second page talks about vectors."],
        ],
        Some("RAG Notes"),
    );
    let doc = parse(&bytes, Some("notes.pdf"), None, &opts()).unwrap();
    assert_eq!(doc.format, Format::Pdf);
    assert_eq!(doc.title.as_deref(), Some("RAG Notes"));
    assert!(!doc.structured);
    assert_eq!(doc.sections.len(), 2);
    assert_eq!(doc.sections[0].page, Some(1));
    assert_eq!(doc.sections[1].page, Some(2));
    assert_eq!(
        doc.sections[0].text,
        "Retrieval augmented generation\nanswers from documents."
    );
    assert_eq!(doc.sections[1].text, "The second page talks about vectors.");
    // Sniffed without a name or a useful content type.
    let sniffed = parse(&bytes, None, Some("application/octet-stream"), &opts()).unwrap();
    assert_eq!(sniffed, doc);
}

#[test]
fn pdf_page_without_text_is_skipped() {
    let bytes = pdf(&[&[], &["Only page two has text."]], None);
    let doc = parse_named(&bytes, "scan.pdf").unwrap();
    assert_eq!(doc.sections.len(), 1);
    assert_eq!(doc.sections[0].page, Some(2));
}

#[test]
fn pdf_without_text_layer_is_rejected() {
    let bytes = pdf(&[&[], &[]], None);
    let err = parse_named(&bytes, "scan.pdf").unwrap_err();
    assert_eq!(err, ParseError::PdfNoText);
    assert!(
        err.to_string().starts_with("PDF has no extractable text"),
        "{err}"
    );
}

#[test]
fn corrupt_pdf_is_an_error() {
    let err = parse_named(b"%PDF-1.7\nthis is not a pdf", "broken.pdf").unwrap_err();
    assert!(matches!(err, ParseError::Pdf(_)), "{err:?}");
    assert!(err.to_string().starts_with("cannot read PDF"), "{err}");
}

#[test]
fn docx_paragraphs_headings_and_title() {
    let bytes = zip(&[
        ("[Content_Types].xml", CONTENT_TYPES),
        ("word/document.xml", DOCUMENT_XML),
        ("docProps/core.xml", CORE_XML),
    ]);
    let doc = parse_named(&bytes, "report.docx").unwrap();
    assert_eq!(doc.format, Format::Docx);
    assert!(doc.structured);
    assert_eq!(doc.title.as_deref(), Some("Q3 Report & Outlook"));
    assert_eq!(
        doc.sections[0].text,
        "# Quarterly Report\n\nRevenue grew 12% & costs fell.\n\nName\tValue\nSecond line\n\n## Outlook\n\nSteady."
    );
}

#[test]
fn docx_title_falls_back_to_first_heading_and_is_sniffed() {
    let bytes = zip(&[
        ("[Content_Types].xml", CONTENT_TYPES),
        ("word/document.xml", DOCUMENT_XML),
    ]);
    let doc = parse(&bytes, None, None, &opts()).unwrap();
    assert_eq!(doc.format, Format::Docx);
    assert_eq!(doc.title.as_deref(), Some("Quarterly Report"));
}

#[test]
fn zip_without_document_is_not_a_docx() {
    let bytes = zip(&[("hello.txt", "hi")]);
    let err = parse_named(&bytes, "fake.docx").unwrap_err();
    assert!(
        err.to_string().contains("word/document.xml is missing"),
        "{err}"
    );
    // Without the extension a plain zip is not something we can read.
    let err = parse(&bytes, Some("archive.zip"), None, &opts()).unwrap_err();
    assert!(matches!(err, ParseError::UnsupportedType(_)), "{err:?}");
}

const PAGE: &str = r#"<!DOCTYPE html>
<html><head><title>  Vector   Search 101 </title><style>body { color: red; }</style>
<script>var secret = "tracking code";</script></head>
<body>
  <header><a href="/">Home</a> site banner</header>
  <nav><ul><li>Menu item</li></ul></nav>
  <main>
    <h1>Vector search</h1>
    <p>Dense vectors capture
       meaning.</p>
    <h2>Sparse vectors</h2>
    <p>BM25 weights <em>exact</em> terms.</p>
    <ul><li>fast</li><li>explainable</li></ul>
    <noscript>Enable JavaScript</noscript>
    <script>console.log("inline script");</script>
  </main>
  <footer>Copyright footer text</footer>
</body></html>"#;

#[test]
fn html_main_text_as_markdown() {
    let doc = parse_named(PAGE.as_bytes(), "page.html").unwrap();
    assert_eq!(doc.format, Format::Html);
    assert!(doc.structured);
    assert_eq!(doc.title.as_deref(), Some("Vector Search 101"));
    assert_eq!(
        doc.sections[0].text,
        "# Vector search\n\nDense vectors capture meaning.\n\n## Sparse vectors\n\nBM25 weights exact terms.\n\n- fast\n\n- explainable"
    );
    for dropped in [
        "color: red",
        "tracking code",
        "inline script",
        "site banner",
        "Menu item",
        "Enable JavaScript",
        "Copyright",
    ] {
        assert!(!doc.sections[0].text.contains(dropped), "kept {dropped:?}");
    }
}

#[test]
fn html_title_falls_back_to_h1_and_content_type_detects() {
    let html = "<div><h1>Only <b>Heading</b></h1><p>Body</p></div>";
    let doc = parse(html.as_bytes(), None, Some("text/html"), &opts()).unwrap();
    assert_eq!(doc.format, Format::Html);
    assert_eq!(doc.title.as_deref(), Some("Only Heading"));
    assert_eq!(doc.sections[0].text, "# Only Heading\n\nBody");
}

#[test]
fn json_object_and_array() {
    let object = br#"{"title": "One", "text": "Single record body."}"#;
    let doc = parse_named(object, "one.json").unwrap();
    assert_eq!(doc.format, Format::Json);
    assert_eq!(doc.title.as_deref(), Some("One"));
    assert_eq!(doc.sections.len(), 1);
    assert_eq!(doc.sections[0].text, "Single record body.");

    let array = br#"[{"title": "First", "text": "alpha"}, {"text": "beta"}, {"text": "gamma", "title": "x"}]"#;
    let doc = parse_named(array, "many.json").unwrap();
    assert_eq!(doc.title.as_deref(), Some("First"));
    let texts: Vec<&str> = doc.sections.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["alpha", "beta", "gamma"]);
}

#[test]
fn json_missing_field_names_index_and_field() {
    let array = br#"[{"text": "alpha"}, {"body": "beta"}]"#;
    let err = parse_named(array, "many.json").unwrap_err();
    assert_eq!(err.to_string(), "JSON item 1: missing field 'text'");
    let err = parse_named(br#"{"body": "x"}"#, "one.json").unwrap_err();
    assert_eq!(err.to_string(), "JSON object: missing field 'text'");
    let err = parse_named(br#"[1, 2]"#, "nums.json").unwrap_err();
    assert_eq!(
        err.to_string(),
        "JSON item 0: expected a JSON object with a 'text' field"
    );
    let err = parse_named(b"{not json", "bad.json").unwrap_err();
    assert!(err.to_string().starts_with("invalid JSON"), "{err}");
}

#[test]
fn json_custom_fields() {
    let custom = ParseOptions {
        json_text_field: "body".into(),
        json_title_field: "name".into(),
    };
    let doc = parse(
        br#"[{"name": "Doc", "body": "content"}]"#,
        Some("c.json"),
        None,
        &custom,
    )
    .unwrap();
    assert_eq!(doc.title.as_deref(), Some("Doc"));
    assert_eq!(doc.sections[0].text, "content");
    let err = parse(br#"[{"text": "content"}]"#, Some("c.json"), None, &custom).unwrap_err();
    assert_eq!(err.to_string(), "JSON item 0: missing field 'body'");
}

#[test]
fn jsonl_records_and_errors() {
    let lines = "{\"title\": \"Log\", \"text\": \"first\"}\n\n{\"text\": \"second\"}\n";
    let doc = parse_named(lines.as_bytes(), "log.jsonl").unwrap();
    assert_eq!(doc.format, Format::Jsonl);
    assert_eq!(doc.title.as_deref(), Some("Log"));
    let texts: Vec<&str> = doc.sections.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["first", "second"]);

    let missing = "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"txt\": \"c\"}\n";
    let err = parse_named(missing.as_bytes(), "log.jsonl").unwrap_err();
    assert_eq!(err.to_string(), "JSONL line 3: missing field 'text'");

    let broken = "{\"text\": \"a\"}\n{oops\n";
    let err = parse_named(broken.as_bytes(), "log.ndjson").unwrap_err();
    assert!(
        err.to_string().starts_with("JSONL line 2: invalid JSON"),
        "{err}"
    );
}

#[test]
fn markdown_is_kept_with_title() {
    let md = "Intro line\n\n# The Title\n\nBody *emphasis*.\n";
    let doc = parse_named(md.as_bytes(), "readme.md").unwrap();
    assert_eq!(doc.format, Format::Markdown);
    assert!(doc.structured);
    assert_eq!(doc.title.as_deref(), Some("The Title"));
    assert_eq!(doc.sections[0].text, md);
}

#[test]
fn plain_text_decoding() {
    let doc = parse_named("\u{feff}héllo\r\nwörld".as_bytes(), "a.txt").unwrap();
    assert_eq!(doc.format, Format::Text);
    assert!(!doc.structured);
    assert_eq!(doc.title, None);
    assert_eq!(doc.sections[0].text, "héllo\nwörld");

    let err = parse_named(b"caf\xe9 latin-1", "a.txt").unwrap_err();
    assert_eq!(err, ParseError::InvalidUtf8 { offset: 3 });
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
}

#[test]
fn empty_documents_are_rejected() {
    for (bytes, name) in [
        (&b""[..], "empty.txt"),
        (b"  \n\t ", "blank.md"),
        (b"<html><body><script>x()</script></body></html>", "s.html"),
        (br#"[{"text": ""}, {"text": "   "}]"#, "e.json"),
    ] {
        let err = parse_named(bytes, name).unwrap_err();
        assert_eq!(err, ParseError::Empty, "{name}");
        assert_eq!(err.to_string(), "document has no text");
    }
}

#[test]
fn unsupported_types() {
    let err = parse_named(b"MZ\x90\x00\x03\x00", "x.exe").unwrap_err();
    assert_eq!(err, ParseError::UnsupportedType("x.exe".into()));
    assert!(
        err.to_string().starts_with("unsupported file type 'x.exe'"),
        "{err}"
    );
    let err = parse(b"\x00\x01\x02", None, Some("image/png"), &opts()).unwrap_err();
    assert_eq!(err, ParseError::UnsupportedType("image/png".into()));
}

#[test]
fn format_names() {
    assert_eq!(Format::from_name("Markdown"), Some(Format::Markdown));
    assert_eq!(Format::from_name(".MD"), Some(Format::Markdown));
    assert_eq!(Format::from_name("ndjson"), Some(Format::Jsonl));
    assert_eq!(Format::from_name("htm"), Some(Format::Html));
    assert_eq!(Format::from_name("exe"), None);
    for format in Format::ALL {
        assert_eq!(Format::from_name(format.as_str()), Some(format));
    }
}
