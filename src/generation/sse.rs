//! Server-sent events from an OpenAI-compatible backend: `data: {json}` lines separated by
//! blank lines, ending with `data: [DONE]`. Each event must parse as JSON, and each must
//! arrive within the timeout.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::{send_error, GenerationError};

/// Parse a byte stream into events. The stream ends after `[DONE]`; a connection that ends
/// without it is an error (the answer was cut off).
pub fn events<S>(
    bytes: S,
    timeout: Duration,
) -> impl Stream<Item = Result<Value, GenerationError>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static,
{
    let state = (Box::pin(bytes), Vec::<u8>::new(), false);
    futures_util::stream::unfold(state, move |(mut bytes, mut buf, done)| async move {
        if done {
            return None;
        }
        loop {
            if let Some(event) = take_event(&mut buf) {
                match event {
                    Event::Done => return None,
                    Event::Skip => continue,
                    Event::Data(v) => return Some((Ok(v), (bytes, buf, false))),
                    Event::Bad(msg) => {
                        return Some((Err(GenerationError::Malformed(msg)), (bytes, buf, true)))
                    }
                }
            }
            match tokio::time::timeout(timeout, bytes.next()).await {
                Err(_) => return Some((Err(GenerationError::Timeout), (bytes, buf, true))),
                Ok(None) => {
                    let msg = "the stream ended before [DONE]".to_owned();
                    return Some((Err(GenerationError::Malformed(msg)), (bytes, buf, true)));
                }
                Ok(Some(Err(e))) => return Some((Err(send_error(e)), (bytes, buf, true))),
                Ok(Some(Ok(chunk))) => buf.extend_from_slice(&chunk),
            }
        }
    })
}

enum Event {
    Data(Value),
    Done,
    /// A comment, a keep-alive or a field we do not use.
    Skip,
    Bad(String),
}

/// Take one complete line off the front of `buf`, if there is one, and interpret it.
fn take_event(buf: &mut Vec<u8>) -> Option<Event> {
    let end = buf.iter().position(|&b| b == b'\n')?;
    let line: Vec<u8> = buf.drain(..=end).collect();
    let line = String::from_utf8_lossy(&line);
    let line = line.trim_end_matches(['\r', '\n']);
    let Some(data) = line.strip_prefix("data:") else {
        return Some(Event::Skip);
    };
    let data = data.trim_start();
    if data == "[DONE]" {
        return Some(Event::Done);
    }
    Some(match serde_json::from_str(data) {
        Ok(v) => Event::Data(v),
        Err(e) => Event::Bad(format!(
            "an event is not JSON ({e}): {}",
            data.chars().take(200).collect::<String>()
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(parts: Vec<&'static str>) -> Vec<Result<Value, String>> {
        let s = futures_util::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from(p))));
        events(s, Duration::from_secs(5))
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
            .await
    }

    #[tokio::test]
    async fn splits_events_across_chunks() {
        let out = collect(vec![
            "data: {\"a\"",
            ":1}\n\n: keep-alive\n\ndata: {\"a\":2}\r\n\r\n",
            "data: [DONE]\n\n",
        ])
        .await;
        assert_eq!(
            out,
            vec![
                Ok(serde_json::json!({"a": 1})),
                Ok(serde_json::json!({"a": 2}))
            ]
        );
    }

    #[tokio::test]
    async fn malformed_and_truncated_streams_are_errors() {
        let out = collect(vec!["data: {not json}\n\n", "data: {\"a\":1}\n\n"]).await;
        assert_eq!(out.len(), 1);
        assert!(out[0].as_ref().unwrap_err().contains("not JSON"));
        let out = collect(vec!["data: {\"a\":1}\n\n"]).await;
        assert_eq!(out.len(), 2);
        assert!(out[1].as_ref().unwrap_err().contains("before [DONE]"));
    }
}
