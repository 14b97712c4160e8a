//! Plain text and Markdown, and the byte-to-string decoding every text format shares.
//! Decoding is strict: guessing a legacy encoding would index mojibake without telling anyone.

use super::{Format, ParseError, ParseLimits, ParsedDocument, Section};

/// Decodes text bytes: UTF-8 (a leading BOM is dropped), or UTF-16 when it starts with a
/// UTF-16 BOM (as Windows editors write it). Anything else that is not valid UTF-8 is an
/// error naming the offset of the first bad byte, never a lossy conversion.
pub(crate) fn decode(bytes: &[u8]) -> Result<String, ParseError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return utf8(rest, 3);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, u16::from_be_bytes);
    }
    utf8(bytes, 0)
}

fn utf8(bytes: &[u8], offset: usize) -> Result<String, ParseError> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(normalize_newlines(s)),
        Err(e) => Err(ParseError::InvalidUtf8 {
            offset: offset + e.valid_up_to(),
        }),
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, ParseError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(ParseError::InvalidUtf16);
    }
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    let s: String = char::decode_utf16(units)
        .collect::<Result<_, _>>()
        .map_err(|_| ParseError::InvalidUtf16)?;
    Ok(normalize_newlines(&s))
}

/// CRLF and lone CR become LF, so chunk offsets and the splitter see one kind of line break.
fn normalize_newlines(s: &str) -> String {
    if s.contains('\r') {
        s.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        s.to_string()
    }
}

pub(crate) fn parse_text(bytes: &[u8], limits: &ParseLimits) -> Result<ParsedDocument, ParseError> {
    // Checked before decoding: UTF-8 text is never shorter than its bytes (UTF-16 may grow
    // by half, which the check after parsing catches).
    if bytes.len() > limits.max_text_bytes.saturating_mul(2) {
        return Err(super::text_limit(Format::Text, limits));
    }
    Ok(ParsedDocument {
        title: None,
        format: Format::Text,
        structured: false,
        sections: vec![Section::new(decode(bytes)?)],
    })
}

/// Markdown is kept as written: the Markdown splitter uses its structure.
pub(crate) fn parse_markdown(
    bytes: &[u8],
    limits: &ParseLimits,
) -> Result<ParsedDocument, ParseError> {
    if bytes.len() > limits.max_text_bytes.saturating_mul(2) {
        return Err(super::text_limit(Format::Markdown, limits));
    }
    let text = decode(bytes)?;
    Ok(ParsedDocument {
        title: first_h1(&text),
        format: Format::Markdown,
        structured: true,
        sections: vec![Section::new(text)],
    })
}

/// The first level-1 ATX heading (`# Title`) outside fenced code blocks.
fn first_h1(text: &str) -> Option<String> {
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        for marker in ["```", "~~~"] {
            if trimmed.starts_with(marker) {
                fence = match fence {
                    Some(open) if open == marker => None,
                    None => Some(marker),
                    other => other,
                };
            }
        }
        if fence.is_some() || line.len() - trimmed.len() > 3 {
            continue;
        }
        if let Some(title) = trimmed.strip_prefix("# ") {
            let title = title.trim().trim_end_matches('#').trim();
            if !title.is_empty() {
                return Some(title.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_and_crlf() {
        assert_eq!(decode(b"\xEF\xBB\xBFa\r\nb\rc").unwrap(), "a\nb\nc");
    }

    #[test]
    fn utf16_with_bom() {
        assert_eq!(decode(b"\xFF\xFEh\0i\0").unwrap(), "hi");
        assert_eq!(decode(b"\xFE\xFF\0h\0i").unwrap(), "hi");
    }

    #[test]
    fn invalid_utf8_names_offset() {
        let err = decode(b"abc\xE9def").unwrap_err();
        assert_eq!(err, ParseError::InvalidUtf8 { offset: 3 });
        assert!(err.to_string().contains("offset 3"));
    }

    #[test]
    fn title_skips_code_fences_and_h2() {
        let md = "intro\n```\n# not a title\n```\n## Sub\n# Real Title #\n";
        assert_eq!(first_h1(md).as_deref(), Some("Real Title"));
    }
}
