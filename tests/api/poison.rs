//! Poison pills, in-process: a document that runs past `ingest.document_timeout_secs` fails
//! naming the limit (its points taken back), a re-index meeting such a
//! document fails naming it and keeps the live generation, and a job whose runners died
//! `jobs.max_attempts` times fails with the reason instead of being reclaimed again.
//! (`crash.rs` kills real processes for the document case.)

use reqwest::Method;
use serde_json::json;

use crate::documents::Kb;
use crate::helpers::{spawn_with, test_config, Backend, TestApp};
use ragway::vector::{Filter, MatchValue};

/// Some hundred chunks: seconds of embedding.
fn long_text(paragraphs: usize) -> String {
    (0..paragraphs)
        .map(|i| {
            format!(
                "Paragraph {i}: the cartographer surveyed valley {i}, measured the river's bends \
                 and noted the villages, mills and bridges along its banks before winter came."
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

async fn points_of(app: &TestApp, kb: &Kb<'_>, doc: &str) -> u64 {
    let live = app
        .state
        .db
        .get_kb(&kb.project, &kb.id)
        .await
        .unwrap()
        .unwrap();
    let f = Filter::eq("document_id", MatchValue::Keyword(doc.to_owned()));
    app.state
        .vectors
        .count(&live.collection, Some(&f))
        .await
        .unwrap()
}

async fn past_the_deadline(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), backend).await;
    config.ingest.document_timeout_secs = 1;
    let app = spawn_with(config, Some(dir)).await;
    let token = app.user_with_project("p", "poison").await;
    let kb = Kb::create(&app, &token, "kb").await;
    let (s, b) = kb.put_text("long", &long_text(1200), json!({})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"][0]["status"], "failed", "{b}");
    assert_eq!(
        b["data"][0]["error"],
        "processing took longer than ingest.document_timeout_secs (1 s)"
    );
    let id = b["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        points_of(&app, &kb, &id).await,
        0,
        "its points are taken back"
    );
}
crate::both_backends!(a_document_past_its_deadline_fails, past_the_deadline);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reindex_meeting_a_document_past_the_deadline_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), Backend::Sqlite).await;
    let app = spawn_with(config.clone(), None).await;
    let token = app.user_with_project("p", "poison").await;
    let kb = Kb::create(&app, &token, "kb").await;
    let (s, b) = kb.put_text("long", &long_text(400), json!({})).await;
    assert_eq!((s, &b["data"][0]["status"]), (200, &json!("ready")), "{b}");
    let id = b["data"][0]["id"].as_str().unwrap().to_owned();
    drop(kb);
    app.shutdown().await;

    config.ingest.document_timeout_secs = 1;
    let app = spawn_with(config, Some(dir)).await;
    let kb = Kb::open(&app, &token, "kb").await;
    let (s, job) = kb
        .call(
            Method::POST,
            "/reindex",
            Some(json!({"chunking": {"max_tokens": 24, "overlap_tokens": 0}})),
        )
        .await;
    assert_eq!(s, 202, "{job}");
    let job_id = job["id"].as_str().unwrap();
    let job = loop {
        let j = app.state.db.get_job(job_id).await.unwrap().unwrap();
        if !j.is_active() {
            break j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(job.status.to_string(), "failed");
    assert_eq!(
        job.error.as_deref(),
        Some(
            format!(
                "document {id}: processing took longer than ingest.document_timeout_secs (1 s)"
            )
            .as_str()
        )
    );
    let live = app
        .state
        .db
        .get_kb(&kb.project, "kb")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.generation, 1, "the live generation keeps serving");
    assert!(points_of(&app, &kb, &id).await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_runners_died_max_attempts_times_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), Backend::Sqlite).await;
    config.jobs.workers = 0;
    config.jobs.max_attempts = 2;
    let app = spawn_with(config, Some(dir)).await;
    let token = app.user_with_project("p", "poison").await;
    let kb = Kb::create(&app, &token, "kb").await;
    let (s, b) = kb
        .put_text("d", "Herons wade in shallow water.", json!({}))
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, job) = kb.call(Method::POST, "/reindex", Some(json!({}))).await;
    assert_eq!(s, 202, "{job}");
    let job_id = job["id"].as_str().unwrap();
    let db = &app.state.db;
    // Two runners claim it and die at once (their leases are over as soon as they begin).
    for dead in ["dead1", "dead2"] {
        let j = db.claim_job(dead, -1, 2).await.unwrap().unwrap();
        assert_eq!(j.id, job_id);
    }
    assert!(
        db.claim_job("dead3", -1, 2).await.unwrap().is_none(),
        "no third claim"
    );
    let state = app.state.clone().into_inner();
    assert!(!ragway::jobs::worker::run_once(&state, "J").await.unwrap());
    let j = db.get_job(job_id).await.unwrap().unwrap();
    assert_eq!((j.status.to_string(), j.attempts), ("failed".into(), 2));
    assert_eq!(
        j.error.as_deref(),
        Some("processing did not finish in 2 attempts (the worker crashed or timed out)")
    );
    let target = j.target_collection.unwrap();
    assert!(
        !app.state.vectors.collection_exists(&target).await.unwrap(),
        "its half-built generation is dropped"
    );
    let live = db.get_kb(&kb.project, "kb").await.unwrap().unwrap();
    assert_eq!(live.generation, 1);
}
