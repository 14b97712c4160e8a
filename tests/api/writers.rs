//! Concurrent writers on both databases: many PUTs of distinct documents at once, many PUTs of
//! one external id at once, and 64 writers of every kind (uploads, PUTs of new and of the same
//! ids, deletes, knowledge-base creates). None may fail, and afterwards every accepted document
//! is there exactly once: one row, `ready`, with as many points as its `chunk_count`, and no
//! point belongs to a document that is gone.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app_on, Backend, TestApp};
use ragway::vector::{Filter, MatchValue};

/// Statuses answered, by code, for the report a failing test prints.
fn tally(statuses: &[u16]) -> BTreeMap<u16, usize> {
    let mut t = BTreeMap::new();
    for s in statuses {
        *t.entry(*s).or_default() += 1;
    }
    t
}

async fn put(app: &TestApp, token: &str, kb: &str, ext: &str, text: &str) -> (u16, Value) {
    app.call(
        Method::PUT,
        &format!("/v1/knowledge_bases/{kb}/documents/{ext}"),
        Some(token),
        &[],
        Some(json!({"text": text, "title": ext})),
    )
    .await
}

async fn create_kb(app: &TestApp, token: &str, id: &str) -> (u16, Value) {
    app.call(
        Method::POST,
        "/v1/knowledge_bases",
        Some(token),
        &[],
        Some(json!({"id": id})),
    )
    .await
}

fn body(i: usize) -> String {
    format!(
        "Field note {i}: the kestrel hovered over the meadow for {i} seconds before it dived, \
         and the observers wrote down the wind, the light and the grass height each time."
    )
}

/// Wait until no document of the project is queued or processing.
pub async fn settle(app: &TestApp, project: &str) {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (busy,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM documents WHERE project_id = $1 AND status IN ('queued', 'processing')",
        )
        .bind(project)
        .fetch_one(&app.sql)
        .await
        .unwrap();
        if busy == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{busy} documents still busy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every document of `kb` is `ready` with exactly `chunk_count` points in the live collection,
/// and the collection holds no other point. Returns the documents by external id (or id).
pub async fn assert_consistent(app: &TestApp, project: &str, kb: &str) -> HashMap<String, i64> {
    let kb = app.state.db.get_kb(project, kb).await.unwrap().unwrap();
    let rows: Vec<(String, Option<String>, String, i64)> = sqlx::query_as(
        "SELECT id, external_id, status, chunk_count FROM documents WHERE project_id = $1 AND kb_id = $2",
    )
    .bind(project)
    .bind(&kb.id)
    .fetch_all(&app.sql)
    .await
    .unwrap();
    let mut total = 0;
    let mut docs = HashMap::new();
    for (id, ext, status, chunks) in rows {
        assert_eq!(status, "ready", "document {id} ({ext:?})");
        let f = Filter::eq("document_id", MatchValue::Keyword(id.clone()));
        let points = app
            .state
            .vectors
            .count(&kb.collection, Some(&f))
            .await
            .unwrap();
        assert_eq!(
            points as i64, chunks,
            "document {id} ({ext:?}): chunk_count vs points"
        );
        assert!(chunks > 0, "document {id} is ready with no chunks");
        total += points;
        docs.insert(ext.unwrap_or(id), chunks);
    }
    let all = app.state.vectors.count(&kb.collection, None).await.unwrap();
    assert_eq!(
        all, total,
        "points of no document (orphans) in {}",
        kb.collection
    );
    docs
}

async fn distinct_puts(backend: Backend) {
    const N: usize = 32;
    let app = spawn_app_on(backend).await;
    let token = app.user_with_project("w", "writers").await;
    let (s, b) = create_kb(&app, &token, "kb").await;
    assert_eq!(s, 201, "{b}");
    let answers = join_all((0..N).map(|i| {
        let (app, token) = (&app, &token);
        async move { put(app, token, "kb", &format!("d{i}"), &body(i)).await }
    }))
    .await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    eprintln!(
        "{backend:?}: {N} concurrent PUTs of distinct documents: {:?}",
        tally(&statuses)
    );
    for (s, b) in &answers {
        assert!(matches!(s, 200..=202), "{s}: {b}");
    }
    settle(&app, "writers").await;
    let docs = assert_consistent(&app, "writers", "kb").await;
    assert_eq!(docs.len(), N);
}
both_backends!(concurrent_puts_of_distinct_documents, distinct_puts);

async fn same_id_puts(backend: Backend) {
    // Rounds of N PUTs of one new external id: the first write of an id is the race (both
    // writers see no document and insert), so each round starts it again.
    const N: usize = 16;
    const ROUNDS: usize = 6;
    let app = spawn_app_on(backend).await;
    let token = app.user_with_project("w", "writers").await;
    let (s, b) = create_kb(&app, &token, "kb").await;
    assert_eq!(s, 201, "{b}");
    let mut statuses = Vec::new();
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        let ext = format!("same{round}");
        let answers = join_all((0..N).map(|i| {
            let (app, token, ext) = (&app, &token, &ext);
            async move { put(app, token, "kb", ext, &body(i)).await }
        }))
        .await;
        let ids: std::collections::HashSet<&str> = answers
            .iter()
            .filter_map(|(_, b)| b["data"][0]["id"].as_str())
            .collect();
        assert!(ids.len() <= 1, "one document for one external id: {ids:?}");
        for (s, b) in answers {
            statuses.push(s);
            if !matches!(s, 200..=202) {
                failures.push(format!("{s}: {b}"));
            }
        }
    }
    eprintln!(
        "{backend:?}: {ROUNDS} rounds of {N} concurrent PUTs of one external id: {:?}",
        tally(&statuses)
    );
    assert!(failures.is_empty(), "{failures:#?}");
    settle(&app, "writers").await;
    let docs = assert_consistent(&app, "writers", "kb").await;
    assert_eq!(docs.len(), ROUNDS);
}
both_backends!(concurrent_puts_of_one_external_id, same_id_puts);

