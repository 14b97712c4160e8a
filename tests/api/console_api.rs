//! The API additions the web console needs (it has no private routes): search `explain`
//! (per-leg scores, per-stage timings), retrying a failed document, a document's parsed text
//! that chunk offsets point into, the embedding models and rerankers on offer, and document
//! and chunk counts in the knowledge base list.

use std::collections::HashMap;

use ragway::config::RerankerConfig;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::documents::Kb;
use crate::helpers::{spawn_app_on, spawn_with, test_config, Backend};

const ANIMALS: [(&str, &str); 4] = [
    (
        "otters",
        "Sea otters hold hands while they sleep so that they do not drift apart.",
    ),
    (
        "beavers",
        "Beavers build dams from branches and mud to create deep ponds.",
    ),
    (
        "owls",
        "Owls can rotate their heads about 270 degrees to look around.",
    ),
    (
        "quokka",
        "The quokka is a small marsupial. Zxqvbn is the quokka's made-up word.",
    ),
];

fn scores_by_chunk(hits: &[Value]) -> HashMap<String, f64> {
    hits.iter()
        .map(|h| {
            (
                h["chunk_id"].as_str().unwrap().to_owned(),
                h["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(1.0)
}

async fn explain_gives_leg_scores_and_timings(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let token = app.user_with_project("u", "p").await;
    let kb = Kb::create(&app, &token, "kb").await;
    for (id, text) in ANIMALS {
        let (s, b) = kb.put_text(id, text, json!({})).await;
        assert_eq!(s, 200, "{b}");
    }
    let query = "which animal sleeps holding hands zxqvbn";
    // Each leg fetches max(candidates, k) before fusion.
    let candidates = 4;
    let (s, b) = kb
        .call(
            Method::POST,
            "/search",
            Some(json!({"query": query, "k": 4, "candidates": candidates, "explain": true})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    for stage in ["embed_ms", "search_ms", "total_ms"] {
        assert!(
            b["timings"][stage].as_f64().is_some_and(|t| t >= 0.0),
            "{stage}: {b}"
        );
    }
    assert!(
        b["timings"]["total_ms"].as_f64() >= b["timings"]["search_ms"].as_f64(),
        "{b}"
    );
    let hits = b["data"].as_array().unwrap();
    assert!(!hits.is_empty(), "{b}");
    // Each leg alone, with as many hits as the fused query's prefetch took per leg: a leg
    // score is shown exactly when that leg returned the hit, and it is that leg's own score.
    let dense = scores_by_chunk(
        &kb.search(query, json!({"search_mode": "dense", "k": candidates}))
            .await,
    );
    let sparse = scores_by_chunk(
        &kb.search(query, json!({"search_mode": "sparse", "k": candidates}))
            .await,
    );
    let mut one_leg_only = 0;
    for h in hits {
        let id = h["chunk_id"].as_str().unwrap();
        let scores = &h["scores"];
        assert!(
            close(
                scores["fused"].as_f64().unwrap(),
                h["score"].as_f64().unwrap()
            ),
            "{h}"
        );
        for (leg, alone) in [("dense", &dense), ("sparse", &sparse)] {
            match alone.get(id) {
                Some(s) => assert!(
                    scores[leg].as_f64().is_some_and(|x| close(x, *s)),
                    "{leg} score of {id}: {scores} vs {s}"
                ),
                None => assert!(scores[leg].is_null(), "{leg} did not return {id}: {h}"),
            }
        }
        if scores["dense"].is_null() != scores["sparse"].is_null() {
            one_leg_only += 1;
        }
    }
    // BM25 finds only documents sharing a word with the query (not the owls), while the dense
    // leg returns every document: some hit comes from one leg only.
    assert!(one_leg_only > 0, "every hit came from both legs: {b}");

    // A single-leg search: that leg's score is the fused one, the other leg is null.
    let (s, b) = kb
        .call(
            Method::POST,
            "/search",
            Some(json!({"query": query, "k": 2, "search_mode": "sparse", "explain": true})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    for h in b["data"].as_array().unwrap() {
        assert!(h["scores"]["dense"].is_null(), "{h}");
        assert_eq!(h["scores"]["sparse"], h["scores"]["fused"], "{h}");
    }
    // Without explain, the response is as before.
    let (_, b) = kb
        .call(Method::POST, "/search", Some(json!({"query": query})))
        .await;
    assert!(
        b.get("timings").is_none() && b["data"][0].get("scores").is_none(),
        "{b}"
    );
}
both_backends!(explain_on, explain_gives_leg_scores_and_timings);

async fn retry_requeues_a_failed_document(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let token = app.user_with_project("u", "p").await;
    let kb = Kb::create(&app, &token, "kb").await;
    let (s, b) = kb
        .upload(
            &[
                ("broken.pdf", b"%PDF-1.4 not a pdf".to_vec()),
                ("fine.txt", b"Penguins huddle to keep warm.".to_vec()),
            ],
            &[],
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let doc = |name: &str| {
        b["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["file_name"] == name)
            .unwrap()
            .clone()
    };
    let (broken, fine) = (doc("broken.pdf"), doc("fine.txt"));
    assert_eq!(broken["status"], "failed", "{broken}");
    let first_error = broken["error"].as_str().unwrap().to_owned();

    let (s, b) = kb
        .call(
            Method::POST,
            &format!("/documents/{}/retry", broken["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["id"], broken["id"]);
    assert_eq!(b["attempts"], 0, "{b}");
    assert!(b["error"].is_null(), "{b}");
    assert!(
        ["queued", "processing"].contains(&b["status"].as_str().unwrap()),
        "{b}"
    );
    // Processed again: the same file fails again with the same reason.
    let mut now = b;
    for _ in 0..100 {
        if now["status"] == "failed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        now = kb
            .call(
                Method::GET,
                &format!("/documents/{}", broken["id"].as_str().unwrap()),
                None,
            )
            .await
            .1;
    }
    assert_eq!(now["status"], "failed", "{now}");
    assert_eq!(now["error"].as_str(), Some(first_error.as_str()), "{now}");

    // A document that did not fail: 409 naming its status.
    let (s, b) = kb
        .call(
            Method::POST,
            &format!("/documents/{}/retry", fine["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 409, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("ready"),
        "{b}"
    );
    let (s, b) = kb.call(Method::POST, "/documents/nope/retry", None).await;
    assert_eq!(s, 404, "{b}");
}
both_backends!(retry_on, retry_requeues_a_failed_document);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_text_is_what_chunk_offsets_point_into() {
    let app = spawn_app_on(Backend::Sqlite).await;
    let token = app.user_with_project("u", "p").await;
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/knowledge_bases",
            Some(&token),
            &[],
            Some(json!({"id": "kb", "chunking": {"max_tokens": 16, "overlap_tokens": 4}})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let kb = Kb::open(&app, &token, "kb").await;
    let page = |word: &str| -> Vec<String> {
        (0..6)
            .map(|i| format!("Line {i} of the {word} page talks about {word} habits at length."))
            .collect()
    };
    let (one, two) = (page("first"), page("second"));
    let one: Vec<&str> = one.iter().map(String::as_str).collect();
    let two: Vec<&str> = two.iter().map(String::as_str).collect();
    let pdf = ragway_ingest::fixtures::pdf(&[&one, &two], Some("Two pages"));
    let (s, b) = kb.upload(&[("two.pdf", pdf)], &[]).await;
    assert_eq!(s, 200, "{b}");
    let id = b["data"][0]["id"].as_str().unwrap().to_owned();
    let (s, text) = kb
        .call(Method::GET, &format!("/documents/{id}/text"), None)
        .await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(text["document_id"], id.as_str());
    let full: Vec<char> = text["text"].as_str().unwrap().chars().collect();
    let sections = text["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 2, "{text}");
    assert_eq!(
        (sections[0]["page"].as_u64(), sections[1]["page"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(sections[1]["char_end"].as_u64(), Some(full.len() as u64));
    let chunks = kb.chunks(&id).await;
    assert!(chunks.len() >= 4, "{chunks:?}");
    let mut on_page_two = 0;
    for c in &chunks {
        let (start, end) = (
            c["char_start"].as_u64().unwrap() as usize,
            c["char_end"].as_u64().unwrap() as usize,
        );
        let slice: String = full[start..end].iter().collect();
        assert_eq!(slice, c["text"].as_str().unwrap(), "chunk {c}");
        let section = &sections[(c["page"].as_u64().unwrap() - 1) as usize];
        assert!(
            section["char_start"].as_u64().unwrap() as usize <= start
                && end <= section["char_end"].as_u64().unwrap() as usize,
            "chunk {c} outside its page {section}"
        );
        if c["page"] == 2 {
            on_page_two += 1;
        }
    }
    assert!(on_page_two > 0, "{chunks:?}");
    let (s, b) = kb.call(Method::GET, "/documents/missing/text", None).await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (404, Some("document_id")),
        "{b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogs_and_counts_in_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), Backend::Sqlite).await;
    config.rerankers = vec![RerankerConfig {
        name: "words".into(),
        url: "http://127.0.0.1:9/rerank".into(),
        model: None,
        api_key: None,
        timeout_secs: 5,
    }];
    let app = spawn_with(config, Some(dir)).await;
    let token = app.user_with_project("u", "p").await;

    let (s, b) = app
        .call(Method::GET, "/v1/embedding_models", Some(&token), &[], None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["object"], "list");
    let models = b["data"].as_array().unwrap();
    assert_eq!(models.len(), 1, "{b}");
    assert_eq!(models[0]["default"], true);
    assert_eq!(models[0]["dimension"], 384);
    let default_model = models[0]["id"].as_str().unwrap().to_owned();
    let (s, b) = app
        .call(Method::GET, "/v1/rerankers", Some(&token), &[], None)
        .await;
    assert_eq!((s, &b["data"]), (200, &json!([{"id": "words"}])), "{b}");
    for path in ["/v1/embedding_models", "/v1/rerankers"] {
        let (s, b) = app
            .call(Method::GET, path, Some("bad-token"), &[], None)
            .await;
        assert_eq!(s, 401, "{path}: {b}");
    }

    let kb = Kb::create(&app, &token, "kb").await;
    let _empty = Kb::create(&app, &token, "empty").await;
    kb.put_text("a", "Sea otters sleep holding hands.", json!({}))
        .await;
    kb.upload(&[("bad.pdf", b"%PDF-1.4 nope".to_vec())], &[])
        .await;
    let (s, b) = app
        .call(Method::GET, "/v1/knowledge_bases", Some(&token), &[], None)
        .await;
    assert_eq!(s, 200, "{b}");
    let listed: HashMap<&str, &Value> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["id"].as_str().unwrap(), k))
        .collect();
    let (_, one) = kb.call(Method::GET, "", None).await;
    for key in ["documents", "chunks", "embedding_model"] {
        assert_eq!(listed["kb"][key], one[key], "{key}: list {b} vs get {one}");
    }
    assert_eq!(
        listed["kb"]["documents"],
        json!({"queued": 0, "processing": 0, "ready": 1, "failed": 1})
    );
    assert!(listed["kb"]["chunks"].as_i64().unwrap() >= 1);
    assert_eq!(listed["kb"]["embedding_model"], default_model.as_str());
    assert_eq!(
        (
            &listed["empty"]["documents"]["ready"],
            &listed["empty"]["chunks"]
        ),
        (&json!(0), &json!(0))
    );
}

/// The console uploads each file as its own request, all at once: on SQLite, concurrent
/// uploads must queue for the write lock, not fail with a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_all_succeed() {
    let app = spawn_app_on(Backend::Sqlite).await;
    let token = app.user_with_project("u", "p").await;
    let _kb = Kb::create(&app, &token, "kb").await;
    let sends = (0..16).map(|i| {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(
                    format!("Document number {i} is about otters.").into_bytes(),
                )
                .file_name(format!("doc{i}.txt")),
            )
            .text("external_id", format!("doc-{i}"));
        app.client
            .post(app.url("/v1/knowledge_bases/kb/documents"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
    });
    for res in futures_util::future::join_all(sends).await {
        let res = res.unwrap();
        let status = res.status().as_u16();
        assert!(
            status == 202 || status == 200,
            "{status}: {}",
            res.text().await.unwrap()
        );
    }
}
