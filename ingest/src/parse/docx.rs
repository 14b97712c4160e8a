//! DOCX (Office Open XML) to Markdown-flavoured text: paragraphs from `word/document.xml`,
//! heading styles as `#` headings so the Markdown splitter can cut at them.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{Format, Limit, ParseError, ParseLimits, ParsedDocument, Section};

pub(crate) fn parse_docx(bytes: &[u8], limits: &ParseLimits) -> Result<ParsedDocument, ParseError> {
    // The central directory is read whole by `ZipArchive::new`; its declared entry count is
    // checked first so a file of a million empty entries is not even indexed.
    if declared_entries(bytes).is_some_and(|n| n > limits.max_archive_entries) {
        return Err(entries_limit(limits));
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ParseError::Docx(format!("not a zip archive ({e})")))?;
    if archive.len() > limits.max_archive_entries {
        return Err(entries_limit(limits));
    }
    let mut budget = Budget {
        left: limits.max_inflated_bytes,
        limits,
    };
    let document = budget
        .read_part(&mut archive, "word/document.xml")?
        .ok_or_else(|| {
            ParseError::Docx("word/document.xml is missing (not a Word file?)".into())
        })?;
    let styles = match budget.read_part(&mut archive, "word/styles.xml")? {
        Some(xml) => heading_styles(&xml),
        None => HashMap::new(),
    };
    let core_title = budget
        .read_part(&mut archive, "docProps/core.xml")?
        .and_then(|xml| dc_title(&xml));

    let paragraphs = paragraphs(&document, &styles, limits)?;
    let first_heading = paragraphs
        .iter()
        .find(|p| p.level == Some(1))
        .map(|p| p.text.clone());
    let text = paragraphs
        .into_iter()
        .map(|p| match p.level {
            Some(level) => format!("{} {}", "#".repeat(level), p.text),
            None => p.text,
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    Ok(ParsedDocument {
        title: core_title.or(first_heading),
        format: Format::Docx,
        structured: true,
        sections: vec![Section::new(text)],
    })
}

fn entries_limit(limits: &ParseLimits) -> ParseError {
    ParseError::limit("DOCX archive entries", Limit::MaxArchiveEntries, limits)
}

/// The entry count of the zip's end-of-central-directory record, when there is one (zip64
/// archives say 0xFFFF here and are counted after indexing instead).
fn declared_entries(bytes: &[u8]) -> Option<usize> {
    // The record is 22 bytes plus a comment of at most 64 KiB, at the very end.
    let tail_start = bytes.len().saturating_sub(22 + 65_535);
    let tail = &bytes[tail_start..];
    let at = tail.windows(4).rposition(|w| w == b"PK\x05\x06")?;
    let record = tail.get(at..at + 22)?;
    let total = u16::from_le_bytes([record[10], record[11]]);
    (total != u16::MAX).then_some(usize::from(total))
}

/// Inflated bytes left for the rest of the document: every part read draws on one budget.
struct Budget<'l> {
    left: u64,
    limits: &'l ParseLimits,
}

impl Budget<'_> {
    /// Reads a part as UTF-8, or `None` when the archive has no such entry. Inflates through
    /// a `take(left + 1)`: the sizes an entry declares are checked for an early answer, but
    /// only the bytes that really came out count.
    fn read_part(
        &mut self,
        archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
        name: &str,
    ) -> Result<Option<String>, ParseError> {
        let file = match archive.by_name(name) {
            Ok(file) => file,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(ParseError::Docx(format!("cannot open {name}: {e}"))),
        };
        let compressed = file.compressed_size().max(1);
        let ratio_limit = self.limits.max_compression_ratio;
        if file.size() > self.left {
            return Err(self.inflated_limit());
        }
        if file.size() / compressed > ratio_limit {
            return Err(self.ratio_limit(name));
        }
        // Reading stops one byte past whichever limit comes first, so memory stays within
        // the smaller of the budget and `compressed × ratio` whatever the entry declares.
        let by_ratio = compressed.saturating_mul(ratio_limit);
        let mut xml = Vec::new();
        file.take(self.left.min(by_ratio).saturating_add(1))
            .read_to_end(&mut xml)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::OutOfMemory => super::out_of_memory(self.limits),
                _ => ParseError::Docx(format!("cannot read {name}: {e}")),
            })?;
        let inflated = xml.len() as u64;
        if inflated > self.left {
            return Err(self.inflated_limit());
        }
        if inflated > by_ratio {
            return Err(self.ratio_limit(name));
        }
        self.left -= inflated;
        String::from_utf8(xml)
            .map(Some)
            .map_err(|e| ParseError::Docx(format!("{name} is not UTF-8 ({e})")))
    }

    fn inflated_limit(&self) -> ParseError {
        ParseError::limit("DOCX inflated size", Limit::MaxInflatedBytes, self.limits)
    }

    fn ratio_limit(&self, name: &str) -> ParseError {
        ParseError::limit(
            format!("DOCX compression ratio of {name}"),
            Limit::MaxCompressionRatio,
            self.limits,
        )
    }
}

struct Paragraph {
    text: String,
    /// Markdown heading level (1–6), from the paragraph's style.
    level: Option<usize>,
}

