//! Server-sent events from an OpenAI-compatible backend, over the network: the lines are
//! decoded by `ragway_protocol::sse`; here each event must arrive within the timeout, and a
//! stream that ends before `[DONE]` is an error.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use ragway_protocol::sse::{SseDecoder, SseEvent};
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
    let state = (Box::pin(bytes), SseDecoder::default(), false);
    futures_util::stream::unfold(state, move |(mut bytes, mut buf, done)| async move {
        if done {
            return None;
        }
        loop {
            if let Some(event) = buf.next_event() {
                match event {
                    SseEvent::Done => return None,
                    SseEvent::Skip => continue,
                    SseEvent::Data(v) => return Some((Ok(v), (bytes, buf, false))),
                    SseEvent::Bad(msg) => {
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
                Ok(Some(Ok(chunk))) => buf.push(&chunk),
            }
        }
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
