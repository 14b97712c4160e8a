//! Crashes of the real binary, on SQLite and PostgreSQL: `kill -9` of `ragway serve` in the
//! middle of ingesting hundreds of documents, and of `ragway worker` in the middle of a
//! re-index (with documents changing meanwhile); after a restart every document is `ready`
//! exactly once, its `chunk_count` equals the points it has, no point is an orphan, and the
//! knowledge base serves one generation. And the poison pill: a document whose worker is
//! killed on every claim fails after `ingest.max_attempts` claims, with the reason, and a
//! restart does not take it up again.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::helpers::Backend;
use crate::process::{kill9, stop, Site};
use ragway::store::Db;
use ragway::vector::{Filter, MatchValue};

fn text(i: usize, version: usize) -> String {
    format!(
        "Logbook entry {i}, revision {version}: the lighthouse keeper on island {i} trimmed the \
         wick, wound the clockwork and noted {version} ships passing in the fog before dawn, \
         with the barometer falling and the wind backing to the south-west."
    )
}

/// PUT documents `ids` (revision `version`) into `kb`, 16 at a time; each must be accepted.
async fn put_all(base: &str, token: &str, kb: &str, ids: &[usize], version: usize) {
    let client = reqwest::Client::new();
    for batch in ids.chunks(16) {
        let answers = join_all(batch.iter().map(|i| {
            client
                .put(format!("{base}/v1/knowledge_bases/{kb}/documents/doc{i}"))
                .bearer_auth(token)
                .json(&json!({"text": text(*i, version)}))
                .send()
        }))
        .await;
        for a in answers {
            let a = a.unwrap();
            assert!(a.status().is_success(), "{}", a.status());
        }
    }
}

