//! `ragway bench scale`: a million-chunk knowledge base on the embedded default.
//!
//! The chunks are synthetic (embedding a million real chunks takes days on 2 cores): random
//! unit vectors, and BM25 vectors of text drawn from a 30,000-word vocabulary with Zipf's law,
//! so posting lists are as skewed as a real corpus's (a handful of words in most chunks, most
//! words in few). Queries are made beforehand the same way and go straight to the store, so
//! the latency is the engine's hybrid search, not the embedder's.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{json, Value};

use ragway::config::{Config, Quantization};
use ragway::documents;
use ragway::state::AppState;
use ragway::store::knowledge::KnowledgeBase;
use ragway::vector::{Fusion, Point, Query, SearchMode, SparseVec};

use crate::cli::load::status_kib;

use super::{new_kb, next, percentile, round2, scratch_config, unit_vector, Scratch};

const VOCABULARY: u64 = 30_000;

/// Where a collection keeps its parts (the `vector_store.*` placement keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// The defaults: dense vectors, HNSW graph and sparse index in RAM, payload on disk.
    Ram,
    /// Dense vectors and payload on disk (`on_disk_vectors`), indexes in RAM.
    DiskVectors,
    /// For large knowledge bases: vectors, indexes and payload on disk, an int8 copy of the
    /// dense vectors in RAM (`on_disk_vectors`, `on_disk_index`, `quantization = "int8"`).
    Disk,
}

impl Layout {
    /// The name `--layout` takes, as clap spells it.
    fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|value| value.get_name().to_owned())
            .unwrap_or_else(|| format!("{self:?}"))
    }
}

#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    #[arg(long, default_value_t = 1_000_000)]
    chunks: usize,
    #[arg(long, value_enum, default_value_t = Layout::Disk)]
    layout: Layout,
    /// Searches per concurrency level.
    #[arg(long, default_value_t = 2000)]
    queries: usize,
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    concurrency: Vec<usize>,
    /// One JSON object per line instead of the table.
    #[arg(long)]
    json: bool,
}

/// The search half of `bench scale`, run by it in a fresh process over the data it built.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// The data dir `bench scale` built.
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, value_enum)]
    layout: Layout,
    #[arg(long)]
    queries: usize,
    #[arg(long, value_delimiter = ',')]
    concurrency: Vec<usize>,
}

/// What building the knowledge base took.
struct Built {
    load_s: f64,
    optimize_s: f64,
    start_mb: f64,
    loaded_mb: f64,
    optimized_mb: f64,
    /// The anonymous part of `optimized_mb` (the rest is memory-mapped files' pages).
    optimized_anon_mb: f64,
    disk_mb: f64,
}

pub async fn run(base: Config, args: ScaleArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.chunks >= 1, "--chunks must be at least 1");
    anyhow::ensure!(args.queries >= 1, "--queries must be at least 1");
    let scratch = Scratch::new()?;
    let built = build(
        layout_config(&base, scratch.path(), args.layout),
        args.chunks,
    )
    .await?;
    eprintln!("searching from a new process that opens the data, as a restarted server would …");
    let rows = search_in_child(scratch.path(), &args)?;
    report(&args, &built, &rows);
    Ok(())
}

/// A config over `dir` with `layout`'s placement keys.
fn layout_config(base: &Config, dir: &Path, layout: Layout) -> Config {
    let mut config = scratch_config(base, dir);
    let store = &mut config.vector_store;
    store.on_disk_payload = true;
    store.on_disk_vectors = layout != Layout::Ram;
    store.on_disk_index = layout == Layout::Disk;
    store.quantization = match layout {
        Layout::Disk => Quantization::Int8,
        Layout::Ram | Layout::DiskVectors => Quantization::None,
    };
    config
}

/// Load `chunks` synthetic chunks and optimise, in this process; the state is closed after.
async fn build(config: Config, chunks: usize) -> anyhow::Result<Built> {
    let dir = config.data_dir.clone();
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
    let (optimized_mb, optimized_anon_mb) = (rss_mb(), status_mb("RssAnon:"));
    let disk_mb = disk_bytes(&dir) as f64 / 1e6;
    eprintln!("optimized in {optimize_s:.1} s (RSS {optimized_mb:.0} MB, {disk_mb:.0} MB on disk)");
    Ok(Built {
        load_s,
        optimize_s,
        start_mb,
        loaded_mb,
        optimized_mb,
        optimized_anon_mb,
        disk_mb,
    })
}

/// Run `ragway bench scale-search` over `dir` and collect its rows (one JSON object each).
fn search_in_child(dir: &Path, args: &ScaleArgs) -> anyhow::Result<Vec<Value>> {
    let exe = std::env::current_exe().context("finding this program to run the searches")?;
    let layout = args.layout.name();
    let concurrency: Vec<String> = args.concurrency.iter().map(usize::to_string).collect();
    let out = std::process::Command::new(exe)
        .args(["bench", "scale-search", "--layout", &layout])
        .arg("--dir")
        .arg(dir)
        .args(["--queries", &args.queries.to_string()])
        .args(["--concurrency", &concurrency.join(",")])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running the searches")?;
    anyhow::ensure!(out.status.success(), "the searches failed: {}", out.status);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).context("reading a row of the searches"))
        .collect()
}

