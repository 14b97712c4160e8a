//! The real embedder (ONNX Runtime + int8 MiniLM from scripts/setup) and the whole pipeline.
//! Reference vectors come from Python onnxruntime (scripts/reference_vectors.py).

mod common;

use common::{count_tokens, data_dir, embedder, norm};
use ragway_ingest::{
    content_hash, init_onnxruntime, parse, Bm25, Bm25Config, ChunkSettings, EmbedderConfig,
    ParseOptions, Pipeline,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    model_sha256: String,
    dim: usize,
    sentences: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reference_vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn matches_python_onnxruntime_reference() {
    let reference = reference();
    let model = EmbedderConfig::from_data_dir(&data_dir())
        .model_dir
        .join("model.onnx");
    assert_eq!(
        content_hash(&std::fs::read(&model).unwrap()),
        reference.model_sha256,
        "the reference vectors were made from another model.onnx"
    );
    let embedder = embedder();
    assert_eq!(embedder.dim(), 384);
    assert_eq!(reference.dim, 384);
    assert_eq!(embedder.model_name(), "all-minilm-l6-v2");

    // 4 texts, max_batch 3: two batches, padded to different lengths.
    let vectors = embedder.embed_blocking(&reference.sentences).unwrap();
    assert_eq!(vectors.len(), reference.sentences.len());
    for (i, (got, want)) in vectors.iter().zip(&reference.vectors).enumerate() {
        assert_eq!(got.len(), 384);
        assert!(
            (norm(got) - 1.0).abs() < 1e-4,
            "sentence {i} norm {}",
            norm(got)
        );
        let diff = max_abs_diff(got, want);
        assert!(diff < 1e-4, "sentence {i}: max abs diff {diff}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_embedding_is_concurrent_and_ordered() {
    let reference = reference();
    let embedder = embedder();
    // Reversed order checks results come back in input order despite length sorting.
    let mut texts = reference.sentences.clone();
    texts.reverse();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let embedder = embedder.clone();
            let texts = texts.clone();
            tokio::spawn(async move { embedder.embed(texts).await })
        })
        .collect();
    for task in tasks {
        let vectors = task.await.unwrap().unwrap();
        for (got, want) in vectors.iter().zip(reference.vectors.iter().rev()) {
            let diff = max_abs_diff(got, want);
            assert!(diff < 1e-4, "max abs diff {diff}");
        }
    }
    assert!(embedder.embed(Vec::new()).await.unwrap().is_empty());
}

/// Every sentence `copies` times, each as a query of its own task, all at once; each task
/// answers with the sentence's index and its vector.
fn spawn_queries(
    embedder: &ragway_ingest::Embedder,
    sentences: &[String],
    copies: usize,
) -> Vec<tokio::task::JoinHandle<(usize, anyhow::Result<Vec<f32>>)>> {
    (0..copies)
        .flat_map(|_| sentences.iter().cloned().enumerate())
        .map(|(i, text)| {
            let embedder = embedder.clone();
            tokio::spawn(async move { (i, embedder.embed_query(&text).await) })
        })
        .collect()
}

/// Queries arriving together share inferences (batched with other callers' queries, padded
/// to the longest) and each caller still gets its own text's vector, equal to the reference;
/// a second round is served from the cache with the same vectors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_queries_are_batched_and_each_gets_its_own_vector() {
    let reference = reference();
    for cache in [0, 16] {
        let mut cfg = EmbedderConfig::from_data_dir(&data_dir());
        cfg.max_batch = 3;
        cfg.query_cache = cache;
        let embedder = ragway_ingest::Embedder::load(cfg).unwrap();
        for round in 0..2 {
            for task in spawn_queries(&embedder, &reference.sentences, 4) {
                let (i, got) = task.await.unwrap();
                let got = got.unwrap();
                let diff = max_abs_diff(&got, &reference.vectors[i]);
                assert!(
                    diff < 1e-4,
                    "cache {cache}, round {round}, sentence {i}: max abs diff {diff}"
                );
            }
        }
    }
}

#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<ragway_ingest::Embedder>();
    check::<Pipeline>();
}

#[test]
fn onnxruntime_init_is_idempotent() {
    let path = EmbedderConfig::from_data_dir(&data_dir()).onnxruntime_path;
    embedder();
    init_onnxruntime(&path).unwrap();
    init_onnxruntime(&path).unwrap();
}

#[test]
fn missing_model_dir_names_the_file() {
    embedder(); // ONNX Runtime already loaded: only the model files are missing.
    let mut cfg = EmbedderConfig::from_data_dir(&data_dir());
    cfg.model_dir = "/nonexistent/model".into();
    let err = ragway_ingest::Embedder::load(cfg).unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("/nonexistent/model/model.onnx"),
        "{message}"
    );
    assert!(message.contains("scripts/setup"), "{message}");
}

const GUIDE: &str = "# Hybrid Search Guide

## Dense retrieval

Dense retrieval embeds every chunk with a sentence transformer and finds neighbours by cosine \
similarity. It understands paraphrases but can miss rare identifiers.

## Sparse retrieval

Sparse retrieval scores exact terms with BM25. Product codes like XJ-9000 are found reliably, \
while synonyms are not.

## Fusion

