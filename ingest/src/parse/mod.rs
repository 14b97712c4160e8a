//! Turns an uploaded file's bytes into plain or Markdown text sections.
//! Format detection lives in `detect`; each format has a small module of its own.

mod detect;
mod docx;
mod html;
mod json;
mod limits;
pub mod markdown;
mod pdf;
mod text;

use serde::{Deserialize, Serialize};

pub use detect::detect_format;
pub use limits::{Limit, ParseLimits};

/// The formats ragway can ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Markdown,
    Html,
    Pdf,
    Docx,
    Json,
    Jsonl,
}

impl Format {
    /// Every format, for listing what is supported.
    pub const ALL: [Format; 7] = [
        Format::Text,
        Format::Markdown,
        Format::Html,
        Format::Pdf,
        Format::Docx,
        Format::Json,
        Format::Jsonl,
    ];

    /// Parses a format name or a file extension, case-insensitively: `"markdown"`, `"md"`,
    /// `".md"`, `"txt"`, `"htm"`, `"ndjson"`, ...
    pub fn from_name(name: &str) -> Option<Format> {
        let name = name.trim().trim_start_matches('.').to_ascii_lowercase();
        Some(match name.as_str() {
            "text" | "txt" | "plain" | "log" | "csv" | "tsv" => Format::Text,
            "markdown" | "md" | "mdown" | "mkd" => Format::Markdown,
            "html" | "htm" | "xhtml" => Format::Html,
            "pdf" => Format::Pdf,
            "docx" => Format::Docx,
            "json" => Format::Json,
            "jsonl" | "ndjson" | "jsonlines" => Format::Jsonl,
            _ => return None,
        })
    }

    /// The canonical lowercase name (what `from_name` and serde accept).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How JSON and JSONL records map to text. The resource limits are a separate argument
/// ([`ParseLimits`]), so this stays the per-knowledge-base part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParseOptions {
    /// Field of each record holding the text to index (a string).
    pub json_text_field: String,
    /// Field of the first record holding the document's title (optional in the data).
    pub json_title_field: String,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            json_text_field: "text".into(),
            json_title_field: "title".into(),
        }
    }
}

/// A parsed document: text sections in reading order, never empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParsedDocument {
    pub title: Option<String>,
    pub format: Format,
    /// The text is Markdown (Markdown, HTML and DOCX input), so Markdown-aware chunking
    /// can split at headings.
    pub structured: bool,
    pub sections: Vec<Section>,
}

/// What joins consecutive sections in [`ParsedDocument::text`].
pub const SECTION_SEPARATOR: &str = "\n\n";

impl ParsedDocument {
    /// The document's whole text: its sections joined by [`SECTION_SEPARATOR`]. Chunk
    /// offsets ([`crate::chunk::Chunk::char_start`]) are character offsets into this text.
    pub fn text(&self) -> String {
        let texts: Vec<&str> = self.sections.iter().map(|s| s.text.as_str()).collect();
        texts.join(SECTION_SEPARATOR)
    }

    /// Each section's `[start, end)` character span in [`ParsedDocument::text`].
    pub fn section_spans(&self) -> Vec<(usize, usize)> {
        let sep = SECTION_SEPARATOR.chars().count();
        let mut start = 0;
        self.sections
            .iter()
            .map(|s| {
                let end = start + s.text.chars().count();
                let span = (start, end);
                start = end + sep;
                span
            })
            .collect()
    }
}

/// A run of text: a PDF page, a JSON record, or the whole text of other formats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    pub text: String,
    /// 1-based page number, for PDFs.
    pub page: Option<u32>,
}

impl Section {
    /// A section without a page number.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            page: None,
        }
    }
}

/// Why a file could not be parsed; every message tells the user what to change. Every
/// variant is permanent: the same bytes fail the same way again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ParseError {
    #[error(
        "unsupported file type '{0}'; supported: .txt, .md, .html, .pdf, .docx, .json, .jsonl"
    )]
    UnsupportedType(String),
    #[error(
        "the file is not valid UTF-8 text (invalid byte at offset {offset}); save it as UTF-8"
    )]
    InvalidUtf8 { offset: usize },
    #[error("the file is not valid UTF-16 text; save it as UTF-8")]
    InvalidUtf16,
    #[error("cannot read PDF: {0}")]
    Pdf(String),
    #[error("PDF has no extractable text (a scanned image?); run OCR on it first")]
    PdfNoText,
    #[error("cannot read DOCX: {0}")]
    Docx(String),
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("JSONL line {line}: invalid JSON: {message}")]
    JsonlLine { line: usize, message: String },
    #[error("{location}: missing field '{field}'")]
    MissingField { location: String, field: String },
    #[error("{location}: field '{field}' must be a string")]
    FieldNotString { location: String, field: String },
    #[error("{location}: expected a JSON object with a '{field}' field")]
    NotAnObject { location: String, field: String },
    #[error("document has no text")]
    Empty,
    /// A resource limit was hit: `what` names the quantity ("HTML nesting depth"), `max` is
    /// the limit's value and `limit` its config key.
    #[error("{what} over {max}{unit} ({limit})", unit = limit.unit())]
    Limit {
        what: String,
        max: u64,
        limit: Limit,
    },
    /// The isolated parser process ended without an answer: it crashed, ran out of memory or
    /// time, or wrote something that is not a response (see `isolate`).
    #[error("{0}")]
    Parser(String),
}