fn report(args: &ScaleArgs, built: &Built, rows: &[Value]) {
    let layout = args.layout.name();
    if args.json {
        for row in rows {
            let mut row = row.clone();
            row["chunks"] = json!(args.chunks);
            row["layout"] = json!(layout);
            row["rss_after_load_mb"] = json!(round2(built.loaded_mb));
            row["rss_after_optimize_mb"] = json!(round2(built.optimized_mb));
            row["rss_anon_after_optimize_mb"] = json!(round2(built.optimized_anon_mb));
            row["disk_mb"] = json!(round2(built.disk_mb));
            row["load_s"] = json!(round2(built.load_s));
            row["optimize_s"] = json!(round2(built.optimize_s));
            println!("{row}");
        }
        return;
    }
    println!("{} chunks, layout {layout}", args.chunks);
    println!(
        "building: RSS start {:.0} MB, after load {:.0} MB, after optimize {:.0} MB (anonymous {:.0}); on disk {:.0} MB",
        built.start_mb, built.loaded_mb, built.optimized_mb, built.optimized_anon_mb, built.disk_mb
    );
    println!(
        "load {:.1} s ({:.0} chunks/s), optimize {:.1} s",
        built.load_s,
        args.chunks as f64 / built.load_s,
        built.optimize_s
    );
    println!(
        "searching (a new process: opened in {} s, RSS after open {} MB)",
        rows.first().map_or(Value::Null, |r| r["open_s"].clone()),
        rows.first()
            .map_or(Value::Null, |r| r["rss_after_open_mb"].clone())
    );
    println!(
        "{:>6} {:>10} {:>10} {:>10} {:>12} {:>12} {:>12}",
        "conc", "p50 ms", "p99 ms", "searches/s", "RSS peak MB", "anon MB", "file MB"
    );
    for r in rows {
        // JSON values ignore widths: format them as strings first.
        let cell = |key: &str| r[key].to_string();
        println!(
            "{:>6} {:>10} {:>10} {:>10} {:>12} {:>12} {:>12}",
            cell("concurrency"),
            cell("p50_ms"),
            cell("p99_ms"),
            cell("searches_per_s"),
            cell("rss_mb"),
            cell("rss_anon_mb"),
            cell("rss_file_mb")
        );
    }
}

/// `bench scale-search`: open the data dir as `serve` would, warm up with 200 searches, then
/// `queries` hybrid searches at each concurrency; one JSON object per line with the latencies
/// and this process's resident set (peak VmRSS, and its anonymous and file-backed parts).
pub async fn search(base: Config, args: SearchArgs) -> anyhow::Result<()> {
    let t = Instant::now();
    let state = Arc::new(AppState::load(layout_config(&base, &args.dir, args.layout), None).await?);
    let kb = state
        .db
        .get_kb("bench", "bench")
        .await?
        .context("no knowledge base `bench` in --dir: not made by `ragway bench scale`")?;
    let open_s = t.elapsed().as_secs_f64();
    let opened_mb = rss_mb();
    let dim = state.pipeline.embedder.dim();
    let mut rng = 0xD1B5_4A32_D192_ED03u64;
    let made: Vec<Query> = (0..args.queries.min(5000))
        .map(|_| query(&state, &mut rng, dim))
        .collect();
    let made = Arc::new(made);
    // Warm the caches a server would have warm after its first minutes.
    for q in made.iter().take(200) {
        state.vectors.query(&kb.collection, q).await?;
    }
    for &c in &args.concurrency {
        let (lat, rate, rss_peak) = search_load(&state, &kb, &made, args.queries, c.max(1)).await?;
        println!(
            "{}",
            json!({"concurrency": c, "queries": lat.len(), "p50_ms": round2(percentile(&lat, 0.5)),
                "p99_ms": round2(percentile(&lat, 0.99)), "searches_per_s": round2(rate),
                "rss_mb": rss_peak, "rss_anon_mb": round2(status_mb("RssAnon:")),
                "rss_file_mb": round2(status_mb("RssFile:")), "open_s": round2(open_s),
                "rss_after_open_mb": round2(opened_mb)})
        );
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
    status_mb("VmRSS:")
}

/// A field of this process's /proc status in MB: `RssAnon:` is what the kernel cannot drop
/// and re-read from a file; `RssFile:` the memory-mapped files' pages (vectors, indexes,
/// payload), which it drops under memory pressure.
fn status_mb(field: &str) -> f64 {
    status_kib("self", field) as f64 / 1024.0
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
