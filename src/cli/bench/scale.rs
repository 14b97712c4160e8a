//! `ragway bench scale`: a million-chunk knowledge base on the embedded default.
//!
//! The chunks are synthetic (embedding a million real chunks takes days on 2 cores): random
//! unit vectors, and BM25 vectors of text drawn from a 30,000-word vocabulary with Zipf's law,
//! so posting lists are as skewed as a real corpus's (a handful of words in most chunks, most
//! words in few). Queries are made beforehand the same way and go straight to the store, so
//! the latency is the engine's hybrid search, not the embedder's.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use ragway::config::Config;
use ragway::documents;
use ragway::state::AppState;
use ragway::store::knowledge::KnowledgeBase;
use ragway::vector::{Fusion, Point, Query, SearchMode, SparseVec};

use crate::cli::load::status_kib;

use super::{new_kb, next, percentile, round2, scratch_config, unit_vector, Scratch};

const VOCABULARY: u64 = 30_000;

pub async fn run(
    base: Config,
    chunks: usize,
    on_disk: bool,
    queries: usize,
    concurrency: &[usize],
    as_json: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(chunks >= 1, "--chunks must be at least 1");
    anyhow::ensure!(queries >= 1, "--queries must be at least 1");
    let scratch = Scratch::new()?;
    let mut config = scratch_config(&base, scratch.path());
    config.vector_store.on_disk_vectors = on_disk;
    config.vector_store.on_disk_payload = true;
    let state = Arc::new(AppState::load(config, None).await?);
    let kb = new_kb(&state, "bench").await?;
    let start_mb = rss_mb();

    let t = Instant::now();
    load(&state, &kb, chunks).await?;
    let load_s = t.elapsed().as_secs_f64();
    let loaded_mb = rss_mb();
    eprintln!("loaded {chunks} chunks in {load_s:.1} s (RSS {loaded_mb:.0} MB); optimizing …");
    let t = Instant::now();
    state.vectors.optimize(&kb.collection).await?;
    let optimize_s = t.elapsed().as_secs_f64();
    let optimized_mb = rss_mb();
    let disk_mb = disk_bytes(scratch.path()) as f64 / 1e6;
    eprintln!("optimized in {optimize_s:.1} s (RSS {optimized_mb:.0} MB, {disk_mb:.0} MB on disk)");

    let dim = state.pipeline.embedder.dim();
    let mut rng = 0xD1B5_4A32_D192_ED03u64;
    let made: Vec<Query> = (0..queries.min(5000))
        .map(|_| query(&state, &mut rng, dim))
        .collect();
    let made = Arc::new(made);
    // Warm the caches a server would have warm after its first minutes.
    for q in made.iter().take(200) {
        state.vectors.query(&kb.collection, q).await?;
    }

    if !as_json {
        println!(
            "{chunks} chunks, dim {dim}, dense vectors {}; payload on disk",
            if on_disk { "on disk (mmap)" } else { "in RAM" }
        );
        println!("RSS: start {start_mb:.0} MB, after load {loaded_mb:.0} MB, after optimize {optimized_mb:.0} MB; on disk {disk_mb:.0} MB");
        println!(
            "load {load_s:.1} s ({:.0} chunks/s), optimize {optimize_s:.1} s",
            chunks as f64 / load_s
        );
        println!(
            "{:>6} {:>10} {:>10} {:>10} {:>14} {:>14}",
            "conc", "p50 ms", "p99 ms", "searches/s", "RSS peak MB", "RSS anon MB"
        );
    }
    for &c in concurrency {
        let (lat, rate, rss_peak) = search_load(&state, &kb, &made, queries, c.max(1)).await?;
        let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
        let anon = rss_anon_mb();
        if as_json {
            println!(
                "{}",
                json!({"chunks": chunks, "on_disk": on_disk, "rss_mb": rss_peak, "rss_anon_mb": round2(anon),
                    "rss_after_load_mb": round2(loaded_mb), "rss_after_optimize_mb": round2(optimized_mb),
                    "disk_mb": round2(disk_mb), "load_s": round2(load_s), "optimize_s": round2(optimize_s),
                    "p50_ms": round2(p50), "p99_ms": round2(p99), "searches_per_s": round2(rate),
                    "concurrency": c, "queries": lat.len()})
            );
        } else {
            println!("{c:>6} {p50:>10.2} {p99:>10.2} {rate:>10.1} {rss_peak:>14.0} {anon:>14.0}");
        }
    }
    Ok(())
}

