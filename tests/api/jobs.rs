//! Re-index jobs end to end: a re-index while searches run (never empty, never mixed, the
//! switch observed), documents changed during a job reaching the new generation, a switch of
//! embedding model, cancel keeping the old generation, a worker process killed mid-job and
//! another finishing it with every document indexed exactly once, and two PostgreSQL workers
//! never claiming the same job.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::documents::Kb;
use crate::helpers::{models_data_dir, ragway_command, spawn_with, test_config, Backend, TestApp};
use ragway::store::jobs::{Job, NewJob, ReindexTarget};
use ragway::vector::{Filter, MatchValue};
use ragway_protocol::knowledge::ChunkingSettings;

const TOPICS: [&str; 12] = [
    "herons wading in shallow estuaries",
    "glaciers carving valleys in the alps",
    "volcanic eruptions in iceland",
    "sourdough bread fermentation",
    "the migration of monarch butterflies",
    "lighthouses on rocky coasts",
    "coral reefs and bleaching",
    "medieval cathedral construction",
    "desert cacti storing water",
    "honeybee colonies and waggle dances",
    "tidal energy turbines",
    "the orbit of jupiter's moons",
];

/// A document of a few hundred tokens about topic `i`: several chunks at small chunk sizes.
fn text(i: usize) -> String {
    let topic = TOPICS[i % TOPICS.len()];
    let mut t = format!("Notes number {i} on {topic}.\n\n");
    for s in 0..8 {
        t.push_str(&format!(
            "Observation {s} about {topic}: researchers recorded how {topic} change with the \
             seasons, what shapes them, and which measurements in study {i} surprised them \
             most. "
        ));
    }
    t
}

