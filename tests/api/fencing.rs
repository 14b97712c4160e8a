//! Two writers of one document, interleaved exactly (the workers are held at pause points,
//! never timed by sleeps): a stale ingest worker resuming after a newer version is ready, a
//! worker whose lease ran out meeting the one that reclaimed it, an ingest racing a re-index's
//! switch, a re-index overtaken by an ingest, and two re-index requests racing. Afterwards the
//! document is `ready` with exactly the chunks of its current version, as many as its
//! `chunk_count`, and nothing else is left in the collection.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::documents::Kb;
use crate::helpers::{spawn_with, test_config, Backend, TestApp};
use crate::writers::assert_consistent;
use ragway::documents::worker::{PAUSE_AFTER_FLIP, PAUSE_BEFORE_FINISH, PAUSE_BEFORE_WRITE};
use ragway::jobs::worker::PAUSE_BEFORE_MARK;
use ragway::jobs::PAUSE_BEFORE_INSERT;
use ragway::state::AppState;
use ragway::vector::{Filter, MatchValue};

/// An app with no ingest worker and no job runner: the test runs them by hand.
async fn manual_app(backend: Backend) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), backend).await;
    config.ingest.workers = 0;
    config.jobs.workers = 0;
    spawn_with(config, Some(dir)).await
}

fn state(app: &TestApp) -> Arc<AppState> {
    app.state.clone().into_inner()
}