/// Upsert `chunks` synthetic points in batches of 1,000, building each batch on a blocking
/// thread while the previous one is written.
async fn load(state: &Arc<AppState>, kb: &KnowledgeBase, chunks: usize) -> anyhow::Result<()> {
    let dim = state.pipeline.embedder.dim();
    let mut pending: Option<tokio::task::JoinHandle<Vec<Point>>> = None;
    let mut from = 0;
    let t = Instant::now();
    loop {
        let next_batch = (from < chunks).then(|| {
            let (state, kb, to) = (state.clone(), kb.clone(), (from + 1000).min(chunks));
            let range = from..to;
            from = to;
            tokio::task::spawn_blocking(move || {
                range
                    .map(|i| point(&state, &kb, i, dim))
                    .collect::<Vec<_>>()
            })
        });
        if let Some(batch) = pending.take() {
            state.vectors.upsert(&kb.collection, batch.await?).await?;
        }
        match next_batch {
            Some(b) => pending = Some(b),
            None => break,
        }
        if from % 100_000 == 0 {
            eprintln!("  {from} chunks, {:.0} s", t.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

/// Chunk `i`, the same for every run: 60 Zipf-distributed words, four chunks per document.
fn point(state: &AppState, kb: &KnowledgeBase, i: usize, dim: usize) -> Point {
    let mut rng = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    next(&mut rng);
    let text = zipf_text(&mut rng, 60);
    let sv = state.pipeline.bm25.encode_document(&text);
    let doc = format!("doc-{}", i / 4);
    let payload = json!({"project_id": kb.project_id, "kb_id": kb.id, "document_id": doc, "external_id": doc,
        "content_hash": "x", "title": format!("Document {}", i / 4), "ordinal": i % 4, "section": 0,
        "char_start": 0, "char_end": text.len(), "text": text, "metadata": {}});
    let Value::Object(payload) = payload else {
        unreachable!("json! of an object literal is an object")
    };
    Point {
        id: documents::chunk_id(&kb.uid, &doc, "x", 0, (i % 4) as u32),
        dense: unit_vector(&mut rng, dim),
        sparse: SparseVec {
            indices: sv.indices,
            values: sv.values,
        },
        payload,
    }
}

/// A hybrid query as `retrieval::prepare` makes one for k = 3 (40 candidates per leg).
fn query(state: &AppState, rng: &mut u64, dim: usize) -> Query {
    let sv = state.pipeline.bm25.encode_query(&zipf_text(rng, 6));
    Query {
        mode: SearchMode::Hybrid,
        dense: Some(unit_vector(rng, dim)),
        sparse: Some(SparseVec {
            indices: sv.indices,
            values: sv.values,
        }),
        limit: 3,
        candidates: 40,
        fusion: Fusion::default(),
        filter: None,
        score_threshold: None,
    }
}

/// `n` words of rank r with probability ∝ 1/r (log-uniform ranks), each word a made-up but
/// pronounceable token so the stemmer and stop words leave it alone.
fn zipf_text(rng: &mut u64, n: usize) -> String {
    (0..n)
        .map(|_| {
            let u = (next(rng) >> 11) as f64 / (1u64 << 53) as f64;
            let rank = ((VOCABULARY as f64).powf(u) as u64).min(VOCABULARY) - 1;
            word(rank)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn word(mut rank: u64) -> String {
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "ze", "bar", "dor", "fen", "gil",
        "hum", "jax", "kel", "mor", "nix", "pol",
    ];
    let mut w = String::from("q");
    loop {
        w.push_str(SYLLABLES[(rank % 20) as usize]);
        rank /= 20;
        if rank == 0 {
            return w;
        }
    }
}

/// `n` searches, `c` at a time, round-robin over `queries`: sorted latencies (ms), searches
/// per second, and the peak RSS (MB), sampled every 50 ms meanwhile.
async fn search_load(
    state: &Arc<AppState>,
    kb: &KnowledgeBase,
    queries: &Arc<Vec<Query>>,
    n: usize,
    c: usize,
) -> anyhow::Result<(Vec<f64>, f64, f64)> {
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn({
        let peak = peak.clone();
        async move {
            loop {
                peak.fetch_max(rss_mb() as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let per_task = n.div_ceil(c);
    let started = Instant::now();
    let tasks = (0..c).map(|task| {
        let (state, collection, queries) = (state.clone(), kb.collection.clone(), queries.clone());
        tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_task);
            for j in 0..per_task {
                let q = &queries[(task * per_task + j) % queries.len()];
                let t = Instant::now();
                state.vectors.query(&collection, q).await?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(lat)
        })
    });
    let done = futures_util::future::join_all(tasks).await;
    let secs = started.elapsed().as_secs_f64();
    sampler.abort();
    peak.fetch_max(rss_mb() as u64, Ordering::Relaxed);
    let mut all = Vec::with_capacity(n);
    for t in done {
        all.extend(t??);
    }
    all.sort_by(f64::total_cmp);
    let rate = all.len() as f64 / secs;
    Ok((all, rate, peak.load(Ordering::Relaxed) as f64))
}

/// This process's resident set (MB), from /proc (0 where there is none).
fn rss_mb() -> f64 {
    status_kib("self", "VmRSS:") as f64 / 1024.0
}

/// The anonymous part of the resident set: what the kernel cannot drop and re-read from a
/// file (memory-mapped vectors and payload count in RSS but not here).
fn rss_anon_mb() -> f64 {
    status_kib("self", "RssAnon:") as f64 / 1024.0
}

/// Bytes allocated on disk under `dir` (sparse files count what they use).
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}