async fn poll_job(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (s, j) = app
            .call(
                Method::GET,
                &format!("/v1/jobs/{id}"),
                Some(token),
                &[],
                None,
            )
            .await;
        assert_eq!(s, 200, "{j}");
        if !matches!(j["status"].as_str(), Some("queued" | "running")) {
            return j;
        }
        assert!(Instant::now() < deadline, "job did not end: {j}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fill(kb: &Kb<'_>, n: usize) {
    for i in 0..n {
        let (s, b) = kb.put_text(&format!("doc{i}"), &text(i), json!({})).await;
        assert!(s == 200 || s == 201, "{b}");
        assert_eq!(b["data"][0]["status"], "ready", "{b}");
    }
}

async fn collection_exists(app: &TestApp, name: &str) -> bool {
    app.state.vectors.collection_exists(name).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_switches_generations_while_searches_never_come_back_empty() {
    let app = crate::helpers::spawn_app().await;
    let token = app.user_with_project("ana", "p1").await;
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/knowledge_bases",
            Some(&token),
            &[],
            Some(json!({"id": "nature", "chunking": {"max_tokens": 200, "overlap_tokens": 20}})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let kb = Kb::open(&app, &token, "nature").await;
    fill(&kb, 12).await;
    let old = app
        .state
        .db
        .get_kb(&kb.project, "nature")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.generation, 1);

    // A search loop: every answer must have hits, all from one generation.
    let stop = Arc::new(AtomicBool::new(false));
    let searches = tokio::spawn({
        let (client, url, token, stop) = (
            app.client.clone(),
            app.url("/v1/knowledge_bases/nature/search"),
            token.clone(),
            stop.clone(),
        );
        async move {
            let mut seen: Vec<u64> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let res = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"query": "volcanic eruptions in iceland", "k": 5}))
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap();
                assert_eq!(status, 200, "search failed during the re-index: {body}");
                let hits = body["data"].as_array().unwrap();
                assert!(
                    !hits.is_empty(),
                    "a search came back empty during the re-index"
                );
                let gens: HashSet<u64> = hits
                    .iter()
                    .map(|h| h["generation"].as_u64().unwrap())
                    .collect();
                assert_eq!(gens.len(), 1, "one answer mixed generations: {gens:?}");
                assert!(
                    hits[0]["text"].as_str().unwrap().contains("volcanic"),
                    "{body}"
                );
                seen.push(*gens.iter().next().unwrap());
            }
            seen
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (s, job) = kb
        .call(
            Method::POST,
            "/reindex",
            Some(json!({"chunking": {"max_tokens": 48, "overlap_tokens": 8}})),
        )
        .await;
    assert_eq!(s, 202, "{job}");
    assert_eq!(job["status"], "queued");
    assert_eq!(job["target_generation"], 2);
    assert_eq!(job["target_chunking"]["max_tokens"], 48);
    // A second re-index of the same knowledge base while one is active: 409.
    let (s, b) = kb.call(Method::POST, "/reindex", None).await;
    assert_eq!(s, 409, "{b}");
    // The knowledge base shows the job in progress.
    let (_, desc) = kb.call(Method::GET, "", None).await;
    assert!(
        desc["reindex"]["id"] == job["id"] || desc["generation"] == 2,
        "{desc}"
    );

    let done = poll_job(&app, &token, job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["progress"]["documents_done"], 12, "{done}");
    assert_eq!(done["progress"]["documents_total"], 12, "{done}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = searches.await.unwrap();

    assert_eq!(
        seen.first(),
        Some(&1),
        "searches before the switch answer from generation 1"
    );
    assert_eq!(
        seen.last(),
        Some(&2),
        "searches after the switch answer from generation 2"
    );
    let switches = seen.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(switches, 1, "exactly one switch, never back: {seen:?}");

    let (_, desc) = kb.call(Method::GET, "", None).await;
    assert_eq!(desc["generation"], 2, "{desc}");
    assert_eq!(desc["chunking"]["max_tokens"], 48, "{desc}");
    assert!(desc["reindex"].is_null(), "{desc}");
    let new = app
        .state
        .db
        .get_kb(&kb.project, "nature")
        .await
        .unwrap()
        .unwrap();
    // The runner drops the old generation right after the switch.
    let deadline = Instant::now() + Duration::from_secs(30);
    while collection_exists(&app, &old.collection).await {
        assert!(Instant::now() < deadline, "the old generation is dropped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Chunk counts are the new generation's: smaller chunks, more of them.
    let new_total = app
        .state
        .vectors
        .count(&new.collection, None)
        .await
        .unwrap();
    assert_eq!(desc["chunks"].as_u64().unwrap(), new_total);
    assert!(
        new_total > 12 * 2,
        "48-token chunks: several per document, got {new_total}"
    );

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ragway_jobs{kind=\"reindex_kb\",status=\"succeeded\"} 1"),
        "{metrics}"
    );

    // The job is listed, and filters work.
    let (s, list) = app
        .call(
            Method::GET,
            "/v1/jobs?status=succeeded&kb_id=nature",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["data"][0]["id"], job["id"]);
    let (s, list) = app
        .call(
            Method::GET,
            "/v1/jobs?status=running",
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let (s, b) = app
        .call(Method::GET, "/v1/jobs?status=done", Some(&token), &[], None)
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["param"], "status");
    // Another project sees none of it.
    let other = app.user_with_project("bo", "p2").await;
    let (s, _) = app
        .call(
            Method::GET,
            &format!("/v1/jobs/{}", job["id"].as_str().unwrap()),
            Some(&other),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 404);
    // Ended jobs cannot be canceled.
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/jobs/{}/cancel", job["id"].as_str().unwrap()),
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 409, "{b}");
}

/// A config whose app runs no job runner: the test drives jobs by hand.
async fn manual_jobs_app(backend: Backend, extra_model: bool) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), backend).await;
    config.jobs.workers = 0;
    if extra_model {
        config
            .embedding
            .models
            .push(ragway::config::EmbeddingModelConfig {
                name: "minilm-copy".into(),
                dir: models_data_dir().join("models/all-minilm-l6-v2"),
            });
    }
    spawn_with(config, Some(dir)).await
}

