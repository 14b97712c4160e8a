//! BEIR-layout evaluation: ingest `corpus.jsonl` into a knowledge base of the evaluation's own
//! data dir through the normal pipeline (`knowledge::create`, `documents::submit`, the ingest
//! worker), then run every judged query of a split through `retrieval::search` and score the
//! document ranking.
//!
//! Caching: documents are upserted by external id (the corpus `_id`) and content hash, so
//! re-submitting an unchanged corpus queues nothing. Quicker still, a fingerprint of the corpus
//! file (size and SHA-256) and of the chunking settings is stored once ingestion is complete;
//! when it matches, the corpus is not even read.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::metrics::{self, Judgements, QueryMetrics};
use super::BeirArgs;
use ragway::config::Config;
use ragway::documents::{self, Upload};
use ragway::knowledge;
use ragway::retrieval::{self, SearchParams};
use ragway::state::AppState;
use ragway::store::knowledge::{DocumentStatus, KnowledgeBase, PutOutcome};
use ragway_protocol::knowledge::NewKnowledgeBase;

/// The project and knowledge base the corpus is ingested into (in the evaluation's own
/// database).
pub const PROJECT: &str = "eval";
pub const KB: &str = "beir";
/// Written to the evaluation data dir once ingestion is complete.
const FINGERPRINT_FILE: &str = "beir-fingerprint.json";

/// What ingestion did.
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    /// The stored fingerprint matched: the corpus was not read, nothing was submitted.
    pub cached: bool,
    /// Documents of the corpus.
    pub documents: usize,
    /// Documents new or changed since the last run (queued this run).
    pub queued: usize,
    /// Documents the ingest worker processed this run.
    pub processed: usize,
    /// Documents no longer in the corpus, deleted.
    pub removed: usize,
    /// Corpus records with neither title nor text, left out.
    pub empty: usize,
    /// Documents that failed to ingest (all runs).
    pub failed: usize,
    /// Chunks in the knowledge base.
    pub chunks: u64,
    /// Wall time of ingestion, including reading the corpus.
    pub elapsed: Duration,
}

/// One configuration's scores, printed as one JSON line with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigResult {
    pub config: String,
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub queries: usize,
}

#[derive(Debug, Clone)]
pub struct BeirReport {
    pub corpus_dir: PathBuf,
    pub data_dir: PathBuf,
    pub split: String,
    pub ingest: IngestReport,
    pub results: Vec<ConfigResult>,
}

impl BeirReport {
    /// The human-readable report: what was evaluated, then a table of the configurations.
    pub fn table(&self) -> String {
        let i = &self.ingest;
        let mut out = format!(
            "corpus   {} ({} documents, {} chunks; data dir {})\n",
            self.corpus_dir.display(),
            i.documents,
            i.chunks,
            self.data_dir.display()
        );
        out += &if i.cached {
            "ingest   cached (corpus and chunking settings unchanged)\n".to_owned()
        } else {
            format!(
                "ingest   {} documents processed in {} ({} queued, {} removed, {} failed)\n",
                i.processed,
                human_duration(i.elapsed),
                i.queued,
                i.removed,
                i.failed
            )
        };
        let queries = self.results.first().map_or(0, |r| r.queries);
        out += &format!("queries  {queries} (split {})\n\n", self.split);
        let width = self
            .results
            .iter()
            .map(|r| r.config.len())
            .max()
            .unwrap_or(0)
            .max("configuration".len());
        out += &format!(
            "{:<width$}  nDCG@10  recall@10  recall@100  MRR@10  p50 ms  p99 ms\n",
            "configuration"
        );
        for r in &self.results {
            out += &format!(
                "{:<width$}  {:>7.4}  {:>9.4}  {:>10.4}  {:>6.4}  {:>6.1}  {:>6.1}\n",
                r.config,
                r.ndcg_at_10,
                r.recall_at_10,
                r.recall_at_100,
                r.mrr_at_10,
                r.p50_ms,
                r.p99_ms
            );
        }
        out
    }
}

/// A query with relevance judgements.
#[derive(Debug, Clone)]
pub struct JudgedQuery {
    pub id: String,
    pub text: String,
    pub qrels: Judgements,
}

