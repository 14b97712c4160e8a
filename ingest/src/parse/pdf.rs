//! PDF text extraction with lopdf, one section per page so chunks can cite page numbers.
//! Scanned PDFs have no text layer; they are rejected rather than indexed as empty.

use std::panic::{catch_unwind, AssertUnwindSafe};

use lopdf::{Document, Object};

use super::{Format, ParseError, ParsedDocument, Section};

pub(crate) fn parse_pdf(bytes: &[u8]) -> Result<ParsedDocument, ParseError> {
    // lopdf panics on some malformed files; an upload must not take a worker down with it.
    catch_unwind(AssertUnwindSafe(|| extract(bytes)))
        .unwrap_or_else(|_| Err(ParseError::Pdf("the file is malformed".into())))
}

fn extract(bytes: &[u8]) -> Result<ParsedDocument, ParseError> {
    let doc = Document::load_mem(bytes).map_err(|e| ParseError::Pdf(e.to_string()))?;
    if doc.is_encrypted() && doc.encryption_state.is_none() {
        return Err(ParseError::Pdf(
            "it is password-protected; upload an unencrypted copy".into(),
        ));
    }
    let mut sections = Vec::new();
    for page in doc.get_pages().into_keys() {
        let mut text = String::new();
        for fragment in doc.extract_text_chunks(&[page]) {
            match fragment {
                Ok(fragment) => text.push_str(&fragment),
                // One undecodable font should not lose the rest of the page.
                Err(e) => tracing::debug!(page, error = %e, "skipping PDF text fragment"),
            }
        }
        let text = tidy(&text);
        if !text.is_empty() {
            sections.push(Section {
                text,
                page: Some(page),
            });
        }
    }
    if sections.is_empty() {
        return Err(ParseError::PdfNoText);
    }
    Ok(ParsedDocument {
        title: info_title(&doc),
        format: Format::Pdf,
        structured: false,
        sections,
    })
}

/// Trims each line and collapses runs of blank lines, which text layers are full of.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = false;
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        out.push_str(line);
        blank = false;
    }
    out
}

/// `/Title` of the document information dictionary.
fn info_title(doc: &Document) -> Option<String> {
    let info = match doc.trailer.get(b"Info").ok()? {
        Object::Reference(id) => doc.get_dictionary(*id).ok()?,
        Object::Dictionary(dict) => dict,
        _ => return None,
    };
    match info.get(b"Title").ok()? {
        Object::String(bytes, _) => Some(decode_text_string(bytes)),
        _ => None,
    }
}

/// PDF text strings are UTF-16BE with a BOM, or PDFDocEncoding (Latin-1 for our purposes).
fn decode_text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        let units = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]));
        return char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
    }
    bytes.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_pdf_is_an_error() {
        let err = parse_pdf(b"%PDF-1.4 garbage").unwrap_err();
        assert!(matches!(err, ParseError::Pdf(_)), "{err:?}");
    }

    #[test]
    fn tidy_collapses_blank_lines() {
        assert_eq!(tidy("  a \n\n\n b\nc\n\n"), "a\n\nb\nc");
    }

    #[test]
    fn utf16_title() {
        assert_eq!(decode_text_string(b"\xFE\xFF\0H\0i"), "Hi");
    }
}