/// Walks `w:p` paragraphs: text from `w:t`, tabs from `w:tab`, line breaks from `w:br`/`w:cr`,
/// the style from `w:pPr/w:pStyle`. Paragraphs left empty are dropped.
///
/// Counts elements, nesting depth and text bytes against `limits` as it goes.
fn paragraphs(
    xml: &str,
    styles: &HashMap<String, usize>,
    limits: &ParseLimits,
) -> Result<Vec<Paragraph>, ParseError> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut elements = 0usize;
    let mut text_bytes = 0usize;
    let mut text = String::new();
    let mut level = None;
    let mut in_text = false;
    // `w:tab` inside paragraph properties is a tab stop definition, not a tab character.
    let mut in_props = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| ParseError::Docx(format!("word/document.xml is not valid XML: {e}")))?;
        match &event {
            Event::Start(_) => {
                depth += 1;
                elements += 1;
            }
            Event::Empty(_) => elements += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > limits.max_depth {
            return Err(ParseError::limit(
                "DOCX XML nesting depth",
                Limit::MaxDepth,
                limits,
            ));
        }
        if elements > limits.max_elements {
            return Err(ParseError::limit(
                "DOCX XML elements",
                Limit::MaxElements,
                limits,
            ));
        }
        match event {
            Event::Start(e) if e.local_name().as_ref() == b"t" => in_text = true,
            Event::End(e) if e.local_name().as_ref() == b"t" => in_text = false,
            Event::Text(t) if in_text => {
                let t = t
                    .unescape()
                    .map_err(|e| ParseError::Docx(format!("bad text in word/document.xml: {e}")))?;
                text.push_str(&t);
            }
            Event::CData(t) if in_text => text.push_str(&String::from_utf8_lossy(&t)),
            Event::Start(e) if e.local_name().as_ref() == b"pPr" => in_props = true,
            Event::End(e) if e.local_name().as_ref() == b"pPr" => in_props = false,
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"p" => {
                    text.clear();
                    level = None;
                }
                b"tab" if !in_props => text.push('\t'),
                b"br" | b"cr" if !in_props => text.push('\n'),
                b"pStyle" => level = attr(&e, b"val").and_then(|id| style_level(&id, styles)),
                b"outlineLvl" => {
                    // Outline level 0 is a top-level heading; Markdown has six levels.
                    level = attr(&e, b"val")
                        .and_then(|v| v.parse::<usize>().ok())
                        .filter(|&l| l < 9)
                        .map(|l| (l + 1).min(6))
                        .or(level);
                }
                _ => {}
            },
            Event::End(e) if e.local_name().as_ref() == b"p" => {
                let joined = tidy(&text);
                text_bytes += joined.len();
                if text_bytes > limits.max_text_bytes {
                    return Err(super::text_limit(Format::Docx, limits));
                }
                if !joined.is_empty() {
                    out.push(Paragraph {
                        text: if level.is_some() {
                            joined.replace('\n', " ")
                        } else {
                            joined
                        },
                        level,
                    });
                }
                text.clear();
                level = None;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

fn tidy(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn attr(e: &BytesStart<'_>, local: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .and_then(|a| a.unescape_value().ok())
        .map(|v| v.into_owned())
}

/// Heading level of a style id: from styles.xml names ("heading 2", "Title"), which stay
/// English in localised Word, else from the id itself ("Heading2").
fn style_level(id: &str, styles: &HashMap<String, usize>) -> Option<usize> {
    styles.get(id).copied().or_else(|| name_level(id))
}

fn name_level(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase().replace(' ', "");
    if lower == "title" {
        return Some(1);
    }
    let n: usize = lower.strip_prefix("heading")?.parse().ok()?;
    (1..=9).contains(&n).then_some(n.min(6))
}

/// Maps style ids to heading levels from `word/styles.xml`. Best effort: a malformed styles
/// part only loses heading detection, not the document.
fn heading_styles(xml: &str) -> HashMap<String, usize> {
    let mut reader = Reader::from_str(xml);
    let mut map = HashMap::new();
    let mut current: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.local_name().as_ref() == b"style" => {
                current = attr(&e, b"styleId");
            }
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == b"name" => {
                if let (Some(id), Some(level)) = (
                    current.as_ref(),
                    attr(&e, b"val").and_then(|n| name_level(&n)),
                ) {
                    map.insert(id.clone(), level);
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    map
}

/// `dc:title` of `docProps/core.xml`.
fn dc_title(xml: &str) -> Option<String> {
    let mut reader = Reader::from_str(xml);
    let mut in_title = false;
    let mut title = String::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == b"title" => in_title = true,
            Event::End(e) if e.local_name().as_ref() == b"title" => break,
            Event::Text(t) if in_title => title.push_str(&t.unescape().ok()?),
            Event::Eof => break,
            _ => {}
        }
    }
    let title = title.trim().to_string();
    (!title.is_empty()).then_some(title)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_names() {
        assert_eq!(name_level("Heading1"), Some(1));
        assert_eq!(name_level("heading 3"), Some(3));
        assert_eq!(name_level("Title"), Some(1));
        assert_eq!(name_level("Normal"), None);
    }

    #[test]
    fn localized_style_ids_resolve_through_styles_xml() {
        let styles = r#"<w:styles xmlns:w="w"><w:style w:styleId="berschrift1"><w:name w:val="heading 1"/></w:style></w:styles>"#;
        let map = heading_styles(styles);
        assert_eq!(style_level("berschrift1", &map), Some(1));
    }
}