/// One of the 64 writers, and what it should get.
enum Write {
    Upload(usize),
    PutNew(usize),
    PutSame(usize),
    Delete(usize),
    CreateKb(String),
}

async fn upload(app: &TestApp, token: &str, i: usize) -> (u16, Value) {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(body(1000 + i).into_bytes())
            .file_name(format!("up{i}.txt")),
    );
    let res = app
        .client
        .post(app.url("/v1/knowledge_bases/kb/documents"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

async fn mixed_writers(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let token = app.user_with_project("w", "writers").await;
    let (s, b) = create_kb(&app, &token, "kb").await;
    assert_eq!(s, 201, "{b}");
    // Documents the burst deletes, ready before it starts.
    for i in 0..8 {
        let (s, b) = app
            .call(
                Method::PUT,
                &format!("/v1/knowledge_bases/kb/documents/old{i}?wait=true"),
                Some(&token),
                &[],
                Some(json!({"text": body(500 + i)})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let mut writes = Vec::new();
    writes.extend((0..16).map(Write::Upload));
    writes.extend((0..16).map(Write::PutNew));
    writes.extend((0..16).map(Write::PutSame));
    writes.extend((0..8).map(Write::Delete));
    writes.extend((0..4).map(|i| Write::CreateKb(format!("new{i}"))));
    writes.extend((0..4).map(|_| Write::CreateKb("contested".into())));
    assert_eq!(writes.len(), 64);
    let started = Instant::now();
    let answers = join_all(writes.iter().map(|w| {
        let (app, token) = (&app, &token);
        async move {
            match w {
                Write::Upload(i) => upload(app, token, *i).await,
                Write::PutNew(i) => put(app, token, "kb", &format!("new{i}"), &body(i + 100)).await,
                // Two ids, eight writers each, each with other content.
                Write::PutSame(i) => {
                    put(app, token, "kb", &format!("same{}", i % 2), &body(i + 200)).await
                }
                Write::Delete(i) => {
                    app.call(
                        Method::DELETE,
                        &format!("/v1/knowledge_bases/kb/documents/old{i}"),
                        Some(token),
                        &[],
                        None,
                    )
                    .await
                }
                Write::CreateKb(id) => create_kb(app, token, id).await,
            }
        }
    }))
    .await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    eprintln!(
        "{backend:?}: 64 concurrent writers: {:?} in {:.0} ms",
        tally(&statuses),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let mut contested = Vec::new();
    for (w, (s, b)) in writes.iter().zip(&answers) {
        match w {
            Write::CreateKb(id) if id == "contested" => contested.push(*s),
            _ => assert!(matches!(s, 200..=202), "{s}: {b}"),
        }
    }
    contested.sort();
    assert_eq!(contested, [201, 409, 409, 409], "racing creates of one id");
    settle(&app, "writers").await;
    let docs = assert_consistent(&app, "writers", "kb").await;
    // 16 uploads, 16 new ids, 2 contested ids; the 8 old ones are gone.
    assert_eq!(
        docs.len(),
        16 + 16 + 2,
        "{:?}",
        docs.keys().collect::<Vec<_>>()
    );
    for i in 0..8 {
        assert!(!docs.contains_key(&format!("old{i}")));
    }
    for i in 0..16 {
        assert!(docs.contains_key(&format!("new{i}")));
    }
    for id in ["new0", "new1", "new2", "new3", "contested"] {
        assert!(
            app.state.db.get_kb("writers", id).await.unwrap().is_some(),
            "{id}"
        );
    }
}
both_backends!(sixty_four_mixed_writers, mixed_writers);
