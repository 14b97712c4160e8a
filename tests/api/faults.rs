//! Failures of the vector store, injected around the real Qdrant Edge store: a transient one
//! (unavailable) puts a document or a job back in the queue with backoff and the retry
//! finishes it, resuming where it stopped; a permanent one (rejected request) fails the
//! document with the reason.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ragway::documents::{self, Upload};
use ragway::knowledge;
use ragway::state::AppState;
use ragway::vector::{
    Filter, Hit, IndexKind, Point, Query, VectorError, VectorResult, VectorStore,
};
use ragway_protocol::knowledge::NewKnowledgeBase;
use uuid::Uuid;

use crate::helpers::{shared_embedder, test_config, Backend};

/// The real store, with the next `unavailable` upserts failing as "unavailable" and the next
/// `invalid` ones as "invalid".
struct Faulty {
    inner: Arc<dyn VectorStore>,
    unavailable: AtomicUsize,
    invalid: AtomicUsize,
}

fn take(n: &AtomicUsize) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

#[async_trait::async_trait]
impl VectorStore for Faulty {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn health(&self) -> VectorResult<()> {
        self.inner.health().await
    }
    async fn ensure_collection(&self, name: &str, dim: usize) -> VectorResult<()> {
        self.inner.ensure_collection(name, dim).await
    }
    async fn collection_exists(&self, name: &str) -> VectorResult<bool> {
        self.inner.collection_exists(name).await
    }
    async fn delete_collection(&self, name: &str) -> VectorResult<()> {
        self.inner.delete_collection(name).await
    }
    async fn upsert(&self, collection: &str, points: Vec<Point>) -> VectorResult<()> {
        if take(&self.unavailable) {
            return Err(VectorError::Unavailable(
                "injected: connection refused".into(),
            ));
        }
        if take(&self.invalid) {
            return Err(VectorError::Invalid("injected: wrong vector size".into()));
        }
        self.inner.upsert(collection, points).await
    }
    async fn delete_points(&self, collection: &str, ids: &[Uuid]) -> VectorResult<()> {
        self.inner.delete_points(collection, ids).await
    }
    async fn delete_by_filter(&self, collection: &str, filter: &Filter) -> VectorResult<()> {
        self.inner.delete_by_filter(collection, filter).await
    }
    async fn count(&self, collection: &str, filter: Option<&Filter>) -> VectorResult<u64> {
        self.inner.count(collection, filter).await
    }
    async fn payload_indexes(&self, collection: &str) -> VectorResult<Vec<(String, IndexKind)>> {
        self.inner.payload_indexes(collection).await
    }
    async fn scroll(
        &self,
        collection: &str,
        filter: &Filter,
        limit: usize,
    ) -> VectorResult<Vec<Hit>> {
        self.inner.scroll(collection, filter, limit).await
    }
    async fn query(&self, collection: &str, query: &Query) -> VectorResult<Vec<Hit>> {
        self.inner.query(collection, query).await
    }
    async fn optimize(&self, collection: &str) -> VectorResult<()> {
        self.inner.optimize(collection).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vector_store_failures_are_retried_or_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), Backend::Sqlite).await;
    config.ingest.workers = 0;
    config.jobs.workers = 0;
    let embedder = shared_embedder(&config);
    let mut state = AppState::load(config, Some(embedder)).await.unwrap();
    let faulty = Arc::new(Faulty {
        inner: state.vectors.clone(),
        unavailable: AtomicUsize::new(0),
        invalid: AtomicUsize::new(0),
    });
    state.vectors = faulty.clone();
    let state = Arc::new(state);
    state.db.create_project("p", "p", None).await.unwrap();
    let kb = knowledge::create(&state, "p", NewKnowledgeBase::with_id("kb"))
        .await
        .unwrap();
    let submit = |ext: &str, text: &str| {
        let (state, kb) = (state.clone(), kb.clone());
        let up = Upload {
            external_id: Some(ext.into()),
            content: text.as_bytes().to_vec(),
            ..Default::default()
        };
        async move { documents::submit(&state, &kb, up).await.unwrap().0 }
    };

    // Transient: back to the queue with backoff, then done by the retry.
    let doc = submit("a", "Otters hold hands while they sleep.").await;
    faulty.unavailable.store(1, Ordering::SeqCst);
    assert!(documents::worker::run_once(&state, "w").await.unwrap());
    let d = state.db.document_by_id(&doc.id).await.unwrap().unwrap();
    assert_eq!((d.status.as_str(), d.attempts), ("queued", 1), "{d:?}");
    assert!(d
        .error
        .as_deref()
        .unwrap()
        .contains("injected: connection refused"));
    assert!(
        d.next_attempt_at > ragway::store::now_ms(),
        "backoff before the retry"
    );
    assert!(
        !documents::worker::run_once(&state, "w").await.unwrap(),
        "not due yet"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(documents::worker::run_once(&state, "w").await.unwrap());
    let d = state.db.document_by_id(&doc.id).await.unwrap().unwrap();
    assert_eq!((d.status.as_str(), d.attempts), ("ready", 2), "{d:?}");
    assert_eq!(d.error, None);

    // Permanent: the document fails with the reason; nothing is retried.
    let bad = submit("b", "Penguins propose with pebbles.").await;
    faulty.invalid.store(1, Ordering::SeqCst);
    assert!(documents::worker::run_once(&state, "w").await.unwrap());
    let b = state.db.document_by_id(&bad.id).await.unwrap().unwrap();
    assert_eq!(b.status, "failed", "{b:?}");
    assert!(
        b.error
            .as_deref()
            .unwrap()
            .contains("vector store rejected the chunks"),
        "{b:?}"
    );

    // A re-index interrupted by the store resumes after its backoff, keeping what it did.
    for i in 0..12 {
        submit(
            &format!("c{i}"),
            &format!("Document {i} about the tides of the North Sea."),
        )
        .await;
    }
    while documents::worker::run_once(&state, "w").await.unwrap() {}
    let job = ragway::jobs::enqueue_reindex(&state, &kb, Default::default())
        .await
        .unwrap();
    let ready = state.db.ready_document_count("p", "kb").await.unwrap();
    assert_eq!(ready, 13);
    // Run the job; once two documents are done, the store becomes unavailable once.
    let state2 = state.clone();
    let runner = tokio::spawn(async move { ragway::jobs::worker::run_once(&state2, "r").await });
    loop {
        let j = state.db.get_job(&job.id).await.unwrap().unwrap();
        if j.docs_done >= 2 || !j.is_active() {
            faulty.unavailable.store(1, Ordering::SeqCst);
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(runner.await.unwrap().unwrap());
    let j = state.db.get_job(&job.id).await.unwrap().unwrap();
    if j.status == "succeeded" {
        panic!("the job finished before a failure could be injected: {j:?}");
    }
    assert_eq!((j.status.as_str(), j.attempts), ("queued", 1), "{j:?}");
    assert!(j.error.as_deref().unwrap().contains("injected"), "{j:?}");
    let done_before = j.docs_done;
    assert!((2..13).contains(&done_before), "{j:?}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(ragway::jobs::worker::run_once(&state, "r2").await.unwrap());
    let j = state.db.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!((j.status.as_str(), j.attempts), ("succeeded", 2), "{j:?}");
    let redone: i64 = sqlx::query_as::<_, (i64,)>(
        "SELECT COUNT(*) FROM job_documents WHERE job_id = $1 AND owner = 'r2'",
    )
    .bind(&job.id)
    .fetch_one(&crate::helpers::sql(&state.config).await)
    .await
    .unwrap()
    .0;
    assert_eq!(
        redone,
        13 - done_before,
        "only the documents not done before were written"
    );
}