/// Ingest (or reuse) the corpus of `args.dir` and evaluate every configuration asked for.
/// `config` is the main configuration: the model is taken from it, the stores are the
/// evaluation's own.
pub async fn run(config: &Config, args: &BeirArgs) -> anyhow::Result<BeirReport> {
    anyhow::ensure!(args.threads >= 1, "--threads must be at least 1");
    anyhow::ensure!(
        (1..=1024).contains(&args.depth),
        "--depth must be in 1..=1024"
    );
    anyhow::ensure!(
        args.max_chunks_per_document.iter().all(|&m| m >= 1),
        "--max-chunks-per-document must be at least 1"
    );
    anyhow::ensure!(
        args.diversity.iter().all(|d| (0.0..=1.0).contains(d)),
        "--diversity must be in 0..=1"
    );
    anyhow::ensure!(
        args.fusions
            .iter()
            .all(|f| f.parse::<ragway::vector::Fusion>().is_ok()),
        "--fusion must be dbsf, rrf or rrf(k=K,dense_weight=W)"
    );
    anyhow::ensure!(
        args.candidates.iter().all(|&c| (1..=10_000).contains(&c)),
        "--candidates must be in 1..=10000"
    );
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("BEIR folder {}", args.dir.display()))?;
    let corpus = dir.join("corpus.jsonl");
    let qrels_path = dir.join("qrels").join(format!("{}.tsv", args.split));
    for path in [&corpus, &dir.join("queries.jsonl"), &qrels_path] {
        anyhow::ensure!(path.is_file(), "{} is missing", path.display());
    }
    let qrels = load_qrels(&qrels_path)?;
    let mut queries = load_queries(&dir.join("queries.jsonl"), qrels)?;
    if let Some(n) = args.limit_queries {
        queries.truncate(n);
    }
    anyhow::ensure!(
        !queries.is_empty(),
        "no query of {} has a relevant document in {}",
        dir.join("queries.jsonl").display(),
        qrels_path.display()
    );

    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "corpus".into());
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("eval").join(&name));
    let state = Arc::new(AppState::load(eval_config(config, &data_dir), None).await?);
    let (kb, ingest) = ingest(&state, &corpus, &name, args.threads).await?;
    if args.optimize {
        let started = Instant::now();
        state.vectors.optimize(&kb.collection).await?;
        eprintln!("optimised in {:.1} s", started.elapsed().as_secs_f64());
    }

    let mut results = Vec::new();
    for (label, params, diversity) in configurations(args) {
        results.push(
            evaluate(
                &state, &kb, &queries, &label, &params, diversity, args.depth,
            )
            .await?,
        );
    }
    Ok(BeirReport {
        corpus_dir: dir,
        data_dir,
        split: args.split.clone(),
        ingest,
        results,
    })
}

/// The evaluation's configuration: the main one's model, embedder layout, chunking settings
/// and collection layout (`vector_store.on_disk_*`, `quantization`), its own embedded stores
/// in `data_dir`, no ingest workers of its own (the
/// evaluation drives them), no generation backends.
pub fn eval_config(main: &Config, data_dir: &Path) -> Config {
    let mut c = main.clone();
    c.embedding.model_dir = Some(main.model_dir());
    c.embedding.onnxruntime_path = Some(main.onnxruntime_path());
    c.data_dir = data_dir.to_path_buf();
    c.database = Default::default();
    // Embedded stores, laid out as the main configuration asks.
    c.vector_store = ragway::config::VectorStoreConfig {
        on_disk_vectors: main.vector_store.on_disk_vectors,
        on_disk_payload: main.vector_store.on_disk_payload,
        on_disk_index: main.vector_store.on_disk_index,
        quantization: main.vector_store.quantization,
        ..Default::default()
    };
    c.ingest.workers = 0;
    c.generation = Default::default();
    c.rerankers = Vec::new();
    c.auth.dev_bootstrap = false;
    c
}

