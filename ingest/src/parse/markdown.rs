//! A linear pre-check of Markdown block nesting, run before any Markdown parser sees a text.
//! pulldown-cmark (under text-splitter's MarkdownSplitter) costs the square of the nesting.

/// True when some line nests blocks deeper than `max`: blockquote markers (`>`) and list
/// markers (`-`, `+`, `*`, `1.`, `1)`) chained at the start of a line, plus one level per two
/// columns of indentation (how nested lists are written). Lines inside fenced code blocks
/// are skipped. One pass, no allocation; an over-estimate only for text no one writes.
pub fn depth_exceeds(text: &str, max: usize) -> bool {
    let mut fence: Option<u8> = None;
    for line in text.lines() {
        let bytes = line.as_bytes();
        let indent = bytes
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .map(|&b| if b == b'\t' { 4 } else { 1 })
            .sum::<usize>();
        let rest = line.trim_start_matches([' ', '\t']).as_bytes();
        if rest.starts_with(b"```") || rest.starts_with(b"~~~") {
            fence = match fence {
                Some(open) if open == rest[0] => None,
                None => Some(rest[0]),
                other => other,
            };
            continue;
        }
        if fence.is_some() {
            continue;
        }
        if indent / 2 + chained_markers(rest, max + 1) > max {
            return true;
        }
    }
    false
}

/// Container markers at the start of `line` (after its indentation), counting up to `stop`.
fn chained_markers(line: &[u8], stop: usize) -> usize {
    let mut depth = 0;
    let mut i = 0;
    while depth < stop {
        while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
            i += 1;
        }
        let Some(&c) = line.get(i) else { break };
        let after = match c {
            b'>' => i + 1,
            b'-' | b'+' | b'*' => {
                if !matches!(line.get(i + 1), None | Some(b' ' | b'\t')) {
                    break;
                }
                i + 1
            }
            b'0'..=b'9' => {
                let digits = line[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                let end = i + digits;
                if digits > 9
                    || !matches!(line.get(end), Some(b'.' | b')'))
                    || !matches!(line.get(end + 1), None | Some(b' ' | b'\t'))
                {
                    break;
                }
                end + 1
            }
            _ => break,
        };
        depth += 1;
        i = after;
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_quotes_lists_and_indentation() {
        assert!(!depth_exceeds("> > > a\n- - b\n1. 2) c", 3));
        assert!(depth_exceeds("> > > > a", 3));
        assert!(depth_exceeds("- 1. > - a", 3));
        assert!(depth_exceeds("        - a", 3)); // 4 levels of indentation + the marker
        assert!(!depth_exceeds("-a\n*emphasis*\n1.5 apples\n->", 0));
        assert!(!depth_exceeds("```\n> > > > > >\n```\n", 3));
        let hostile = "> ".repeat(50_000);
        assert!(depth_exceeds(&hostile, 512));
        assert!(!depth_exceeds(&"> ".repeat(512), 512));
    }
}
