//! `ragway eval`: retrieval quality on a benchmark, in-process on the embedded stores. The
//! corpus goes through the normal ingest pipeline into a knowledge base of its own data dir
//! (kept between runs, so a re-run only evaluates), every query through
//! `ragway::retrieval::search` — the code the search and chat endpoints use.
//!
//! - `beir`: a folder in BEIR layout (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`).
//! - `metrics`: nDCG@10, recall@k, MRR@10 with trec_eval's conventions.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use ragway::config::{Config, LogConfig};
use ragway::vector::SearchMode;

pub mod beir;
pub mod metrics;

/// `ragway eval …`
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub command: EvalCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum EvalCommand {
    /// Evaluate retrieval on a folder in BEIR layout: corpus.jsonl (_id, title, text),
    /// queries.jsonl (_id, text) and qrels/<split>.tsv (query-id, corpus-id, score).
    Beir(BeirArgs),
}

/// A search mode, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Hybrid,
    Dense,
    Sparse,
}

impl Mode {
    pub fn search_mode(self) -> SearchMode {
        match self {
            Mode::Hybrid => SearchMode::Hybrid,
            Mode::Dense => SearchMode::Dense,
            Mode::Sparse => SearchMode::Sparse,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hybrid => "hybrid",
            Mode::Dense => "dense",
            Mode::Sparse => "sparse",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct BeirArgs {
    /// The BEIR folder.
    pub dir: PathBuf,
    /// The qrels split to evaluate (`qrels/<split>.tsv`).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Search mode; repeat to evaluate several.
    #[arg(long = "mode", value_enum, default_values_t = vec![Mode::Hybrid])]
    pub modes: Vec<Mode>,
    /// Hits each leg fetches before fusion (default: the retrieval default, max(4k, 40));
    /// repeat to evaluate several.
    #[arg(long = "candidates")]
    pub candidates: Vec<usize>,
    /// Hybrid fusion (`rrf`, `dbsf`); repeat to evaluate several.
    #[arg(long = "fusion", default_values_t = vec!["dbsf".to_owned()])]
    pub fusions: Vec<String>,
    /// Chunks of one document kept in a result list; repeat to evaluate several.
    #[arg(long = "max-chunks-per-document", default_values_t = vec![1usize])]
    pub max_chunks_per_document: Vec<usize>,
    /// MMR diversity applied to the retrieved chunks (0 = none, as chat's `diversity`);
    /// repeat to evaluate several.
    #[arg(long = "diversity", default_values_t = vec![0.0f32])]
    pub diversity: Vec<f32>,
    /// Documents retrieved per query (recall@100 needs at least 100).
    #[arg(long, default_value_t = 100)]
    pub depth: usize,
    /// Print one JSON object per configuration and line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The evaluation's own data dir (default: <data_dir>/eval/<name of the BEIR folder>).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Evaluate only the first N queries (of those with relevance judgements).
    #[arg(long)]
    pub limit_queries: Option<usize>,
    /// Documents ingested at once (the embedder's instances and threads come from
    /// `embedding.threads` / `embedding.intra_threads`, by default from the cores).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Build the search indexes before searching, as `serve`'s background optimiser does
    /// (without it, the engine searches the freshly written segments exactly): measures the
    /// approximate path (HNSW, and the int8 copy with `vector_store.quantization`).
    #[arg(long)]
    pub optimize: bool,
}

impl BeirArgs {
    /// Arguments for `dir` with every default (for tests and callers in code).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn new(dir: impl Into<PathBuf>, split: &str) -> BeirArgs {
        BeirArgs {
            dir: dir.into(),
            split: split.to_owned(),
            modes: vec![Mode::Hybrid],
            candidates: Vec::new(),
            fusions: vec!["dbsf".to_owned()],
            max_chunks_per_document: vec![1],
            diversity: vec![0.0],
            depth: 100,
            json: false,
            data_dir: None,
            limit_queries: None,
            threads: 2,
            optimize: false,
        }
    }
}

/// Run `ragway eval …` and print its results on stdout (progress goes to stderr).
pub async fn run(config: Config, args: EvalArgs) -> anyhow::Result<()> {
    // Per-document ingest logs would drown the progress lines: warnings only, unless a level
    // is asked for explicitly.
    let level = match std::env::var("RAGWAY__LOG__LEVEL") {
        Ok(level) => level,
        Err(_) => "warn".into(),
    };
    ragway::telemetry::init(&LogConfig {
        level,
        format: config.log.format,
    });
    match args.command {
        EvalCommand::Beir(args) => {
            let report = beir::run(&config, &args).await?;
            if args.json {
                for r in &report.results {
                    println!("{}", serde_json::to_string(r)?);
                }
            } else {
                print!("{}", report.table());
            }
            Ok(())
        }
    }
}
