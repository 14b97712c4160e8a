//! Knowledge bases and documents end to end: every format through the real parser, chunker,
//! embedder and Qdrant Edge; idempotent re-upload; replacement; delete; failures isolated;
//! a restart finishing queued documents; search finding the right document.

use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app_on, spawn_with, test_config, Backend, TestApp};

pub struct Kb<'a> {
    pub app: &'a TestApp,
    pub token: String,
    pub project: String,
    pub id: String,
}

impl<'a> Kb<'a> {
    pub async fn create(app: &'a TestApp, token: &str, id: &str) -> Kb<'a> {
        let (s, b) = app
            .call(
                Method::POST,
                "/v1/knowledge_bases",
                Some(token),
                &[],
                Some(json!({"id": id, "name": "Test KB"})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        Kb::open(app, token, id).await
    }

    /// A handle on an existing knowledge base of the token's project.
    pub async fn open(app: &'a TestApp, token: &str, id: &str) -> Kb<'a> {
        let (s, b) = app
            .call(Method::GET, "/v1/whoami", Some(token), &[], None)
            .await;
        assert_eq!(s, 200, "{b}");
        let project = b["project_id"].as_str().unwrap().to_owned();
        Kb {
            app,
            token: token.to_owned(),
            project,
            id: id.to_owned(),
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let path = format!("/v1/knowledge_bases/{}{path}", self.id);
        self.app
            .call(method, &path, Some(&self.token), &[], body)
            .await
    }

    /// Upload files (name, bytes) as multipart, waiting for them to settle.
    pub async fn upload(&self, files: &[(&str, Vec<u8>)], extra: &[(&str, &str)]) -> (u16, Value) {
        let mut form = Form::new();
        for (name, bytes) in files {
            form = form.part(
                "file",
                Part::bytes(bytes.clone()).file_name(name.to_string()),
            );
            for (k, v) in extra {
                form = form.text(k.to_string(), v.to_string());
            }
        }
        let res = self
            .app
            .client
            .post(self.app.url(&format!(
                "/v1/knowledge_bases/{}/documents?wait=true",
                self.id
            )))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn put_text(&self, external_id: &str, text: &str, metadata: Value) -> (u16, Value) {
        self.call(
            Method::PUT,
            &format!("/documents/{external_id}?wait=true"),
            Some(json!({"text": text, "metadata": metadata, "title": external_id})),
        )
        .await
    }

    pub async fn chunks(&self, doc: &str) -> Vec<Value> {
        let (s, b) = self
            .call(Method::GET, &format!("/documents/{doc}/chunks"), None)
            .await;
        assert_eq!(s, 200, "{b}");
        b["data"].as_array().unwrap().clone()
    }

    pub async fn search(&self, query: &str, extra: Value) -> Vec<Value> {
        let mut body = json!({"query": query, "k": 3});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, b) = self.call(Method::POST, "/search", Some(body)).await;
        assert_eq!(s, 200, "{b}");
        b["data"].as_array().unwrap().clone()
    }

    /// Points of this knowledge base in the vector store, straight from the store.
    pub async fn point_count(&self) -> u64 {
        let kb = self
            .app
            .state
            .db
            .get_kb(&self.project, &self.id)
            .await
            .unwrap()
            .unwrap();
        self.app
            .state
            .vectors
            .count(&kb.collection, None)
            .await
            .unwrap()
    }
}

const HTML: &str = r#"<html><head><title>Lighthouse keeping</title><style>.x{color:red}</style>
<script>var secret = "SCRIPT-TEXT";</script></head>
<body><nav>Home | About</nav><h1>Lighthouses</h1><p>The keeper trims the lamp wick every evening at dusk.</p>
<p>Fog horns sound every thirty seconds in poor visibility.</p></body></html>"#;

async fn formats_and_lifecycle(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let token = app.user_with_project("u", "docs").await;
    let kb = Kb::create(&app, &token, "manuals").await;

    let files = vec![
        ("notes.txt", b"Sourdough starter needs feeding with flour and water every day.".to_vec()),
        ("guide.md", b"# Bicycle repair\n\n## Tyres\n\nPatch the inner tube after finding the puncture with soapy water.\n".to_vec()),
        ("page.html", HTML.as_bytes().to_vec()),
        ("records.jsonl", b"{\"title\": \"Volcanoes\", \"text\": \"Basaltic lava flows slowly downhill.\"}\n{\"text\": \"Pumice floats on water.\"}\n".to_vec()),
        ("report.pdf", ragway_ingest::fixtures::pdf(&[&["Glaciers carve U-shaped valleys over millennia."], &["Moraines mark where a glacier once ended."]], None)),
        ("memo.docx", ragway_ingest::fixtures::docx("Quarterly memo", &["Solar panels were installed on the warehouse roof."])),
    ];
    let (s, b) = kb
        .upload(&files, &[("metadata", r#"{"team": "ops"}"#)])
        .await;
    assert_eq!(s, 200, "{b}");
    let docs = b["data"].as_array().unwrap();
    assert_eq!(docs.len(), 6);
    for d in docs {
        assert_eq!(d["status"], "ready", "{d}");
        assert!(d["chunk_count"].as_i64().unwrap() >= 1, "{d}");
    }

    // The HTML's script and style never reach a chunk; the PDF keeps page numbers.
    let html = docs.iter().find(|d| d["file_name"] == "page.html").unwrap();
    let chunks = kb.chunks(html["id"].as_str().unwrap()).await;
    let all: String = chunks.iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert!(
        all.contains("trims the lamp wick")
            && !all.contains("SCRIPT-TEXT")
            && !all.contains("color:red"),
        "{all}"
    );
    assert_eq!(chunks[0]["title"], "Lighthouse keeping");
    assert_eq!(chunks[0]["metadata"]["team"], "ops");
    let pdf = docs
        .iter()
        .find(|d| d["file_name"] == "report.pdf")
        .unwrap();
    let chunks = kb.chunks(pdf["id"].as_str().unwrap()).await;
    let pages: Vec<u64> = chunks.iter().filter_map(|c| c["page"].as_u64()).collect();
    assert!(pages.contains(&1) && pages.contains(&2), "{chunks:?}");

    // Search finds the right document for each query, through the hybrid default and each leg.
    for (query, file) in [
        ("how do I fix a flat tyre", "guide.md"),
        ("feeding a sourdough starter", "notes.txt"),
        ("glacier valleys", "report.pdf"),
        ("rooftop solar installation", "memo.docx"),
        ("lamp wick at dusk", "page.html"),
    ] {
        for mode in ["hybrid", "dense", "sparse"] {
            let hits = kb.search(query, json!({"search_mode": mode})).await;
            assert_eq!(hits[0]["file_name"], file, "{mode} `{query}`: {hits:?}");
        }
    }
    // Metadata filters restrict results.
    let (s, b) = kb
        .put_text(
            "tagged",
            "Sourdough bread bakes at a high temperature.",
            json!({"team": "bakery", "year": 2024}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let hits = kb
        .search("sourdough", json!({"filter": {"team": "bakery"}}))
        .await;
    assert!(
        !hits.is_empty() && hits.iter().all(|h| h["external_id"] == "tagged"),
        "{hits:?}"
    );
    let hits = kb
        .search("sourdough", json!({"filter": {"year": {"lt": 2000}}}))
        .await;
    assert!(hits.is_empty(), "{hits:?}");
    let (s, b) = kb
        .call(
            Method::POST,
            "/search",
            Some(json!({"query": "x", "filter": {"year": {"like": 1}}})),
        )
        .await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (400, Some("filter.year.like")),
        "{b}"
    );

    // Delete: the document and its chunks are gone.
    let before = kb.point_count().await;
    let n = pdf["chunk_count"].as_u64().unwrap();
    let (s, b) = kb
        .call(
            Method::DELETE,
            &format!("/documents/{}", pdf["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(kb.point_count().await, before - n);
    let (s, _) = kb
        .call(
            Method::GET,
            &format!("/documents/{}", pdf["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 404);

    // The knowledge base counts what it holds; deleting it drops everything.
    let (s, b) = kb.call(Method::GET, "", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["documents"]["ready"], 6, "{b}");
    let (s, _) = kb.call(Method::DELETE, "", None).await;
    assert_eq!(s, 200);
    let (s, _) = kb.call(Method::GET, "", None).await;
    assert_eq!(s, 404);
}
both_backends!(formats_and_lifecycle_on, formats_and_lifecycle);

async fn idempotent_upsert(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let token = app.user_with_project("u", "docs").await;
    let kb = Kb::create(&app, &token, "kb").await;
    let v1 = "Otters hold hands while they sleep so they do not drift apart.";
    let (s, b) = kb.put_text("otters", v1, json!({})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"][0]["outcome"], "created");
    let id = b["data"][0]["id"].as_str().unwrap().to_owned();
    let points = kb.point_count().await;
    assert!(points >= 1);

    // Same content: no work, no new chunks.
    let (s, b) = kb.put_text("otters", v1, json!({})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"][0]["outcome"], "unchanged");
    assert_eq!(b["data"][0]["attempts"], 1, "not processed again: {b}");
    assert_eq!(kb.point_count().await, points);

    // Changed content: new chunks in, stale chunks out, same document id.
    let v2 = "Sea otters use rocks as tools to crack open shellfish.";
    let (s, b) = kb.put_text("otters", v2, json!({})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            b["data"][0]["outcome"].as_str(),
            b["data"][0]["id"].as_str()
        ),
        (Some("replaced"), Some(id.as_str()))
    );
    let chunks = kb.chunks("otters").await;
    let text: String = chunks.iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert!(
        text.contains("crack open shellfish") && !text.contains("hold hands"),
        "{text}"
    );
    assert_eq!(kb.point_count().await, chunks.len() as u64);

    // A second document by plain upload, without external id, is a new document each time.
    let (s, b) = kb
        .call(
            Method::POST,
            "/documents?wait=true",
            Some(json!({"text": "Beavers build dams."})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = kb.call(Method::GET, "/documents?status=ready", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"].as_array().unwrap().len(), 2);
}
both_backends!(idempotent_upsert_on, idempotent_upsert);

/// Two replicas sharing one PostgreSQL database receive the same documents at the same
/// moment (a client retrying through a load balancer does this): every upload is accepted,
/// and each document exists once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_upload_through_two_replicas_at_once_is_one_document() {
    const DOCS: usize = 30;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut config = test_config(dir_a.path(), Backend::Postgres).await;
    config.ingest.workers = 0;
    let mut other = config.clone();
    other.data_dir = dir_b.path().to_path_buf();
    crate::helpers::use_vector_store_under_test(&mut other);
    let a = spawn_with(config, Some(dir_a)).await;
    let b = spawn_with(other, Some(dir_b)).await;
    let token = a.user_with_project("u", "p").await;
    let kb_a = Kb::create(&a, &token, "kb").await;
    let kb_b = Kb::open(&b, &token, "kb").await;
    for i in 0..DOCS {
        let body =
            json!({"external_id": format!("doc{i}"), "text": format!("Document number {i}.")});
        let (ra, rb) = tokio::join!(
            kb_a.call(Method::POST, "/documents", Some(body.clone())),
            kb_b.call(Method::POST, "/documents", Some(body)),
        );
        for (s, body) in [ra, rb] {
            assert!(s == 202 || s == 200, "doc{i}: {s} {body}");
        }
    }
    let (s, body) = kb_a.call(Method::GET, "/documents?limit=1000", None).await;
    assert_eq!(s, 200, "{body}");
    let docs = body["data"].as_array().unwrap();
    assert_eq!(docs.len(), DOCS);
    assert!(docs.iter().all(|d| d["status"] == "queued"), "{body}");
}

async fn a_bad_file_fails_alone(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let token = app.user_with_project("u", "docs").await;
    let kb = Kb::create(&app, &token, "kb").await;
    let files = vec![
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf".to_vec()),
        ("program.exe", vec![0x4d, 0x5a, 0x90, 0x00, 0x03]),
        (
            "fine.txt",
            b"Penguins huddle together to keep warm in Antarctic winters.".to_vec(),
        ),
        (
            "rows.jsonl",
            b"{\"body\": \"no text field here\"}\n".to_vec(),
        ),
    ];
    let (s, b) = kb.upload(&files, &[]).await;
    assert_eq!(s, 200, "{b}");
    let by_name = |n: &str| {
        b["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["file_name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("fine.txt")["status"], "ready");
    for bad in ["broken.pdf", "program.exe", "rows.jsonl"] {
        let d = by_name(bad);
        assert_eq!(d["status"], "failed", "{d}");
        assert!(!d["error"].as_str().unwrap_or("").is_empty(), "{d}");
    }
    assert!(
        by_name("rows.jsonl")["error"]
            .as_str()
            .unwrap()
            .contains("text"),
        "{b}"
    );
    let hits = kb.search("penguins keeping warm", json!({})).await;
    assert_eq!(hits[0]["file_name"], "fine.txt");

    // Too large: 413 while streaming, nothing stored.
    let big = vec![b'a'; 51 << 20];
    let (s, b) = kb.upload(&[("big.txt", big)], &[]).await;
    assert_eq!(s, 413, "{b}");
    let (_, b) = kb.call(Method::GET, "/documents", None).await;
    assert_eq!(b["data"].as_array().unwrap().len(), 4);

    // Other projects cannot see this knowledge base.
    let other = app.user_with_project("v", "elsewhere").await;
    let (s, _) = app
        .call(
            Method::GET,
            "/v1/knowledge_bases/kb",
            Some(&other),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/knowledge_bases/kb/search",
            Some(&other),
            &[],
            Some(json!({"query": "penguins"})),
        )
        .await;
    assert_eq!(s, 404);
}

both_backends!(a_bad_file_fails_alone_on, a_bad_file_fails_alone);

async fn restart_finishes_queued(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), backend).await;
    config.ingest.workers = 0;
    let app = spawn_with(config.clone(), None).await;
    let token = app.user_with_project("u", "docs").await;
    let kb = Kb::create(&app, &token, "kb").await;
    let (s, b) = kb
        .call(
            Method::POST,
            "/documents",
            Some(json!({"text": "Hedgehogs hibernate through the winter.", "external_id": "h"})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["data"][0]["status"], "queued");
    drop(kb);
    app.shutdown().await;

    config.ingest.workers = 1;
    let app = spawn_with(config, Some(dir)).await;
    let kb = Kb::open(&app, &token, "kb").await;
    let mut status = Value::Null;
    for _ in 0..300 {
        let (_, b) = kb.call(Method::GET, "/documents/h", None).await;
        status = b["status"].clone();
        if status == "ready" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "ready");
    let hits = kb.search("hibernating hedgehogs", json!({})).await;
    assert_eq!(hits[0]["external_id"], "h");
}
both_backends!(restart_finishes_queued_on, restart_finishes_queued);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_cli_sends_only_new_or_changed_files() {
    let app = spawn_app_on(Backend::Sqlite).await;
    let token = app.user_with_project("u", "docs").await;
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(folder.path().join("sub/deeper")).unwrap();
    std::fs::write(
        folder.path().join("a.txt"),
        "Kestrels hover over fields hunting voles.",
    )
    .unwrap();
    std::fs::write(
        folder.path().join("sub/b.md"),
        "# Newts\n\nNewts regrow lost limbs.",
    )
    .unwrap();
    std::fs::write(
        folder.path().join("sub/deeper/c.html"),
        "<p>Herons stand still in shallow water.</p>",
    )
    .unwrap();
    std::fs::write(folder.path().join("sub/ignored.bin"), [0u8, 1, 2]).unwrap();
    std::fs::write(folder.path().join(".hidden.txt"), "never sent").unwrap();
    let args = |paths: Vec<std::path::PathBuf>| crate::cli::ingest::IngestArgs {
        paths,
        kb: "notes".into(),
        create: true,
        server: crate::cli::client::ServerArgs {
            url: app.address.clone(),
            token: Some(token.clone()),
            project: None,
        },
        no_wait: false,
    };
    crate::cli::ingest::run(args(vec![folder.path().to_path_buf()]), folder.path())
        .await
        .unwrap();
    let kb = Kb::open(&app, &token, "notes").await;
    let (_, b) = kb.call(Method::GET, "/documents?status=ready", None).await;
    let mut ids: Vec<String> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["external_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, vec!["a.txt", "sub/b.md", "sub/deeper/c.html"]);
    // When each document was last processed, by external id.
    let processed = |b: &Value| -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = b["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["external_id"].as_str().unwrap().to_owned(),
                    d["processed_at"].as_i64().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = processed(&b);

    // Unchanged folder: nothing is processed again. A changed file is.
    crate::cli::ingest::run(args(vec![folder.path().to_path_buf()]), folder.path())
        .await
        .unwrap();
    let (_, b) = kb.call(Method::GET, "/documents", None).await;
    assert_eq!(processed(&b), before);
    std::fs::write(
        folder.path().join("sub/b.md"),
        "# Newts\n\nNewts and axolotls regrow limbs.",
    )
    .unwrap();
    crate::cli::ingest::run(args(vec![folder.path().to_path_buf()]), folder.path())
        .await
        .unwrap();
    let (_, b) = kb.call(Method::GET, "/documents", None).await;
    let after = processed(&b);
    assert_eq!(
        (after[0].clone(), after[2].clone()),
        (before[0].clone(), before[2].clone())
    );
    assert!(after[1].1 > before[1].1, "sub/b.md was processed again");
    let hits = kb.search("axolotls", json!({})).await;
    assert_eq!(hits[0]["external_id"], "sub/b.md");
}
