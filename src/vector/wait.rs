//! Riding out a vector store outage. The queue workers (ingest, jobs) ask here before they
//! claim work, so while the store is down documents and jobs stay queued — no attempt spent,
//! nothing failed — and are picked up as soon as it answers again.

use std::time::{Duration, Instant};

use super::VectorStore;

/// Longest pause between two probes of a store that is down.
const MAX_PROBE_DELAY: Duration = Duration::from_secs(5);

/// Return once `store` answers its health check, probing with capped backoff meanwhile.
/// Logs once when the store is found down and once when it is back. A health error that is
/// not an outage (a misconfiguration) returns at once: the work then fails with it, visibly.
pub async fn until_available(store: &dyn VectorStore, queue: &str) {
    let mut delay = Duration::from_millis(250);
    let mut down_since: Option<Instant> = None;
    loop {
        match store.health().await {
            Ok(()) => {
                if let Some(since) = down_since {
                    tracing::info!(
                        queue,
                        down_secs = since.elapsed().as_secs(),
                        "vector store is back; claiming work again"
                    );
                }
                return;
            }
            Err(err) if err.is_transient() => {
                if down_since.is_none() {
                    tracing::warn!(queue, error = %err, "vector store unavailable; queued work waits for it");
                    down_since = Some(Instant::now());
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_PROBE_DELAY);
            }
            Err(err) => {
                tracing::error!(queue, error = %err, "vector store health check failed");
                return;
            }
        }
    }
}