impl ParseError {
    /// A [`ParseError::Limit`] for `limit` as set in `limits`.
    pub fn limit(what: impl Into<String>, limit: Limit, limits: &ParseLimits) -> Self {
        ParseError::Limit {
            what: what.into(),
            max: limit.value(limits),
            limit,
        }
    }

    /// The limit this error reports, if it is one.
    pub fn broken_limit(&self) -> Option<Limit> {
        match self {
            ParseError::Limit { limit, .. } => Some(*limit),
            _ => None,
        }
    }
}

/// Parses `bytes` into text sections under the default [`ParseLimits`].
///
/// The format comes from `file_name`'s extension, else from `content_type`, else from the
/// bytes themselves (see [`detect_format`]). Sections left empty after parsing are dropped;
/// a document with no text at all is [`ParseError::Empty`].
pub fn parse(
    bytes: &[u8],
    file_name: Option<&str>,
    content_type: Option<&str>,
    opts: &ParseOptions,
) -> Result<ParsedDocument, ParseError> {
    parse_limited(
        bytes,
        file_name,
        content_type,
        opts,
        &ParseLimits::default(),
    )
}

/// [`parse`] under the given limits: a document past one fails with [`ParseError::Limit`]
/// naming it. No parser recurses on nesting the input controls, so no input overflows the
/// stack; what the parsers cannot bound themselves (see `pdf`) is for [`crate::isolate`].
pub fn parse_limited(
    bytes: &[u8],
    file_name: Option<&str>,
    content_type: Option<&str>,
    opts: &ParseOptions,
    limits: &ParseLimits,
) -> Result<ParsedDocument, ParseError> {
    let format = detect_format(bytes, file_name, content_type)?;
    parse_as(bytes, format, opts, limits)
}

/// Parses `bytes` as the given format, skipping detection.
pub fn parse_as(
    bytes: &[u8],
    format: Format,
    opts: &ParseOptions,
    limits: &ParseLimits,
) -> Result<ParsedDocument, ParseError> {
    let mut doc = match format {
        Format::Text => text::parse_text(bytes, limits)?,
        Format::Markdown => text::parse_markdown(bytes, limits)?,
        Format::Html => html::parse_html(bytes, limits)?,
        Format::Pdf => pdf::parse_pdf(bytes, limits)?,
        Format::Docx => docx::parse_docx(bytes, limits)?,
        Format::Json => json::parse_json(bytes, opts, limits)?,
        Format::Jsonl => json::parse_jsonl(bytes, opts, limits)?,
    };
    let text_bytes: usize = doc.sections.iter().map(|s| s.text.len()).sum();
    if text_bytes > limits.max_text_bytes {
        return Err(text_limit(format, limits));
    }
    if doc.structured {
        // Structured text goes to the Markdown splitter, whose cost grows with the square of
        // block nesting (`> > > …`); HTML and DOCX text can carry such markers too.
        for section in &doc.sections {
            if markdown::depth_exceeds(&section.text, limits.max_depth) {
                let what = match format {
                    Format::Markdown => "Markdown nesting depth".to_string(),
                    _ => format!("{} text nesting depth (read as Markdown)", format.label()),
                };
                return Err(ParseError::limit(what, Limit::MaxDepth, limits));
            }
        }
    }
    doc.sections.retain(|s| !s.text.trim().is_empty());
    if doc.sections.is_empty() {
        return Err(ParseError::Empty);
    }
    doc.title = doc
        .title
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty());
    Ok(doc)
}

/// The error for a parser that ran out of memory: under the isolated parser's address-space
/// limit, an allocation that fails gracefully (`try_reserve`) says so like a killed child.
pub(crate) fn out_of_memory(limits: &ParseLimits) -> ParseError {
    ParseError::Parser(format!(
        "the parser ran out of memory (limit {} MiB, {})",
        limits.parser_memory_mb,
        Limit::ParserMemoryMb.key()
    ))
}

/// The error for extracted text past `max_text_bytes`.
pub(crate) fn text_limit(format: Format, limits: &ParseLimits) -> ParseError {
    ParseError::limit(
        format!("{} text", format.label()),
        Limit::MaxTextBytes,
        limits,
    )
}

impl Format {
    /// How messages name the format: "HTML", "Markdown", "PDF", ...
    pub fn label(self) -> &'static str {
        match self {
            Format::Text => "plain",
            Format::Markdown => "Markdown",
            Format::Html => "HTML",
            Format::Pdf => "PDF",
            Format::Docx => "DOCX",
            Format::Json => "JSON",
            Format::Jsonl => "JSONL",
        }
    }
}
