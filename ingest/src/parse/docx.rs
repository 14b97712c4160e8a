//! DOCX (Office Open XML) to Markdown-flavoured text: paragraphs from `word/document.xml`,
//! heading styles as `#` headings so the Markdown splitter can cut at them.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{Format, ParseError, ParsedDocument, Section};

/// Largest XML part read from the archive: far above real documents, it stops zip bombs.
const MAX_PART_BYTES: u64 = 256 * 1024 * 1024;

pub(crate) fn parse_docx(bytes: &[u8]) -> Result<ParsedDocument, ParseError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ParseError::Docx(format!("not a zip archive ({e})")))?;
    let document = read_part(&mut archive, "word/document.xml")?.ok_or_else(|| {
        ParseError::Docx("word/document.xml is missing (not a Word file?)".into())
    })?;
    let styles = match read_part(&mut archive, "word/styles.xml")? {
        Some(xml) => heading_styles(&xml),
        None => HashMap::new(),
    };
    let core_title = read_part(&mut archive, "docProps/core.xml")?.and_then(|xml| dc_title(&xml));

    let paragraphs = paragraphs(&document, &styles)?;
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

fn read_part(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
) -> Result<Option<String>, ParseError> {
    let file = match archive.by_name(name) {
        Ok(file) => file,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(ParseError::Docx(format!("cannot open {name}: {e}"))),
    };
    let mut xml = String::new();
    file.take(MAX_PART_BYTES)
        .read_to_string(&mut xml)
        .map_err(|e| ParseError::Docx(format!("cannot read {name}: {e}")))?;
    Ok(Some(xml))
}

struct Paragraph {
    text: String,
    /// Markdown heading level (1–6), from the paragraph's style.
    level: Option<usize>,
}

/// Walks `w:p` paragraphs: text from `w:t`, tabs from `w:tab`, line breaks from `w:br`/`w:cr`,
/// the style from `w:pPr/w:pStyle`. Paragraphs left empty are dropped.
fn paragraphs(xml: &str, styles: &HashMap<String, usize>) -> Result<Vec<Paragraph>, ParseError> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut text = String::new();
    let mut level = None;
    let mut in_text = false;
    // `w:tab` inside paragraph properties is a tab stop definition, not a tab character.
    let mut in_props = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| ParseError::Docx(format!("word/document.xml is not valid XML: {e}")))?;
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