/// Every combination of the modes, candidates, per-document caps and MMR diversities asked
/// for, labelled.
fn configurations(args: &BeirArgs) -> Vec<(String, SearchParams, f32)> {
    let mut modes = args.modes.clone();
    modes.dedup();
    let candidates: Vec<Option<usize>> = if args.candidates.is_empty() {
        vec![None]
    } else {
        args.candidates.iter().copied().map(Some).collect()
    };
    let mut out = Vec::new();
    for fusion_name in &args.fusions {
        let fusion: ragway::vector::Fusion = fusion_name.parse().unwrap_or_default();
        for mode in &modes {
            for &c in &candidates {
                for (&cap, &diversity) in args
                    .max_chunks_per_document
                    .iter()
                    .flat_map(|c| args.diversity.iter().map(move |d| (c, d)))
                {
                    let mut label = mode.as_str().to_owned();
                    if fusion_name != "dbsf" || args.fusions.len() > 1 {
                        label += &format!(",fusion={fusion_name}");
                    }
                    if let Some(c) = c {
                        label += &format!(",candidates={c}");
                    }
                    if cap != 1 || args.max_chunks_per_document.len() > 1 {
                        label += &format!(",max_chunks_per_document={cap}");
                    }
                    if diversity != 0.0 || args.diversity.len() > 1 {
                        label += &format!(",diversity={diversity}");
                    }
                    let params = SearchParams {
                        // Enough chunks for `depth` documents even if each comes `cap` times.
                        k: args.depth * cap,
                        mode: mode.search_mode(),
                        candidates: c,
                        max_chunks_per_document: Some(cap),
                        fusion,
                        ..Default::default()
                    };
                    if !out.iter().any(|(l, _, _)| *l == label) {
                        out.push((label, params, diversity));
                    }
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reading the BEIR files

/// `_id` may be a string or a number.
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn str_of(v: Option<&Value>) -> String {
    v.and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// `qrels/<split>.tsv`: `query-id corpus-id score` (tab- or space-separated, an optional
/// header; TREC's four columns `query-id 0 corpus-id score` are read too).
pub fn load_qrels(path: &Path) -> anyhow::Result<HashMap<String, Judgements>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out: HashMap<String, Judgements> = HashMap::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (q, d, s) = match fields.as_slice() {
            [] => continue,
            [q, d, s] | [q, _, d, s] => (*q, *d, *s),
            _ => bail!(
                "{}:{}: expected `query-id corpus-id score`",
                path.display(),
                n + 1
            ),
        };
        let Ok(score) = s.parse::<f64>() else {
            if n == 0 {
                continue; // the header
            }
            bail!("{}:{}: score `{s}` is not a number", path.display(), n + 1);
        };
        out.entry(q.to_owned())
            .or_default()
            .insert(d.to_owned(), score);
    }
    Ok(out)
}

/// The queries of `queries.jsonl` that have at least one relevant document (score > 0) in
/// `qrels`, in file order. Queries without one are not evaluated (trec_eval skips them too).
pub fn load_queries(
    path: &Path,
    mut qrels: HashMap<String, Judgements>,
) -> anyhow::Result<Vec<JudgedQuery>> {
    qrels.retain(|_, j| metrics::relevant_count(j) > 0);
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a JSON object", path.display(), n + 1))?;
        let Some(id) = v.get("_id").and_then(id_of) else {
            bail!("{}:{}: no `_id`", path.display(), n + 1);
        };
        let text = str_of(v.get("text"));
        if text.is_empty() {
            continue;
        }
        if let Some(j) = qrels.remove(&id) {
            out.push(JudgedQuery { id, text, qrels: j });
        }
    }
    if !qrels.is_empty() {
        eprintln!(
            "warning: {} judged queries are missing from {} (or empty); they are not evaluated",
            qrels.len(),
            path.display()
        );
    }
    Ok(out)
}

/// One corpus record, as submitted.
struct CorpusDoc {
    id: String,
    title: Option<String>,
    text: String,
}

/// Read `corpus.jsonl` on a blocking thread, one record at a time, into a channel.
fn read_corpus(path: PathBuf) -> tokio::sync::mpsc::Receiver<anyhow::Result<CorpusDoc>> {
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::task::spawn_blocking(move || {
        let send = |r| tx.blocking_send(r).is_ok();
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                send(Err(
                    anyhow::Error::new(e).context(format!("opening {}", path.display()))
                ));
                return;
            }
        };
        for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
            let doc = line
                .with_context(|| format!("reading {}", path.display()))
                .and_then(|line| {
                    if line.trim().is_empty() {
                        return Ok(None);
                    }
                    let v: Value = serde_json::from_str(&line).with_context(|| {
                        format!("{}:{}: not a JSON object", path.display(), n + 1)
                    })?;
                    let id = v
                        .get("_id")
                        .and_then(id_of)
                        .with_context(|| format!("{}:{}: no `_id`", path.display(), n + 1))?;
                    let title = Some(str_of(v.get("title"))).filter(|t| !t.is_empty());
                    Ok(Some(CorpusDoc {
                        id,
                        title,
                        text: str_of(v.get("text")),
                    }))
                });
            match doc {
                Ok(None) => continue,
                Ok(Some(d)) => {
                    if !send(Ok(d)) {
                        return;
                    }
                }
                Err(e) => {
                    send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

// ---------------------------------------------------------------------------------------------
// Ingestion

/// What decides whether stored chunks can be reused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Settings {
    model: String,
    max_tokens: usize,
    overlap_tokens: usize,
    markdown: bool,
    title_in_chunks: bool,
    /// BM25 k1, b, avg_len (absent in fingerprints from before it was recorded: the defaults).
    #[serde(default = "default_bm25")]
    bm25: [f32; 3],
}

fn default_bm25() -> [f32; 3] {
    let d = ragway::config::SparseConfig::default();
    [d.k1, d.b, d.avg_len]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FileFingerprint {
    size: u64,
    sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Fingerprint {
    settings: Settings,
    /// Set once the corpus is fully ingested.
    corpus: Option<FileFingerprint>,
    documents: usize,
}

fn read_fingerprint(path: &Path) -> Option<Fingerprint> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn write_fingerprint(path: &Path, f: &Fingerprint) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(f)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

async fn file_fingerprint(path: &Path) -> anyhow::Result<FileFingerprint> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        Ok(FileFingerprint {
            size,
            sha256: hex::encode(hasher.finalize()),
        })
    })
    .await?
}

/// Documents of the knowledge base by status, and its chunks.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    queued: usize,
    processing: usize,
    ready: usize,
    failed: usize,
    chunks: u64,
}

impl Counts {
    fn pending(&self) -> usize {
        self.queued + self.processing
    }
}

async fn counts(state: &AppState, kb: &KnowledgeBase) -> anyhow::Result<Counts> {
    let mut c = Counts::default();
    for (s, n, chunks) in state.db.kb_document_counts(&kb.project_id, &kb.id).await? {
        let n = n.max(0) as usize;
        match s {
            DocumentStatus::Queued => c.queued = n,
            DocumentStatus::Processing => c.processing = n,
            DocumentStatus::Ready => c.ready = n,
            DocumentStatus::Failed => c.failed = n,
        }
        c.chunks += chunks.max(0) as u64;
    }
    Ok(c)
}

/// Bring the knowledge base up to date with `corpus`: skip at once when the stored
/// fingerprint matches, else submit every record (unchanged ones are no-ops), delete the
/// documents no longer in the corpus, and run `workers` ingest workers until the queue is
/// empty.
async fn ingest(
    state: &Arc<AppState>,
    corpus: &Path,
    name: &str,
    workers: usize,
) -> anyhow::Result<(KnowledgeBase, IngestReport)> {
    let started = Instant::now();
    let settings = Settings::of(state);
    let print_path = state.config.data_dir.join(FINGERPRINT_FILE);
    let previous = read_fingerprint(&print_path);
    let file = file_fingerprint(corpus).await?;
    if state.db.get_project(PROJECT).await?.is_none() {
        state.db.create_project(PROJECT, PROJECT, None).await?;
    }
    let existing = state.db.get_kb(PROJECT, KB).await?;
    if let (Some(kb), Some(prev)) = (&existing, &previous) {
        if prev.settings == settings && prev.corpus.as_ref() == Some(&file) {
            if let Some(report) = cached(state, kb, prev, started).await? {
                return Ok((kb.clone(), report));
            }
        }
    }
    let kb = current_kb(state, existing, previous.as_ref(), &settings, name, corpus).await?;
    let mut print = Fingerprint {
        settings,
        corpus: None,
        documents: 0,
    };
    write_fingerprint(&print_path, &print)?;
    let mut report = IngestReport::default();
    let ids = submit_corpus(state, &kb, corpus, &mut report).await?;
    report.removed = remove_missing(state, &kb, &ids).await?;
    process_queue(state, &kb, workers, &mut report).await?;
    report.elapsed = started.elapsed();
    print_outcome(state, &report).await?;
    (print.corpus, print.documents) = (Some(file), report.documents);
    write_fingerprint(&print_path, &print)?;
    Ok((kb, report))
}

impl Settings {
    /// The settings `state` ingests with.
    fn of(state: &AppState) -> Settings {
        Settings {
            model: state.pipeline.embedder.model_name().to_owned(),
            max_tokens: state.config.chunking.max_tokens,
            overlap_tokens: state.config.chunking.overlap_tokens,
            markdown: state.config.chunking.markdown,
            title_in_chunks: state.config.ingest.title_in_chunks,
            bm25: [
                state.config.sparse.k1,
                state.config.sparse.b,
                state.config.sparse.avg_len,
            ],
        }
    }

    /// Were `kb`'s chunks made with these settings? (Without a fingerprint: its own record.)
    fn made(&self, kb: &KnowledgeBase, previous: Option<&Fingerprint>) -> bool {
        match previous {
            Some(prev) => prev.settings == *self,
            None => {
                kb.embedding_model == self.model
                    && kb.chunk_max_tokens as usize == self.max_tokens
                    && kb.chunk_overlap as usize == self.overlap_tokens
                    && kb.markdown() == self.markdown
            }
        }
    }
}

/// The report of a run that found corpus and settings unchanged, unless documents are still
/// waiting to be processed (then the run goes on).
async fn cached(
    state: &AppState,
    kb: &KnowledgeBase,
    prev: &Fingerprint,
    started: Instant,
) -> anyhow::Result<Option<IngestReport>> {
    let c = counts(state, kb).await?;
    if c.pending() > 0 {
        return Ok(None);
    }
    eprintln!(
        "ingest: cached ({} documents, {} chunks; corpus and settings unchanged)",
        prev.documents, c.chunks
    );
    Ok(Some(IngestReport {
        cached: true,
        documents: prev.documents,
        failed: c.failed,
        chunks: c.chunks,
        elapsed: started.elapsed(),
        ..Default::default()
    }))
}

/// The knowledge base to ingest into: the existing one when its settings are these, else a
/// new one (the old one deleted).
async fn current_kb(
    state: &AppState,
    existing: Option<KnowledgeBase>,
    previous: Option<&Fingerprint>,
    settings: &Settings,
    name: &str,
    corpus: &Path,
) -> anyhow::Result<KnowledgeBase> {
    if let Some(kb) = existing {
        if settings.made(&kb, previous) {
            return Ok(kb);
        }
        eprintln!("ingest: the model or chunking settings changed; re-ingesting");
        knowledge::delete(state, &kb).await?;
    }
    let request = NewKnowledgeBase {
        name: Some(name.to_owned()),
        description: Some(format!("BEIR corpus {}", corpus.display())),
        ..NewKnowledgeBase::with_id(KB)
    };
    Ok(knowledge::create(state, PROJECT, request).await?)
}

/// Submit every record; unchanged ones (same external id, content, title) are no-ops.
/// Counts what was queued and left out in `report`; returns the corpus ids.
async fn submit_corpus(
    state: &AppState,
    kb: &KnowledgeBase,
    corpus: &Path,
    report: &mut IngestReport,
) -> anyhow::Result<HashSet<String>> {
    let mut ids: HashSet<String> = HashSet::new();
    let mut records = read_corpus(corpus.to_owned());
    let mut last = Instant::now();
    while let Some(doc) = records.recv().await {
        let doc = doc?;
        let Some(upload) = doc.upload() else {
            report.empty += 1;
            continue;
        };
        ids.insert(doc.id.clone());
        let (_, outcome) = documents::submit(state, kb, upload)
            .await
            .with_context(|| format!("submitting corpus document `{}`", doc.id))?;
        if outcome != PutOutcome::Unchanged {
            report.queued += 1;
        }
        if last.elapsed() >= Duration::from_secs(5) {
            eprintln!(
                "ingest: read {} documents ({} new or changed)",
                ids.len(),
                report.queued
            );
            last = Instant::now();
        }
    }
    report.documents = ids.len();
    Ok(ids)
}

impl CorpusDoc {
    /// The upload of this record: its text, or its title when it has no text; None when it
    /// has neither.
    fn upload(&self) -> Option<Upload> {
        let text = match (self.text.is_empty(), &self.title) {
            (false, _) => self.text.clone(),
            (true, Some(t)) => t.clone(),
            (true, None) => return None,
        };
        Some(Upload {
            external_id: Some(self.id.clone()),
            title: self.title.clone(),
            content_type: Some("text/plain; charset=utf-8".into()),
            content: text.into_bytes(),
            ..Default::default()
        })
    }
}

/// Delete the documents whose ids are no longer in the corpus; how many.
async fn remove_missing(
    state: &AppState,
    kb: &KnowledgeBase,
    ids: &HashSet<String>,
) -> anyhow::Result<usize> {
    let mut removed = 0;
    let mut after: Option<String> = None;
    loop {
        let page = state
            .db
            .list_documents(PROJECT, KB, None, after.as_deref(), 1000)
            .await?;
        let Some(tail) = page.last() else { break };
        after = Some(tail.id.clone());
        for d in &page {
            if !d.external_id.as_ref().is_some_and(|e| ids.contains(e)) {
                documents::delete(state, kb, d).await?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Process what is queued with `workers` workers; record processed, failed and chunks.
async fn process_queue(
    state: &Arc<AppState>,
    kb: &KnowledgeBase,
    workers: usize,
    report: &mut IngestReport,
) -> anyhow::Result<()> {
    let start = counts(state, kb).await?;
    report.processed = start.pending();
    if start.pending() > 0 {
        eprintln!(
            "ingest: {} of {} documents to process ({} workers)",
            start.pending(),
            report.documents,
            workers
        );
        drive_workers(state, kb, workers, start).await?;
    }
    let end = counts(state, kb).await?;
    report.failed = end.failed;
    report.chunks = end.chunks;
    Ok(())
}

/// Warn about (a few) failed documents, and say how ingestion went.
async fn print_outcome(state: &AppState, report: &IngestReport) -> anyhow::Result<()> {
    if report.failed > 0 {
        let failed = state
            .db
            .list_documents(PROJECT, KB, Some(DocumentStatus::Failed), None, 3)
            .await?;
        for d in failed {
            eprintln!(
                "warning: document `{}` failed: {}",
                d.external_id.unwrap_or(d.id),
                d.error.unwrap_or_default()
            );
        }
    }
    eprintln!(
        "ingest: done in {}: {} documents ({} processed, {} failed), {} chunks",
        human_duration(report.elapsed),
        report.documents,
        report.processed,
        report.failed,
        report.chunks
    );
    Ok(())
}

/// Run `n` ingest workers (`documents::worker::run_once` loops) until nothing is queued or
/// being processed, printing progress on stderr.
async fn drive_workers(
    state: &Arc<AppState>,
    kb: &KnowledgeBase,
    n: usize,
    start: Counts,
) -> anyhow::Result<()> {
    let run = futures_util::future::try_join_all((0..n).map(|i| {
        let state = state.clone();
        let kb = kb.clone();
        let owner = format!("eval-{}-{i}", uuid::Uuid::new_v4().simple());
        async move {
            loop {
                if ragway::documents::worker::run_once(&state, &owner).await? {
                    continue;
                }
                // Nothing due: done, unless a document is being processed elsewhere or
                // waits for a retry.
                if counts(&state, &kb).await?.pending() == 0 {
                    return anyhow::Ok(());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }));
    tokio::pin!(run);
    let tty = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(15)
    });
    tick.tick().await;
    let started = Instant::now();
    loop {
        tokio::select! {
            r = &mut run => {
                r?;
                break;
            }
            _ = tick.tick() => {
                let now = counts(state, kb).await?;
                let line = progress_line(&start, &now, started.elapsed());
                if tty {
                    eprint!("\r{line}\x1b[K");
                } else {
                    eprintln!("{line}");
                }
                let _ = std::io::stderr().flush();
            }
        }
    }
    if tty {
        eprintln!();
    }
    Ok(())
}

fn progress_line(start: &Counts, now: &Counts, elapsed: Duration) -> String {
    let total = start.pending();
    let done = total.saturating_sub(now.pending());
    let secs = elapsed.as_secs_f64().max(1e-3);
    let chunks = now.chunks.saturating_sub(start.chunks);
    let docs_rate = done as f64 / secs;
    let eta = if docs_rate > 0.0 {
        human_duration(Duration::from_secs_f64((total - done) as f64 / docs_rate))
    } else {
        "?".into()
    };
    format!(
        "ingest: {done}/{total} documents ({} failed), {} chunks, {:.1} chunks/s, {:.1} docs/s, ETA {eta}",
        now.failed.saturating_sub(start.failed),
        now.chunks,
        chunks as f64 / secs,
        docs_rate
    )
}

/// `1h02m`, `6m20s`, `12.3s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Run every query through `retrieval::search` with `params` (then MMR with `diversity`, as
/// chat does, when > 0), rank documents by their best chunk, and average the metrics.
async fn evaluate(
    state: &AppState,
    kb: &KnowledgeBase,
    queries: &[JudgedQuery],
    label: &str,
    params: &SearchParams,
    diversity: f32,
    depth: usize,
) -> anyhow::Result<ConfigResult> {
    let kbs = std::slice::from_ref(kb);
    // Warm-up (first ONNX run, caches), not timed.
    retrieval::search(state, kbs, &queries[0].text, params).await?;
    let mut per_query = Vec::with_capacity(queries.len());
    let mut latencies = Vec::with_capacity(queries.len());
    let mut last = Instant::now();
    for (i, q) in queries.iter().enumerate() {
        let t = Instant::now();
        let mut chunks = retrieval::search(state, kbs, &q.text, params)
            .await
            .with_context(|| format!("query `{}`", q.id))?;
        if diversity > 0.0 {
            let n = chunks.len();
            chunks = retrieval::mmr(chunks, diversity, n);
        }
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        let mut ranked =
            metrics::document_ranking(chunks.into_iter().filter_map(|c| c.external_id));
        ranked.truncate(depth);
        per_query.push(metrics::evaluate(&ranked, &q.qrels));
        if last.elapsed() >= Duration::from_secs(10) {
            eprintln!("{label}: {}/{} queries", i + 1, queries.len());
            last = Instant::now();
        }
    }
    let QueryMetrics {
        ndcg_at_10,
        recall_at_10,
        recall_at_100,
        mrr_at_10,
    } = metrics::mean(&per_query);
    let result = ConfigResult {
        config: label.to_owned(),
        ndcg_at_10,
        recall_at_10,
        recall_at_100,
        mrr_at_10,
        p50_ms: metrics::percentile(&latencies, 50.0),
        p99_ms: metrics::percentile(&latencies, 99.0),
        queries: queries.len(),
    };
    eprintln!(
        "{label}: nDCG@10 {:.4}, recall@100 {:.4} over {} queries",
        result.ndcg_at_10, result.recall_at_100, result.queries
    );
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qrels_with_header_and_trec_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.tsv");
        std::fs::write(
            &p,
            "query-id\tcorpus-id\tscore\n1\ta\t1\n1\tb\t2\n2 0 c 0\n\n",
        )
        .unwrap();
        let q = load_qrels(&p).unwrap();
        assert_eq!(q["1"]["a"], 1.0);
        assert_eq!(q["1"]["b"], 2.0);
        assert_eq!(q["2"]["c"], 0.0);
        // Query 2 has nothing relevant: not evaluated.
        let qp = dir.path().join("queries.jsonl");
        std::fs::write(
            &qp,
            "{\"_id\": \"2\", \"text\": \"two\"}\n{\"_id\": 1, \"text\": \"one\"}\n",
        )
        .unwrap();
        let queries = load_queries(&qp, q).unwrap();
        assert_eq!(queries.len(), 1);
        assert_eq!(
            (queries[0].id.as_str(), queries[0].text.as_str()),
            ("1", "one")
        );
    }

    #[test]
    fn configurations_are_the_cross_product() {
        let mut args = BeirArgs::new("x", "test");
        args.modes = vec![super::super::Mode::Hybrid, super::super::Mode::Sparse];
        args.candidates = vec![100, 400];
        let c = configurations(&args);
        let labels: Vec<&str> = c.iter().map(|(l, _, _)| l.as_str()).collect();
        assert_eq!(
            labels,
            [
                "hybrid,candidates=100",
                "hybrid,candidates=400",
                "sparse,candidates=100",
                "sparse,candidates=400"
            ]
        );
        assert_eq!(c[0].1.k, 100);
        assert_eq!(c[0].1.max_chunks_per_document, Some(1));
        let c = configurations(&BeirArgs::new("x", "test"));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].0, "hybrid");
    }
}
