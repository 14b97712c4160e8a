//! What the two durable queues (documents, jobs) share: a worker loop that claims until the
//! queue is empty and then waits for a wake-up, and work run under a lease that is renewed
//! while it lasts and stops the work when the lease is lost.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;

/// Start `n` loops on the current runtime, each with a fresh owner name (`<uuid>-<tag><i>`)
/// to claim items under.
pub fn spawn<F, Fut>(n: usize, tag: &str, start: F) -> Vec<tokio::task::JoinHandle<()>>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    (0..n)
        .map(|i| tokio::spawn(start(format!("{}-{tag}{i}", uuid::Uuid::new_v4().simple()))))
        .collect()
}

/// How long an item that failed transiently on attempt `attempts` waits before the next:
/// doubling from 1 s, at most 60 s.
pub fn backoff_ms(attempts: i64) -> i64 {
    (1000i64 << attempts.clamp(0, 6)).min(60_000)
}

/// Run `once` (claim and process one item; false = nothing due) until the task is dropped.
/// When idle, wait for `notify` or `idle` at most; when the queue is unreachable, back off.
pub async fn drive<F, Fut, E>(what: &str, notify: &Notify, idle: Duration, mut once: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, E>>,
    E: std::fmt::Debug,
{
    loop {
        match once().await {
            Ok(true) => continue,
            Ok(false) => {
                let notified = notify.notified();
                let _ = tokio::time::timeout(idle, notified).await;
            }
            Err(e) => {
                tracing::error!(error = ?e, queue = what, "queue unavailable");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// Run `work` while `renew` extends the lease every third of `lease_ms`. When `renew`
/// answers false (the item was taken away: deleted, canceled, reclaimed), the work is
/// dropped and `lost` is returned as its error. Renewal errors are logged and retried.
pub async fn with_lease<T, E, W, R, RF, RE>(
    lease_ms: i64,
    work: W,
    mut renew: R,
    lost: E,
) -> Result<T, E>
where
    W: Future<Output = Result<T, E>>,
    R: FnMut() -> RF,
    RF: Future<Output = Result<bool, RE>>,
    RE: std::fmt::Display,
{
    let renewing = async {
        let mut tick = tokio::time::interval(Duration::from_millis(lease_ms as u64 / 3));
        tick.tick().await;
        loop {
            tick.tick().await;
            match renew().await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => tracing::warn!(error = %e, "could not renew a lease"),
            }
        }
    };
    tokio::select! {
        r = work => r,
        () = renewing => Err(lost),
    }
}
