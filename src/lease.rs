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

/// Named places in leased work (and in the request that queues a re-index) where a test can
/// hold one item's worker, so interleavings of two writers are replayed exactly, without
/// sleeps. Nothing is armed in a server: `reach` is then one atomic load.
#[derive(Default)]
pub struct Pauses {
    armed: std::sync::atomic::AtomicBool,
    gates: std::sync::Mutex<std::collections::HashMap<(String, String), Gate>>,
}

/// One armed pause: says when it is reached, then waits for its release.
struct Gate {
    reached: tokio::sync::oneshot::Sender<()>,
    release: tokio::sync::oneshot::Receiver<()>,
}

/// The test's side of an armed pause.
pub struct Paused {
    reached: tokio::sync::oneshot::Receiver<()>,
    release: tokio::sync::oneshot::Sender<()>,
}

impl Paused {
    /// Wait until a worker stands at the pause.
    pub async fn reached(&mut self) {
        let _ = (&mut self.reached).await;
    }

    /// Let it go on.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

impl Pauses {
    /// Hold the next worker that reaches `point` for `item` (one time).
    pub fn arm(&self, point: &str, item: &str) -> Paused {
        let (reached_tx, reached) = tokio::sync::oneshot::channel();
        let (release, release_rx) = tokio::sync::oneshot::channel();
        let gate = Gate {
            reached: reached_tx,
            release: release_rx,
        };
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.insert((point.to_owned(), item.to_owned()), gate);
        self.armed.store(true, std::sync::atomic::Ordering::Release);
        Paused { reached, release }
    }

    /// Called by the work at `point` for `item`: waits there when a test armed it.
    pub async fn reach(&self, point: &str, item: &str) {
        if !self.armed.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
            gates.remove(&(point.to_owned(), item.to_owned()))
        };
        if let Some(gate) = gate {
            let _ = gate.reached.send(());
            let _ = gate.release.await;
        }
    }
}