async fn create_kb(base: &str, token: &str, kb: &str) {
    let res = reqwest::Client::new()
        .post(format!("{base}/v1/knowledge_bases"))
        .bearer_auth(token)
        .json(&json!({"id": kb}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
}

/// With every process stopped: each of the `n` documents of `kb` is `ready` once, has exactly
/// `chunk_count` points in the live collection, all of its current version (fence) and
/// generation, each ordinal once; the collection holds nothing else.
async fn verify(site: &Site, kb: &str, n: usize) -> ragway::store::knowledge::KnowledgeBase {
    let db = Db::connect(&site.config).await.unwrap();
    let kb = db.get_kb("default", kb).await.unwrap().unwrap();
    let docs = db
        .list_documents("default", &kb.id, None, None, 10_000)
        .await
        .unwrap();
    assert_eq!(docs.len(), n, "one row per document");
    let store = crate::helpers::open_vector_store(&site.config).await;
    let mut total = 0;
    for d in &docs {
        assert_eq!(d.status.to_string(), "ready", "{d:?}");
        assert_eq!(d.stale_below, None, "{d:?}");
        let f = Filter::eq("document_id", MatchValue::Keyword(d.id.clone()));
        let points = store.scroll(&kb.collection, &f, 10_000).await.unwrap();
        assert_eq!(points.len() as i64, d.chunk_count, "document {}", d.id);
        assert!(d.chunk_count > 0);
        let ordinals: HashSet<u64> = points
            .iter()
            .map(|p| p.payload["ordinal"].as_u64().unwrap())
            .collect();
        assert_eq!(
            ordinals.len(),
            points.len(),
            "document {}: an ordinal twice",
            d.id
        );
        for p in &points {
            assert_eq!(p.payload["fence"].as_i64(), Some(d.chunk_fence), "{}", d.id);
            assert_eq!(p.payload["generation"].as_i64(), Some(kb.generation));
        }
        total += points.len() as u64;
    }
    let all = store.count(&kb.collection, None).await.unwrap();
    assert_eq!(all, total, "orphan points in {}", kb.collection);
    kb
}

const DOCS: &str = "SELECT COUNT(*) FROM documents";
const READY: &str = "SELECT COUNT(*) FROM documents WHERE status = 'ready'";
const SETTLED: &str =
    "SELECT COUNT(*) FROM documents WHERE status = 'ready' AND stale_below IS NULL";

/// `kill -9` of `ragway serve` while its ingest worker is a quarter, a half and three
/// quarters through 240 documents.
async fn serve_killed_mid_ingest(backend: Backend) {
    const N: usize = 240;
    let site = Site::new(backend).await;
    let (mut serve, base) = site.serve(&[]).await;
    let token = site.token();
    create_kb(&base, &token, "logs").await;
    let ids: Vec<usize> = (0..N).collect();
    put_all(&base, &token, "logs", &ids, 1).await;
    for quarter in 1..=3 {
        site.until(READY, (N * quarter / 4) as i64, 120).await;
        kill9(serve);
        let ready = site.count(READY).await;
        assert!(ready < N as i64, "killed mid-ingest: {ready} of {N} ready");
        eprintln!("{backend:?}: serve killed with {ready} of {N} documents ready");
        serve = site.serve(&[]).await.0;
    }
    site.until(SETTLED, N as i64, 240).await;
    stop(serve).await;
    assert_eq!(site.count(DOCS).await, N as i64);
    verify(&site, "logs", N).await;
}
crate::both_backends!(serve_killed_mid_ingest_recovers, serve_killed_mid_ingest);

/// `kill -9` of `ragway worker` while it runs a re-index and ingests changed documents (which
/// it writes to both generations); `ragway serve` then finishes both.
async fn worker_killed_mid_reindex(backend: Backend) {
    const N: usize = 80;
    let site = Site::new(backend).await;
    let (serve, base) = site.serve(&[]).await;
    let token = site.token();
    create_kb(&base, &token, "logs").await;
    let ids: Vec<usize> = (0..N).collect();
    put_all(&base, &token, "logs", &ids, 1).await;
    site.until(READY, N as i64, 180).await;
    stop(serve).await;

    // Queue the job and some changes on a server that runs neither, then hand both to a
    // worker process (Qdrant Edge's data dir is one process's at a time).
    let idle = [
        ("RAGWAY__INGEST__WORKERS", "0".to_owned()),
        ("RAGWAY__JOBS__WORKERS", "0".to_owned()),
    ];
    let (serve, base) = site.serve(&idle).await;
    let res = reqwest::Client::new()
        .post(format!("{base}/v1/knowledge_bases/logs/reindex"))
        .bearer_auth(&token)
        .json(&json!({"chunking": {"max_tokens": 24, "overlap_tokens": 0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 202);
    let job: Value = res.json().await.unwrap();
    let job = job["id"].as_str().unwrap().to_owned();
    let changed: Vec<usize> = (0..N).step_by(4).collect();
    put_all(&base, &token, "logs", &changed, 2).await;
    stop(serve).await;

    let worker = site.spawn(&["worker", "--concurrency", "1", "--jobs", "1"], &[]);
    let progress = format!("SELECT docs_done FROM jobs WHERE id = '{job}'");
    site.until(&progress, 20, 180).await;
    kill9(worker);
    let done = site.count(&progress).await;
    eprintln!("{backend:?}: worker killed with {done} of {N} documents re-indexed");

    let (serve, _) = site.serve(&[]).await;
    let ended = format!(
        "SELECT COUNT(*) FROM jobs WHERE id = '{job}' AND status = 'succeeded' AND retired_collection IS NULL"
    );
    site.until(&ended, 1, 240).await;
    site.until(SETTLED, N as i64, 120).await;
    stop(serve).await;
    let db = Db::connect(&site.config).await.unwrap();
    let j = db.get_job(&job).await.unwrap().unwrap();
    assert!(
        j.attempts >= 2,
        "the job was reclaimed after the kill: {j:?}"
    );
    let kb = verify(&site, "logs", N).await;
    assert_eq!((kb.generation, kb.chunk_max_tokens), (2, 24));
    assert_eq!(kb.collection, j.target_collection.unwrap());
    let store = crate::helpers::open_vector_store(&site.config).await;
    let first = ragway::store::knowledge::KnowledgeBase::collection_name(&kb.uid, 1);
    assert!(
        !store.collection_exists(&first).await.unwrap(),
        "generation 1 is dropped"
    );
    // The changed documents serve their second revision, the others their first.
    for i in 0..N {
        let d = db
            .get_document("default", "logs", &format!("doc{i}"))
            .await
            .unwrap()
            .unwrap();
        let f = Filter::eq("document_id", MatchValue::Keyword(d.id.clone()));
        let points = store.scroll(&kb.collection, &f, 100).await.unwrap();
        let want = format!("revision {}", if i % 4 == 0 { 2 } else { 1 });
        let text: String = points
            .iter()
            .map(|p| p.payload["text"].as_str().unwrap())
            .collect();
        assert!(text.contains(&want), "doc{i}: {text}");
    }
}
crate::both_backends!(
    worker_killed_mid_reindex_recovers,
    worker_killed_mid_reindex
);

/// A document whose worker is killed (`kill -9`) on each of its `ingest.max_attempts` claims
/// fails with the reason on the next start, its claims' points gone, while another document
/// queued behind it is ingested; a further restart does not take it up again.
async fn poison_pill(backend: Backend) {
    let site = Site::new(backend).await;
    let idle = [("RAGWAY__INGEST__WORKERS", "0".to_owned())];
    let (serve, base) = site.serve(&idle).await;
    let token = site.token();
    create_kb(&base, &token, "logs").await;
    // Long enough (some hundred chunks) to be killed in the middle of.
    let long: String = (0..300)
        .map(|i| text(i, 1))
        .collect::<Vec<_>>()
        .join("\n\n");
    let client = reqwest::Client::new();
    for (id, body) in [("pill", long), ("fine", text(0, 1))] {
        let res = client
            .put(format!("{base}/v1/knowledge_bases/logs/documents/{id}"))
            .bearer_auth(&token)
            .json(&json!({"text": body}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 202);
    }
    stop(serve).await;

    let attempts = [("RAGWAY__INGEST__MAX_ATTEMPTS", "3".to_owned())];
    let args = ["worker", "--concurrency", "1", "--jobs", "0"];
    for k in 1..=3 {
        let worker = site.spawn(&args, &attempts);
        let claimed = format!(
            "SELECT COUNT(*) FROM documents WHERE external_id = 'pill' AND status = 'processing' AND attempts = {k}"
        );
        site.until(&claimed, 1, 60).await;
        kill9(worker);
    }
    let worker = site.spawn(&args, &attempts);
    let failed = "SELECT COUNT(*) FROM documents WHERE external_id = 'pill' AND status = 'failed'";
    site.until(failed, 1, 60).await;
    site.until(READY, 1, 60).await;
    kill9(worker);
    let db = Db::connect(&site.config).await.unwrap();
    let pill = db
        .get_document("default", "logs", "pill")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pill.attempts, 3);
    assert_eq!(
        pill.error.as_deref(),
        Some("processing did not finish in 3 attempts (the worker crashed or timed out)")
    );

    // Started again (and given time for a lease to run out): the pill stays failed, untouched.
    let worker = site.spawn(&args, &attempts);
    tokio::time::sleep(Duration::from_secs(7)).await;
    stop(worker).await;
    let again = db
        .get_document("default", "logs", "pill")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (again.status.to_string(), again.attempts),
        ("failed".into(), 3)
    );
    let kb = db.get_kb("default", "logs").await.unwrap().unwrap();
    let store = crate::helpers::open_vector_store(&site.config).await;
    let f = Filter::eq("document_id", MatchValue::Keyword(pill.id.clone()));
    assert_eq!(
        store.count(&kb.collection, Some(&f)).await.unwrap(),
        0,
        "the killed claims' points are taken back"
    );
}
crate::both_backends!(a_poison_pill_fails_after_max_attempts, poison_pill);
