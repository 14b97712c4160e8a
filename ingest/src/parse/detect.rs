//! Decides a file's format from its name, its declared content type, then its bytes.
//! Browsers and curl often send `application/octet-stream`, so the bytes get the last word.

use super::{Format, ParseError};

/// Detects the format: a known extension wins; else a known content type; else the bytes
/// are sniffed (`%PDF-`, a zip holding `word/document.xml`, JSON starting with `{`/`[`,
/// an HTML doctype). A file without an extension that is none of those but looks like text
/// is plain text; anything else is [`ParseError::UnsupportedType`].
pub fn detect_format(
    bytes: &[u8],
    file_name: Option<&str>,
    content_type: Option<&str>,
) -> Result<Format, ParseError> {
    let extension = file_name.and_then(extension);
    if let Some(format) = extension.and_then(Format::from_name) {
        return Ok(format);
    }
    if let Some(format) = content_type.and_then(from_content_type) {
        return Ok(format);
    }
    if let Some(format) = sniff(bytes) {
        return Ok(format);
    }
    if extension.is_none() && looks_like_text(bytes) {
        return Ok(Format::Text);
    }
    let what = file_name
        .or(content_type)
        .unwrap_or("binary content")
        .to_string();
    Err(ParseError::UnsupportedType(what))
}

fn extension(file_name: &str) -> Option<&str> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => Some(ext),
        _ => None,
    }
}

fn from_content_type(content_type: &str) -> Option<Format> {
    let mime = content_type.split(';').next()?.trim().to_ascii_lowercase();
    Some(match mime.as_str() {
        "text/plain" => Format::Text,
        "text/markdown" | "text/x-markdown" => Format::Markdown,
        "text/html" | "application/xhtml+xml" => Format::Html,
        "application/pdf" => Format::Pdf,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => Format::Docx,
        "application/json" => Format::Json,
        "application/jsonl"
        | "application/x-ndjson"
        | "application/x-jsonlines"
        | "application/jsonlines" => Format::Jsonl,
        _ => return None,
    })
}

fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(b"%PDF-") {
        return Some(Format::Pdf);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        // Entry names are stored in plain bytes; looking for the name costs one pass and no
        // allocation, where indexing the archive would read a hostile central directory whole.
        let name = b"word/document.xml";
        let is_docx = bytes.windows(name.len()).any(|w| w == name);
        return is_docx.then_some(Format::Docx);
    }
    let head = &bytes[..bytes.len().min(4096)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    if head.starts_with(b"{") || head.starts_with(b"[") {
        // One value spanning the file is JSON; one value per line is JSONL. Validated without
        // building the value, so a huge array costs no memory here.
        if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
            return Some(Format::Json);
        }
        let first_line = bytes
            .split(|&b| b == b'\n')
            .find(|l| !l.trim_ascii().is_empty())?;
        return serde_json::from_slice::<serde::de::IgnoredAny>(first_line)
            .is_ok()
            .then_some(Format::Jsonl);
    }
    let lower = String::from_utf8_lossy(&head[..head.len().min(64)]).to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        return Some(Format::Html);
    }
    None
}

/// No NUL byte in the first 8 KiB: binary formats almost always have one, text never does.
fn looks_like_text(bytes: &[u8]) -> bool {
    !bytes[..bytes.len().min(8192)].contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_wins_over_content_type() {
        let f = detect_format(b"# hi", Some("notes.MD"), Some("text/plain")).unwrap();
        assert_eq!(f, Format::Markdown);
    }

    #[test]
    fn content_type_with_parameters() {
        let f = detect_format(b"x", None, Some("text/html; charset=utf-8")).unwrap();
        assert_eq!(f, Format::Html);
    }

    #[test]
    fn sniffs_json_and_jsonl() {
        let json = detect_format(b" [{\"text\": \"a\"}]", None, None).unwrap();
        assert_eq!(json, Format::Json);
        let jsonl = detect_format(b"{\"text\": \"a\"}\n{\"text\": \"b\"}\n", None, None).unwrap();
        assert_eq!(jsonl, Format::Jsonl);
    }

    #[test]
    fn sniffs_pdf_even_without_name() {
        let f = detect_format(b"%PDF-1.5\n...", None, Some("application/octet-stream"));
        assert_eq!(f.unwrap(), Format::Pdf);
    }

    #[test]
    fn unknown_binary_is_unsupported() {
        let err = detect_format(b"MZ\x90\x00\x03", Some("x.exe"), None).unwrap_err();
        assert_eq!(
            err.to_string().split(';').next().unwrap(),
            "unsupported file type 'x.exe'"
        );
    }

    #[test]
    fn extensionless_text_is_text() {
        assert_eq!(
            detect_format(b"hello", Some("README"), None).unwrap(),
            Format::Text
        );
        assert!(detect_format(b"he\0llo", None, None).is_err());
    }
}