Reciprocal rank fusion merges both ranked lists without calibrating their scores.
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_chunks_embeds_and_encodes() {
    let doc = parse(
        GUIDE.as_bytes(),
        Some("guide.md"),
        None,
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(doc.title.as_deref(), Some("Hybrid Search Guide"));
    let bm25 = Bm25::new(Bm25Config::default());
    let pipeline = Pipeline::new(embedder(), Bm25::new(Bm25Config::default()));
    let settings = ChunkSettings {
        max_tokens: 48,
        overlap_tokens: 0,
        markdown: true,
    };

    // The server runs this inside spawned tasks: the future must be Send.
    fn send<F: Send>(future: F) -> F {
        future
    }
    let plain = send(pipeline.process(&doc, &settings, false))
        .await
        .unwrap();
    let prefixed = pipeline.process(&doc, &settings, true).await.unwrap();
    assert!(plain.len() >= 3, "{} chunks", plain.len());

    let plain_texts: Vec<String> = plain.iter().map(|c| c.chunk.text.clone()).collect();
    let dense = embedder().embed_blocking(&plain_texts).unwrap();
    for (chunk, dense) in plain.iter().zip(&dense) {
        assert!(chunk.chunk.token_count <= 48);
        assert!(max_abs_diff(&chunk.dense, dense) < 1e-5);
        assert_eq!(chunk.sparse, bm25.encode_document(&chunk.chunk.text));
    }

    // With the prefix the stored text stays clean; vectors see "{title}\n{text}".
    let embedded: Vec<String> = prefixed
        .iter()
        .map(|c| format!("Hybrid Search Guide\n{}", c.chunk.text))
        .collect();
    let dense = embedder().embed_blocking(&embedded).unwrap();
    for ((chunk, text), dense) in prefixed.iter().zip(&embedded).zip(&dense) {
        assert!(
            !chunk.chunk.text.starts_with("Hybrid Search Guide\n"),
            "title leaked into the stored text"
        );
        assert!(
            count_tokens(text) <= 48,
            "prefix + chunk has {} tokens",
            count_tokens(text)
        );
        assert!((norm(&chunk.dense) - 1.0).abs() < 1e-4);
        assert!(max_abs_diff(&chunk.dense, dense) < 1e-5);
        assert_eq!(chunk.sparse, bm25.encode_document(text));
    }
    // Chunks without the word "hybrid" only match it through the title.
    let hybrid = bm25.encode_query("hybrid").indices[0];
    assert!(prefixed.iter().all(|c| c.sparse.indices.contains(&hybrid)));
    assert!(plain.iter().any(|c| !c.sparse.indices.contains(&hybrid)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_rejects_chunks_longer_than_the_model() {
    let doc = parse(b"some text", Some("a.txt"), None, &ParseOptions::default()).unwrap();
    let pipeline = Pipeline::new(embedder(), Bm25::new(Bm25Config::default()));
    let settings = ChunkSettings {
        max_tokens: 300,
        overlap_tokens: 32,
        markdown: false,
    };
    let err = pipeline.process(&doc, &settings, false).await.unwrap_err();
    assert!(err.to_string().contains("'max_tokens'"), "{err}");
}

/// With instances of several threads (1 × 2, the serve default on 2 cores), a lone query on an
/// idle embedder runs on the two-threaded instance, chunk batches run on the single-threaded
/// ones, and both give the reference vectors — also while queries and documents mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_run_single_threaded_and_a_lone_query_uses_every_thread() {
    let reference = reference();
    let mut cfg = EmbedderConfig::from_data_dir(&data_dir());
    cfg.threads = 1;
    cfg.intra_threads = 2;
    cfg.query_cache = 0;
    let embedder = ragway_ingest::Embedder::load(cfg).unwrap();
    assert_eq!(embedder.runs(), (0, 0));

    let got = embedder.embed_query(&reference.sentences[0]).await.unwrap();
    assert!(max_abs_diff(&got, &reference.vectors[0]) < 1e-4);
    assert_eq!(
        embedder.runs(),
        (1, 0),
        "a lone query runs on the wide instance"
    );

    let vectors = embedder.embed(reference.sentences.clone()).await.unwrap();
    for (i, (got, want)) in vectors.iter().zip(&reference.vectors).enumerate() {
        let diff = max_abs_diff(got, want);
        assert!(diff < 1e-4, "chunk {i}: max abs diff {diff}");
    }
    let (wide, narrow) = embedder.runs();
    assert_eq!(wide, 1, "chunk batches never run on the wide instance");
    assert!(
        narrow >= 1,
        "chunk batches run on the single-threaded instances"
    );

    // Documents and queries at once: every caller still gets its own text's vector.
    let docs: Vec<_> = (0..3)
        .map(|_| {
            let (embedder, texts) = (embedder.clone(), reference.sentences.clone());
            tokio::spawn(async move { embedder.embed(texts).await })
        })
        .collect();
    for task in spawn_queries(&embedder, &reference.sentences, 8) {
        let (i, got) = task.await.unwrap();
        let diff = max_abs_diff(&got.unwrap(), &reference.vectors[i]);
        assert!(diff < 1e-4, "query {i}: max abs diff {diff}");
    }
    for task in docs {
        for (got, want) in task.await.unwrap().unwrap().iter().zip(&reference.vectors) {
            assert!(max_abs_diff(got, want) < 1e-4);
        }
    }
}