async fn documents_changed_during_a_reindex_reach_the_new_generation(backend: Backend) {
    let app = manual_jobs_app(backend, false).await;
    let token = app.user_with_project("ana", "p1").await;
    let kb = Kb::create(&app, &token, "notes").await;
    fill(&kb, 4).await;
    let (s, job) = kb
        .call(
            Method::POST,
            "/reindex",
            Some(json!({"chunking": {"max_tokens": 64, "overlap_tokens": 0}})),
        )
        .await;
    assert_eq!(s, 202, "{job}");
    let job_id = job["id"].as_str().unwrap().to_owned();

    // While the job is queued: a new document, a changed one, a deleted one.
    let (s, b) = kb
        .put_text(
            "late",
            "Pelicans dive for fish off the coast of Peru.",
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"][0]["outcome"], "created", "{b}");
    let (s, b) = kb
        .put_text(
            "doc1",
            "Rewritten: auroras glow green over Tromso in winter.",
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"][0]["outcome"], "replaced", "{b}");
    assert_eq!(b["data"][0]["status"], "ready", "{b}");
    let (s, b) = kb.call(Method::DELETE, "/documents/doc2", None).await;
    assert_eq!(s, 200, "{b}");
    // The live generation already has the new document; the job's target got it too.
    let hits = kb.search("pelicans diving for fish", json!({})).await;
    assert_eq!(hits[0]["external_id"], "late");
    assert_eq!(hits[0]["generation"], 1);
    let marks: Vec<(String, String)> =
        sqlx::query_as("SELECT document_id, owner FROM job_documents WHERE job_id = $1")
            .bind(&job_id)
            .fetch_all(&app.sql)
            .await
            .unwrap();
    assert_eq!(
        marks.len(),
        2,
        "the two ingests during the job were written to it: {marks:?}"
    );
    assert!(marks.iter().all(|(_, o)| o == "ingest"));
    // A document added and deleted while the job waits: marked, then forgotten by the job.
    let (_, b) = kb
        .put_text("gone", "A short-lived note about walruses.", json!({}))
        .await;
    assert_eq!(b["data"][0]["status"], "ready", "{b}");
    let j = app.state.db.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!((j.docs_done, j.status.as_str()), (3, "queued"));
    let (s, b) = kb.call(Method::DELETE, "/documents/gone", None).await;
    assert_eq!(s, 200, "{b}");

    // Run the job by hand.
    let state = app.state.clone().into_inner();
    assert!(ragway::jobs::worker::run_once(&state, "runner-1")
        .await
        .unwrap());
    let done = poll_job(&app, &token, &job_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    // 4 - 1 deleted + 1 new = 4 documents; the two written by ingest were not redone.
    assert_eq!(done["progress"]["documents_done"], 4, "{done}");
    let (marked, chunks): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(chunks), 0) AS BIGINT) FROM job_documents WHERE job_id = $1",
    )
    .bind(&job_id)
    .fetch_one(&app.sql)
    .await
    .unwrap();
    assert_eq!(marked, 4, "the deleted document's mark is gone");
    assert_eq!(
        done["progress"]["chunks"], chunks,
        "the counters are exact: {done}"
    );
    let owners: BTreeMap<String, String> = sqlx::query_as(
        "SELECT d.external_id, m.owner FROM job_documents m JOIN documents d ON d.id = m.document_id WHERE m.job_id = $1",
    )
    .bind(&job_id)
    .fetch_all(&app.sql)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(owners["late"], "ingest");
    assert_eq!(owners["doc1"], "ingest");
    assert_eq!(owners["doc0"], "runner-1");
    assert_eq!(owners["doc3"], "runner-1");

    let hits = kb.search("pelicans diving for fish", json!({})).await;
    assert_eq!(hits[0]["external_id"], "late");
    assert_eq!(hits[0]["generation"], 2);
    let hits = kb.search("auroras over Tromso", json!({})).await;
    assert_eq!(hits[0]["external_id"], "doc1");
    assert!(hits
        .iter()
        .all(|h| !h["text"].as_str().unwrap().contains("Notes number 1 ")));
    let new = app
        .state
        .db
        .get_kb(&kb.project, "notes")
        .await
        .unwrap()
        .unwrap();
    let deleted = Filter::eq("external_id", MatchValue::Keyword("doc2".into()));
    assert_eq!(
        app.state
            .vectors
            .count(&new.collection, Some(&deleted))
            .await
            .unwrap(),
        0
    );
    // The old generation was dropped right after the switch.
    let job = app.state.db.get_job(&job_id).await.unwrap().unwrap();
    assert_eq!(job.retired_collection, None);
    // A runner that died between the switch and the drop leaves the collection recorded on
    // the job: the next sweep drops it. A live collection is never dropped by a sweep.
    let leftover = "kb_leftover_g1";
    app.state
        .vectors
        .ensure_collection(leftover, 384)
        .await
        .unwrap();
    for collection in [leftover, new.collection.as_str()] {
        sqlx::query("UPDATE jobs SET retired_collection = $1 WHERE id = $2")
            .bind(collection)
            .bind(&job_id)
            .execute(&app.sql)
            .await
            .unwrap();
        ragway::jobs::sweep_retired(&app.state, None).await;
        let job = app.state.db.get_job(&job_id).await.unwrap().unwrap();
        assert_eq!(job.retired_collection, None, "swept");
    }
    assert!(!collection_exists(&app, leftover).await);
    assert!(
        collection_exists(&app, &new.collection).await,
        "the live one stays"
    );

    // Every document's recorded chunk count is its count in the new generation.
    let (_, docs) = kb.call(Method::GET, "/documents", None).await;
    for d in docs["data"].as_array().unwrap() {
        let f = Filter::eq(
            "document_id",
            MatchValue::Keyword(d["id"].as_str().unwrap().into()),
        );
        let n = app
            .state
            .vectors
            .count(&new.collection, Some(&f))
            .await
            .unwrap();
        assert_eq!(d["chunk_count"].as_u64().unwrap(), n, "{d}");
    }
}
crate::both_backends!(
    changes_during_reindex,
    documents_changed_during_a_reindex_reach_the_new_generation
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_switches_the_embedding_model() {
    let app = manual_jobs_app(Backend::Sqlite, true).await;
    let token = app.user_with_project("ana", "p1").await;
    let kb = Kb::create(&app, &token, "notes").await;
    fill(&kb, 3).await;
    let (s, b) = kb
        .call(
            Method::POST,
            "/reindex",
            Some(json!({"embedding_model": "nope"})),
        )
        .await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(b["error"]["param"], "embedding_model");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("minilm-copy"),
        "{b}"
    );
    let (s, b) = kb
        .call(
            Method::POST,
            "/reindex",
            Some(json!({"chunking": {"max_tokens": 9999}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["param"], "chunking.max_tokens");
    let (s, b) = kb
        .call(
            Method::POST,
            "/reindex",
            Some(json!({"embeding_model": "x"})),
        )
        .await;
    assert_eq!(s, 400, "{b}");

    let (s, job) = kb
        .call(
            Method::POST,
            "/reindex",
            Some(json!({"embedding_model": "minilm-copy"})),
        )
        .await;
    assert_eq!(s, 202, "{job}");
    let state = app.state.clone().into_inner();
    assert!(ragway::jobs::worker::run_once(&state, "runner")
        .await
        .unwrap());
    let done = poll_job(&app, &token, job["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let (_, desc) = kb.call(Method::GET, "", None).await;
    assert_eq!(desc["embedding_model"], "minilm-copy", "{desc}");
    assert_eq!(desc["generation"], 2);
    let hits = kb
        .search(
            "volcanic eruptions in iceland",
            json!({"search_mode": "dense"}),
        )
        .await;
    assert_eq!(hits[0]["external_id"], "doc2");
    assert_eq!(hits[0]["generation"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_leaves_the_old_generation_serving() {
    let app = manual_jobs_app(Backend::Sqlite, false).await;
    let token = app.user_with_project("ana", "p1").await;
    let kb = Kb::create(&app, &token, "notes").await;
    fill(&kb, 24).await;
    let live = app
        .state
        .db
        .get_kb(&kb.project, "notes")
        .await
        .unwrap()
        .unwrap();

    // Canceled while queued.
    let (s, job) = kb
        .call(
            Method::POST,
            "/reindex",
            Some(json!({"chunking": {"max_tokens": 32, "overlap_tokens": 0}})),
        )
        .await;
    assert_eq!(s, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let target = app
        .state
        .db
        .get_job(&id)
        .await
        .unwrap()
        .unwrap()
        .target_collection
        .unwrap();
    assert!(collection_exists(&app, &target).await);
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/jobs/{id}/cancel"),
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "canceled");
    assert!(
        !collection_exists(&app, &target).await,
        "a canceled job's collection is dropped"
    );
    let state = app.state.clone().into_inner();
    assert!(
        !ragway::jobs::worker::run_once(&state, "runner")
            .await
            .unwrap(),
        "nothing to run"
    );

    // Canceled while running: the runner stops at its next guarded write.
    let (s, job) = kb
        .call(
            Method::POST,
            "/reindex",
            Some(json!({"chunking": {"max_tokens": 32, "overlap_tokens": 0}})),
        )
        .await;
    assert_eq!(s, 202, "{job}");
    assert_eq!(
        job["target_generation"], 3,
        "a canceled generation's number is not reused"
    );
    let id = job["id"].as_str().unwrap().to_owned();
    let target = app
        .state
        .db
        .get_job(&id)
        .await
        .unwrap()
        .unwrap()
        .target_collection
        .unwrap();
    let runner = tokio::spawn({
        let state = state.clone();
        async move {
            ragway::jobs::worker::run_once(&state, "runner")
                .await
                .unwrap()
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j: Job = app.state.db.get_job(&id).await.unwrap().unwrap();
        if j.docs_done >= 1 {
            assert!(
                j.docs_done < 24,
                "the job finished before it could be canceled"
            );
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (s, b) = app
        .call(
            Method::POST,
            &format!("/v1/jobs/{id}/cancel"),
            Some(&token),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(runner.await.unwrap());
    let j = app.state.db.get_job(&id).await.unwrap().unwrap();
    assert_eq!(j.status, "canceled");
    assert!(j.docs_done < 24);
    assert!(
        !collection_exists(&app, &target).await,
        "a canceled job's collection is dropped"
    );
    let now = app
        .state
        .db
        .get_kb(&kb.project, "notes")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        now.collection, live.collection,
        "the old generation still serves"
    );
    assert_eq!(now.generation, 1);
    let hits = kb.search("tidal energy turbines", json!({})).await;
    let top = hits[0]["external_id"].as_str().unwrap();
    assert!(top == "doc10" || top == "doc22", "{top}");
    assert_eq!(hits[0]["generation"], 1);
}

/// A `ragway worker` process running only jobs, on the data dir (SQLite + Qdrant Edge) of a
/// stopped test app.
fn worker_process(data_dir: &std::path::Path) -> std::process::Child {
    ragway_command(data_dir)
        .args(["worker", "--concurrency", "0", "--jobs", "1"])
        .env("RAGWAY__JOBS__LEASE_SECS", "2")
        .env("RAGWAY__LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_process_job_is_finished_by_another_exactly_once() {
    const DOCS: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let mut config = test_config(&data, Backend::Sqlite).await;
    config.jobs.workers = 0;
    let app = spawn_with(config.clone(), None).await;
    let token = app.user_with_project("ana", "p1").await;
    let kb = Kb::create(&app, &token, "big").await;
    fill(&kb, DOCS).await;
    let project = kb.project.clone();
    let (s, job) = kb
        .call(
            Method::POST,
            "/reindex",
            Some(json!({"chunking": {"max_tokens": 40, "overlap_tokens": 0}})),
        )
        .await;
    assert_eq!(s, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let old = app.state.db.get_kb(&project, "big").await.unwrap().unwrap();
    // Release the data dir (Qdrant Edge is one process's) for the worker processes.
    app.shutdown().await;
    let db = ragway::store::Db::connect(&config).await.unwrap();

    let mut first = worker_process(&data);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let j = db.get_job(&id).await.unwrap().unwrap();
        if j.docs_done >= 5 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first worker made no progress: {j:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap(); // SIGKILL: no cleanup, the lease is left to run out
    first.wait().unwrap();
    let at_kill: HashMap<String, String> =
        sqlx::query_as("SELECT document_id, owner FROM job_documents WHERE job_id = $1")
            .bind(&id)
            .fetch_all(&crate::helpers::sql(&config).await)
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert!(
        at_kill.len() >= 5 && at_kill.len() < DOCS,
        "killed mid-job: {} done",
        at_kill.len()
    );
    let j = db.get_job(&id).await.unwrap().unwrap();
    assert_eq!(j.status, "running", "the dead worker still holds the lease");

    let mut second = worker_process(&data);
    let deadline = Instant::now() + Duration::from_secs(300);
    // Ended, and what it left behind (the old generation) dropped.
    let j = loop {
        let j = db.get_job(&id).await.unwrap().unwrap();
        if !j.is_active() && j.retired_collection.is_none() {
            break j;
        }
        assert!(
            Instant::now() < deadline,
            "the second worker did not finish: {j:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(j.status, "succeeded", "{j:?}");
    assert_eq!(
        j.attempts, 2,
        "claimed by the first worker, reclaimed by the second"
    );
    assert_eq!(j.docs_done, DOCS as i64);

    // Nothing the first worker finished was redone by the second.
    let marks: HashMap<String, (String, i64)> = sqlx::query_as::<_, (String, String, i64)>(
        "SELECT document_id, owner, chunks FROM job_documents WHERE job_id = $1",
    )
    .bind(&id)
    .fetch_all(&crate::helpers::sql(&config).await)
    .await
    .unwrap()
    .into_iter()
    .map(|(d, o, c)| (d, (o, c)))
    .collect();
    assert_eq!(marks.len(), DOCS);
    for (doc, owner) in &at_kill {
        assert_eq!(&marks[doc].0, owner, "document {doc} was redone");
    }
    let owners: HashSet<&String> = marks.values().map(|(o, _)| o).collect();
    assert_eq!(owners.len(), 2, "both workers did part of the job");

    // Every document is in the new generation exactly once: its chunks, each ordinal once.
    let kb = db.get_kb(&project, "big").await.unwrap().unwrap();
    assert_eq!(kb.generation, 2);
    assert_eq!(kb.chunk_max_tokens, 40);
    let store = crate::helpers::open_vector_store(&config).await;
    assert!(!store.collection_exists(&old.collection).await.unwrap());
    let mut total = 0;
    for (doc, (_, chunks)) in &marks {
        let f = Filter::eq("document_id", MatchValue::Keyword(doc.clone()));
        let hits = store.scroll(&kb.collection, &f, 10_000).await.unwrap();
        let ordinals: Vec<u64> = hits
            .iter()
            .map(|h| h.payload["ordinal"].as_u64().unwrap())
            .collect();
        let unique: HashSet<u64> = ordinals.iter().copied().collect();
        assert_eq!(ordinals.len() as i64, *chunks, "document {doc}");
        assert_eq!(
            unique.len(),
            ordinals.len(),
            "document {doc} has duplicate chunks"
        );
        assert!(hits.iter().all(|h| h.payload["generation"] == 2));
        total += hits.len();
    }
    assert_eq!(
        store.count(&kb.collection, None).await.unwrap() as usize,
        total,
        "no strays"
    );
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_workers_never_claim_the_same_job() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path(), Backend::Postgres).await;
    let a = ragway::store::Db::connect(&config).await.unwrap();
    let b = ragway::store::Db::connect(&config).await.unwrap();
    let now = ragway::store::now_ms();
    for i in 0..40 {
        let target = ReindexTarget {
            generation: 2,
            collection: format!("c{i}"),
            model: "m".into(),
            dim: 384,
            chunking: ChunkingSettings {
                max_tokens: 100,
                overlap_tokens: 10,
                markdown: true,
            },
        };
        let new = NewJob::reindex("p", format!("kb{i}"), target, 0);
        let job = Job::queued(
            NewJob {
                id: format!("job_{i:03}"),
                ..new
            },
            now,
        );
        assert!(a.insert_job(&job).await.unwrap());
    }
    let claim_all = |db: ragway::store::Db, owner: &'static str| async move {
        let mut got = Vec::new();
        while let Some(j) = db.claim_job(owner, 60_000, 5).await.unwrap() {
            assert_eq!(j.lease_owner.as_deref(), Some(owner));
            got.push(j.id);
            tokio::task::yield_now().await;
        }
        got
    };
    let (x, y) = tokio::join!(
        tokio::spawn(claim_all(a.clone(), "worker-a")),
        tokio::spawn(claim_all(b.clone(), "worker-b"))
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let xs: HashSet<_> = x.iter().collect();
    let ys: HashSet<_> = y.iter().collect();
    assert!(xs.is_disjoint(&ys), "a job was claimed twice");
    assert_eq!(xs.len() + ys.len(), 40, "every job claimed once");
    assert_eq!(x.len() + y.len(), 40);
    // A live lease is not reclaimed; an expired one is.
    assert!(b.claim_job("worker-b", 60_000, 5).await.unwrap().is_none());
    sqlx::query("UPDATE jobs SET lease_expires_at = 0 WHERE id = 'job_007'")
        .execute(&crate::helpers::sql(&config).await)
        .await
        .unwrap();
    let j = b.claim_job("worker-c", 60_000, 5).await.unwrap().unwrap();
    assert_eq!(j.id, "job_007");
    assert_eq!(j.attempts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_cli_waits_for_the_job_and_jobs_cli_reports_it() {
    use crate::cli::jobs::{JobsCommand, ReindexArgs};
    let app = crate::helpers::spawn_app().await;
    let token = app.user_with_project("ana", "p1").await;
    let kb = Kb::create(&app, &token, "notes").await;
    fill(&kb, 3).await;
    let server = crate::cli::client::ServerArgs {
        url: app.address.clone(),
        token: Some(token.clone()),
        project: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let args = |model: Option<&str>| ReindexArgs {
        kb: "notes".into(),
        embedding_model: model.map(str::to_owned),
        max_tokens: Some(64),
        overlap_tokens: Some(8),
        markdown: None,
        wait: true,
        server: server.clone(),
    };
    let err = crate::cli::jobs::reindex(args(Some("nope")), dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown embedding model `nope`"), "{err}");
    crate::cli::jobs::reindex(args(None), dir.path())
        .await
        .unwrap();
    let (_, desc) = kb.call(Method::GET, "", None).await;
    assert_eq!(
        desc["generation"], 2,
        "--wait returned after the switch: {desc}"
    );
    assert_eq!(desc["chunking"]["max_tokens"], 64);

    let (_, list) = app
        .call(Method::GET, "/v1/jobs", Some(&token), &[], None)
        .await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    crate::cli::jobs::jobs(
        JobsCommand::List {
            status: Some("succeeded".into()),
            kind: None,
            kb: Some("notes".into()),
            limit: 5,
            json: false,
            server: server.clone(),
        },
        dir.path(),
    )
    .await
    .unwrap();
    crate::cli::jobs::jobs(
        JobsCommand::Show {
            id: id.clone(),
            server: server.clone(),
        },
        dir.path(),
    )
    .await
    .unwrap();
    let err = crate::cli::jobs::jobs(
        JobsCommand::Cancel {
            id: id.clone(),
            server: server.clone(),
        },
        dir.path(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("has ended already (succeeded)"), "{err}");
    let err = crate::cli::jobs::jobs(
        JobsCommand::Show {
            id: "job_missing".into(),
            server,
        },
        dir.path(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("does not exist"), "{err}");
}
