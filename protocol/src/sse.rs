//! Server-sent events as an OpenAI-compatible backend sends them: `data: {json}` lines
//! separated by blank lines, ending with `data: [DONE]`. The pure part: bytes in, events out,
//! whatever the chunking of the bytes; the server adds the network and the timeouts.

use serde_json::Value;

/// One line's meaning.
#[derive(Debug, Clone, PartialEq)]
pub enum SseEvent {
    /// A `data:` line holding JSON.
    Data(Value),
    /// `data: [DONE]`: the stream is complete.
    Done,
    /// A comment, a keep-alive, a blank line or a field we do not use.
    Skip,
    /// A `data:` line that is not JSON (the message says why, with the start of the line).
    Bad(String),
}

/// Longest event line accepted from a backend; a longer one is an error, not a buffer that
/// grows without end.
pub const MAX_LINE_BYTES: usize = 8 << 20;

/// Bytes received so far and not yet a whole line.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a newline (each byte is searched once).
    scanned: usize,
}

impl SseDecoder {
    /// Add bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line's event, or None until more bytes arrive.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        match self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(at) => {
                let line: Vec<u8> = self.buf.drain(..=self.scanned + at).collect();
                self.scanned = 0;
                Some(line_event(&String::from_utf8_lossy(&line)))
            }
            None if self.buf.len() > MAX_LINE_BYTES => {
                self.buf.clear();
                self.scanned = 0;
                Some(SseEvent::Bad(format!(
                    "an event line is over {MAX_LINE_BYTES} bytes"
                )))
            }
            None => {
                self.scanned = self.buf.len();
                None
            }
        }
    }
}

fn line_event(line: &str) -> SseEvent {
    let line = line.trim_end_matches(['\r', '\n']);
    let Some(data) = line.strip_prefix("data:") else {
        return SseEvent::Skip;
    };
    let data = data.trim_start();
    if data == "[DONE]" {
        return SseEvent::Done;
    }
    match serde_json::from_str(data) {
        Ok(v) => SseEvent::Data(v),
        Err(e) => SseEvent::Bad(format!(
            "an event is not JSON ({e}): {}",
            data.chars().take(200).collect::<String>()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_across_chunk_boundaries() {
        let mut d = SseDecoder::default();
        d.push(b"data: {\"a\"");
        assert_eq!(d.next_event(), None);
        d.push(b":1}\n\n: keep-alive\r\ndata: [DONE]\n");
        assert_eq!(d.next_event(), Some(SseEvent::Data(json!({"a": 1}))));
        assert_eq!(d.next_event(), Some(SseEvent::Skip));
        assert_eq!(d.next_event(), Some(SseEvent::Skip));
        assert_eq!(d.next_event(), Some(SseEvent::Done));
        d.push(b"data: {oops\n");
        assert!(matches!(d.next_event(), Some(SseEvent::Bad(m)) if m.contains("not JSON")));
    }

    #[test]
    fn an_endless_line_is_an_error_not_a_growing_buffer() {
        let mut d = SseDecoder::default();
        let piece = vec![b'x'; 1 << 20];
        for _ in 0..MAX_LINE_BYTES >> 20 {
            d.push(&piece);
            assert_eq!(d.next_event(), None);
        }
        d.push(b"y");
        assert!(matches!(d.next_event(), Some(SseEvent::Bad(m)) if m.contains("over")));
        d.push(b"data: [DONE]\n");
        assert_eq!(d.next_event(), Some(SseEvent::Done));
    }
}
