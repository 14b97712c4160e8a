//! The command line: `ragway serve`, `ragway worker`, `ragway config check`, and the
//! operator tools (`ingest`, `reindex`, `jobs`, `bench`, `eval`). Compiled into the binary
//! only: the server library (`ragway`) holds the server, these use it from outside. The
//! integration tests compile this tree too (`tests/api/main.rs`), to drive the tools in-process.

use std::path::PathBuf;

pub mod bench;
pub mod client;
pub mod eval;
pub mod ingest;
pub mod jobs;
pub mod load;
pub mod migrate;

use clap::{Parser, Subcommand};

use ragway::config::Config;
use ragway::startup::Application;
use ragway::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "ragway",
    version,
    about = "A retrieval-augmented, OpenAI-compatible chat server"
)]
pub struct Cli {
    /// A TOML config file (layered over the defaults, under RAGWAY__… env vars).
    #[arg(long, short, global = true, env = "RAGWAY_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve,
    /// Process the ingest queue and run jobs without serving HTTP (scale-out: run several).
    Worker {
        /// Documents processed at once (their chunks share embedding batches).
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Jobs run at once.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
    },
    /// Send files or folders to a running ragway (only new or changed files).
    Ingest(crate::cli::ingest::IngestArgs),
    /// Rebuild a knowledge base (new chunking or embedding model) on a running ragway, with
    /// no downtime: searches answer from the old generation until the switch.
    Reindex(crate::cli::jobs::ReindexArgs),
    /// Background jobs of a running ragway.
    #[command(subcommand)]
    Jobs(crate::cli::jobs::JobsCommand),
    /// Benchmarks that print numbers.
    #[command(subcommand)]
    Bench(crate::cli::bench::BenchCommand),
    /// Measure retrieval quality on a benchmark, in-process (`ragway eval beir DIR`).
    Eval(crate::cli::eval::EvalArgs),
    /// Move this data dir's embedded stores (SQLite, Qdrant Edge) to PostgreSQL and a Qdrant
    /// server for scale-out, with ragway stopped; vectors are copied, not re-embedded.
    Migrate(crate::cli::migrate::MigrateArgs),
    /// Parse one document from stdin under the OS limits the caller set, answering on stdout
    /// (the ingest worker's isolated parser; not for interactive use).
    #[command(hide = true)]
    Parse,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration, print where things are, and exit.
    Check,
}

/// Run the parsed command; the returned error is printed by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            println!("configuration ok");
            println!("  server.bind       {}", config.server.bind);
            println!("  data_dir          {}", config.data_dir.display());
            println!("  database          {:?}", config.database_kind()?);
            println!(
                "  vector_store      {}",
                config
                    .vector_store
                    .url
                    .as_deref()
                    .unwrap_or("qdrant-edge (embedded)")
            );
            println!("  embedding model   {}", config.model_dir().display());
            println!(
                "  generation        {} backend(s)",
                config.generation.backends.len()
            );
            println!(
                "  admin token       {}",
                if config.auth.admin_token.is_some() {
                    "set"
                } else {
                    "unset"
                }
            );
            Ok(())
        }
        Command::Serve => serve(config).await,
        Command::Eval(args) => crate::cli::eval::run(config, args).await,
        Command::Migrate(args) => migrate::run_command(&config, &args).await,
        Command::Worker { concurrency, jobs } => worker(config, concurrency, jobs).await,
        Command::Bench(cmd) => {
            telemetry::init(&ragway::config::LogConfig {
                level: "warn".into(),
                ..Default::default()
            });
            crate::cli::bench::run(cmd, config).await
        }
        Command::Ingest(args) => crate::cli::ingest::run(args, &config.data_dir).await,
        Command::Reindex(args) => crate::cli::jobs::reindex(args, &config.data_dir).await,
        Command::Jobs(cmd) => crate::cli::jobs::jobs(cmd, &config.data_dir).await,
        Command::Parse => anyhow::bail!("`ragway parse` is served by main, before the runtime"),
    }
}

async fn worker(mut config: Config, concurrency: usize, jobs: usize) -> anyhow::Result<()> {
    telemetry::init(&config.log);
    // A worker embeds documents, not lone queries: unless configured, one single-threaded
    // model instance per core, which ingests faster than one instance using every core
    // (SciFact, 2 cores: 23.5 against 19.2 chunks/s) and leaves no ORT thread spinning.
    if config.embedding.threads.is_none() && config.embedding.intra_threads.is_none() {
        config.embedding.intra_threads = Some(1);
    }
    anyhow::ensure!(
        concurrency + jobs >= 1,
        "--concurrency and --jobs cannot both be 0"
    );
    let state = std::sync::Arc::new(ragway::state::AppState::load(config, None).await?);
    let mut workers = ragway::documents::worker::spawn(state.clone(), concurrency);
    workers.extend(ragway::jobs::worker::spawn(state, jobs));
    tracing::info!(
        concurrency,
        jobs,
        "ragway worker running; Ctrl-C or SIGTERM stops it"
    );
    shutdown_signal().await;
    // A document being processed keeps its lease and is reclaimed when it runs out.
    for w in workers {
        w.abort();
    }
    tracing::info!("worker stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn serve(config: Config) -> anyhow::Result<()> {
    telemetry::init(&config.log);
    let bootstrap = config.auth.dev_bootstrap;
    let app = Application::build(config).await?;
    let state = app.state();
    if bootstrap {
        if let Some((path, token)) = ragway::auth::bootstrap::dev_token(&state).await? {
            println!("dev PAT (also in {}): {token}", path.display());
        }
    }
    tracing::info!(bind = %state.config.server.bind, port = app.port(), "ragway listening");
    // SIGTERM/SIGINT: stop accepting, let in-flight requests finish (up to
    // server.shutdown_timeout_secs), then exit.
    let handle = app.handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown signal received; draining in-flight requests");
        handle.stop(true).await;
    });
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}