/// A text of several sentences, each naming version `v`: a few chunks at small chunk sizes.
fn version(v: &str) -> String {
    (0..6)
        .map(|s| {
            format!(
                "Version {v}, paragraph {s}: the ferry crossed the fjord at dawn while the \
                 crew counted seals on the skerries and logged the water temperature."
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Queue a version of `ext` (no waiting: nothing processes it yet); returns its id.
async fn queue(kb: &Kb<'_>, ext: &str, v: &str) -> String {
    let (s, b) = kb
        .call(
            Method::PUT,
            &format!("/documents/{ext}"),
            Some(json!({"text": version(v)})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    b["data"][0]["id"].as_str().unwrap().to_owned()
}

/// One ingest worker pass as `owner`, in a task of its own.
fn ingest(state: &Arc<AppState>, owner: &str) -> tokio::task::JoinHandle<bool> {
    let (state, owner) = (state.clone(), owner.to_owned());
    tokio::spawn(async move {
        ragway::documents::worker::run_once(&state, &owner)
            .await
            .unwrap()
    })
}

/// Let the lease of `doc` run out now (its worker is held, as if stalled).
async fn expire_lease(app: &TestApp, doc: &str) {
    sqlx::query("UPDATE documents SET lease_expires_at = 0 WHERE id = $1")
        .bind(doc)
        .execute(&app.sql)
        .await
        .unwrap();
}

/// The texts of `doc`'s points in the live collection of `kb`.
async fn texts(app: &TestApp, kb: &Kb<'_>, doc: &str) -> Vec<String> {
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
        .scroll(&live.collection, &f, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.payload["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `doc` holds only chunks of version `v`, and the knowledge base is consistent.
async fn only_version(app: &TestApp, kb: &Kb<'_>, doc: &str, v: &str) {
    assert_consistent(app, &kb.project, &kb.id).await;
    let texts = texts(app, kb, doc).await;
    assert!(!texts.is_empty(), "document {doc} has no chunks");
    for t in &texts {
        assert!(t.contains(&format!("Version {v},")), "a stale chunk: {t}");
    }
}

/// A worker holding version 2 is overtaken by a replace (version 3) that another worker
/// finishes; then the first one resumes and writes. Its chunks must not survive, nor may it
/// remove the current ones.
async fn stale_writer_resumes_after_a_newer_version(backend: Backend) {
    let app = manual_app(backend).await;
    let st = state(&app);
    let token = app.user_with_project("f", "fence").await;
    let kb = Kb::create(&app, &token, "kb").await;
    let doc = queue(&kb, "d", "1").await;
    assert!(ingest(&st, "setup").await.unwrap());
    queue(&kb, "d", "2").await;

    let mut held = st.pauses.arm(PAUSE_BEFORE_WRITE, &doc);
    let a = ingest(&st, "A");
    held.reached().await;
    queue(&kb, "d", "3").await;
    assert!(ingest(&st, "B").await.unwrap());
    held.release();
    assert!(a.await.unwrap());
    only_version(&app, &kb, &doc, "3").await;
}
both_backends!(
    a_stale_writer_resuming_leaves_the_current_version,
    stale_writer_resumes_after_a_newer_version
);

/// A worker whose lease ran out (held before it writes, or after it wrote) meets the worker
/// that reclaimed the document and finished it.
async fn lease_lost_mid_document(backend: Backend) {
    let app = manual_app(backend).await;
    let st = state(&app);
    let token = app.user_with_project("f", "fence").await;
    let kb = Kb::create(&app, &token, "kb").await;
    for (i, point) in [PAUSE_BEFORE_WRITE, PAUSE_BEFORE_FINISH]
        .into_iter()
        .enumerate()
    {
        let ext = format!("d{i}");
        let doc = queue(&kb, &ext, "1").await;
        assert!(ingest(&st, "setup").await.unwrap());
        queue(&kb, &ext, "2").await;
        let mut held = st.pauses.arm(point, &doc);
        let a = ingest(&st, "A");
        held.reached().await;
        expire_lease(&app, &doc).await;
        assert!(ingest(&st, "B").await.unwrap());
        held.release();
        assert!(a.await.unwrap());
        only_version(&app, &kb, &doc, "2").await;
    }
}
both_backends!(
    a_worker_that_lost_its_lease_leaves_no_trace,
    lease_lost_mid_document
);

/// A worker flips a replaced document to its new version and dies before it removes the old
/// one (held at the pause and never released, its task gone): the row says older points may
/// be left, and the sweep removes them.
async fn crash_between_flip_and_cleanup(backend: Backend) {
    let app = manual_app(backend).await;
    let st = state(&app);
    let token = app.user_with_project("f", "fence").await;
    let kb = Kb::create(&app, &token, "kb").await;
    let doc = queue(&kb, "d", "1").await;
    assert!(ingest(&st, "setup").await.unwrap());
    queue(&kb, "d", "2").await;
    let mut held = st.pauses.arm(PAUSE_AFTER_FLIP, &doc);
    let a = ingest(&st, "A");
    held.reached().await;
    a.abort();
    let row = app.state.db.document_by_id(&doc).await.unwrap().unwrap();
    assert_eq!(row.status.to_string(), "ready");
    assert_eq!(
        row.stale_below,
        Some(row.chunk_fence),
        "flagged until the old points are gone"
    );
    let texts = texts(&app, &kb, &doc).await;
    assert!(
        texts.iter().any(|t| t.contains("Version 1,")),
        "the old version is still there"
    );

    assert_eq!(
        ragway::documents::worker::sweep_stale(&st).await.unwrap(),
        1
    );
    only_version(&app, &kb, &doc, "2").await;
    let row = app.state.db.document_by_id(&doc).await.unwrap().unwrap();
    assert_eq!(row.stale_below, None);
    assert_eq!(
        ragway::documents::worker::sweep_stale(&st).await.unwrap(),
        0
    );
    drop(held);
}
both_backends!(
    a_crash_between_flip_and_cleanup_is_swept,
    crash_between_flip_and_cleanup
);

async fn reindex(kb: &Kb<'_>, max_tokens: usize) -> (u16, Value) {
    kb.call(
        Method::POST,
        "/reindex",
        Some(json!({"chunking": {"max_tokens": max_tokens, "overlap_tokens": 0}})),
    )
    .await
}

/// Run the queued job to its end as `owner`.
async fn run_job(st: &Arc<AppState>, owner: &str) {
    assert!(ragway::jobs::worker::run_once(st, owner).await.unwrap());
}

async fn job_status(app: &TestApp, id: &str) -> String {
    app.state
        .db
        .get_job(id)
        .await
        .unwrap()
        .unwrap()
        .status
        .to_string()
}

/// An ingest worker writes both generations while a re-index runs, and is held before it
/// marks the document ready; the job switches meanwhile. The document's chunk count must be
/// that of the generation now live (the job's chunking), not the one it was counted in.
async fn ingest_across_a_switch(backend: Backend) {
    let app = manual_app(backend).await;
    let st = state(&app);
    let token = app.user_with_project("f", "fence").await;
    let kb = Kb::create(&app, &token, "kb").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(queue(&kb, &format!("d{i}"), "1").await);
        assert!(ingest(&st, "setup").await.unwrap());
    }
    let (s, job) = reindex(&kb, 32).await;
    assert_eq!(s, 202, "{job}");
    queue(&kb, "d0", "2").await;
    let mut held = st.pauses.arm(PAUSE_BEFORE_FINISH, &ids[0]);
    let w = ingest(&st, "W");
    held.reached().await;
    run_job(&st, "J").await;
    assert_eq!(
        job_status(&app, job["id"].as_str().unwrap()).await,
        "succeeded"
    );
    held.release();
    assert!(w.await.unwrap());
    only_version(&app, &kb, &ids[0], "2").await;
}
both_backends!(
    an_ingest_across_a_reindex_switch_counts_the_live_generation,
    ingest_across_a_switch
);

/// A re-index job wrote a document into its target and is held before it marks it done; the
/// document changes and an ingest worker writes the new version (to both generations). The
/// job's stale write must not end up in the generation it switches to.
async fn job_overtaken_by_ingest(backend: Backend) {
    let app = manual_app(backend).await;
    let st = state(&app);
    let token = app.user_with_project("f", "fence").await;
    let kb = Kb::create(&app, &token, "kb").await;
    let doc = queue(&kb, "d", "1").await;
    assert!(ingest(&st, "setup").await.unwrap());
    let (s, job) = reindex(&kb, 32).await;
    assert_eq!(s, 202, "{job}");
    let mut held = st.pauses.arm(PAUSE_BEFORE_MARK, &doc);
    let j = tokio::spawn({
        let st = st.clone();
        async move { run_job(&st, "J").await }
    });
    held.reached().await;
    queue(&kb, "d", "2").await;
    assert!(ingest(&st, "W").await.unwrap());
    held.release();
    j.await.unwrap();
    assert_eq!(
        job_status(&app, job["id"].as_str().unwrap()).await,
        "succeeded"
    );
    only_version(&app, &kb, &doc, "2").await;
}
both_backends!(
    a_reindex_overtaken_by_an_ingest_keeps_the_new_version,
    job_overtaken_by_ingest
);

/// Two re-index requests at once: one job, the other request 409 naming it; the loser's
/// cleanup leaves the winner's collection alone, and the job then succeeds. A third request
/// while the job is queued: 409 naming it too.
async fn racing_reindex_requests(backend: Backend) {
    let app = manual_app(backend).await;
    let st = state(&app);
    let token = app.user_with_project("f", "fence").await;
    let kb = Kb::create(&app, &token, "kb").await;
    let doc = queue(&kb, "d", "1").await;
    assert!(ingest(&st, "setup").await.unwrap());

    let mut held = st.pauses.arm(PAUSE_BEFORE_INSERT, "kb");
    let first = tokio::spawn({
        let (address, token) = (app.address.clone(), token.clone());
        async move {
            let res = reqwest::Client::new()
                .post(format!("{address}/v1/knowledge_bases/kb/reindex"))
                .bearer_auth(token)
                .json(&json!({"chunking": {"max_tokens": 32, "overlap_tokens": 0}}))
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    });
    held.reached().await;
    let (s, job) = reindex(&kb, 48).await;
    assert_eq!(s, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    held.release();
    let (s, b) = first.await.unwrap();
    assert_eq!(s, 409, "{b}");
    let message = b["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&id),
        "the 409 names the running job: {message}"
    );
    let (s, b) = reindex(&kb, 64).await;
    assert_eq!(s, 409, "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains(&id), "{b}");

    let target = app
        .state
        .db
        .get_job(&id)
        .await
        .unwrap()
        .unwrap()
        .target_collection
        .unwrap();
    assert!(
        app.state.vectors.collection_exists(&target).await.unwrap(),
        "the loser dropped the winner's collection {target}"
    );
    run_job(&st, "J").await;
    assert_eq!(job_status(&app, &id).await, "succeeded");
    let live = app
        .state
        .db
        .get_kb(&kb.project, "kb")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (live.collection.as_str(), live.chunk_max_tokens),
        (target.as_str(), 48)
    );
    only_version(&app, &kb, &doc, "1").await;
}
both_backends!(
    two_reindex_requests_at_once_make_one_job,
    racing_reindex_requests
);
