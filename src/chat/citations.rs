//! Checking the citations a model wrote. Markers are Pandoc style — `[@0]`, `[@0; @3]` — the
//! numbers 0-based indexes into `references.chunks`. Every marker is reported with its
//! character span in the message; one that points at no chunk is reported as invalid rather
//! than silently kept or dropped.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Citation {
    /// Which choice (`n > 1`) the marker is in.
    pub choice_index: u32,
    /// The index the model cited.
    pub chunk_index: u64,
    /// The cited chunk's id; None when the index points at no chunk.
    pub chunk_id: Option<String>,
    pub valid: bool,
    /// The whole marker (`[@0; @3]`) and its span, in characters of the message content.
    pub marker: String,
    pub start: usize,
    pub end: usize,
}

/// Every citation in `text` (choice `choice_index`), checked against `chunk_ids`.
pub fn check(text: &str, choice_index: u32, chunk_ids: &[String]) -> Vec<Citation> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '[' {
            if let Some((end, indexes)) = parse_marker(&chars, i) {
                let marker: String = chars[i..=end].iter().collect();
                for idx in indexes {
                    let chunk_id = usize::try_from(idx)
                        .ok()
                        .and_then(|k| chunk_ids.get(k))
                        .cloned();
                    out.push(Citation {
                        choice_index,
                        chunk_index: idx,
                        valid: chunk_id.is_some(),
                        chunk_id,
                        marker: marker.clone(),
                        start: i,
                        end: end + 1,
                    });
                }
                i = end + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// `[@1; @2]` starting at `start`: the index of `]` and the numbers, or None if not a marker.
fn parse_marker(chars: &[char], start: usize) -> Option<(usize, Vec<u64>)> {
    let mut i = start + 1;
    let mut indexes = Vec::new();
    loop {
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        if chars.get(i) != Some(&'@') {
            return None;
        }
        i += 1;
        let digits_start = i;
        while i < chars.len() && chars[i].is_ascii_digit() && i - digits_start < 12 {
            i += 1;
        }
        if i == digits_start {
            return None;
        }
        indexes.push(
            chars[digits_start..i]
                .iter()
                .collect::<String>()
                .parse()
                .ok()?,
        );
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        match chars.get(i) {
            Some(']') => return Some((i, indexes)),
            Some(';') | Some(',') => i += 1,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_found_checked_and_spanned() {
        let ids: Vec<String> = vec!["a".into(), "b".into()];
        let text = "Otters sleep holding hands [@0]. Rocks crack shells [@1; @5]. Not [a citation] nor [@x].";
        let c = check(text, 0, &ids);
        assert_eq!(c.len(), 3);
        assert_eq!(
            (c[0].chunk_index, c[0].valid, c[0].chunk_id.as_deref()),
            (0, true, Some("a"))
        );
        assert_eq!(&text[c[0].start..c[0].end], "[@0]");
        assert_eq!((c[1].chunk_index, c[1].valid), (1, true));
        assert_eq!(
            (c[2].chunk_index, c[2].valid, c[2].chunk_id.clone()),
            (5, false, None)
        );
        assert_eq!(c[2].marker, "[@1; @5]");
        // Spans count characters, not bytes.
        let c = check("Ünïcödé [@1]", 2, &ids);
        assert_eq!((c[0].start, c[0].end, c[0].choice_index), (8, 12, 2));
    }
}
