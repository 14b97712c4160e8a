//! `ragway migrate`: move an embedded deployment (SQLite and Qdrant Edge in the data dir) to
//! the scale-out stores (PostgreSQL and a Qdrant server), with ragway stopped. Vectors are
//! copied as they are, nothing is embedded again; then every row (users, tokens, knowledge
//! bases, documents and their sources, chat logs, jobs) is copied. The source is only read.

use std::time::Instant;

use anyhow::{bail, ensure, Context};

use ragway::config::{Config, DatabaseKind};
use ragway::store::{copy, Db};
use ragway::vector::edge::EdgeStore;
use ragway::vector::qdrant::{QdrantOptions, QdrantStore};
use ragway::vector::{CollectionSettings, VectorStore};

#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    /// The PostgreSQL database to move to; it must be empty (migrations are applied).
    #[arg(long)]
    pub to_database: String,
    /// The Qdrant server to move to (gRPC, e.g. http://qdrant:6334).
    #[arg(long)]
    pub to_qdrant: String,
    /// The Qdrant server's API key.
    #[arg(long, env = "RAGWAY_MIGRATE_QDRANT_API_KEY", hide_env_values = true)]
    pub qdrant_api_key: Option<String>,
    /// The `vector_store.collection_prefix` the scale-out deployment will use.
    #[arg(long, default_value = "")]
    pub collection_prefix: String,
    /// Points per write to the server.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
}

/// What was moved.
#[derive(Debug, Default)]
pub struct Moved {
    /// (collection, points)
    pub collections: Vec<(String, u64)>,
    /// (table, rows)
    pub tables: Vec<(&'static str, u64)>,
    /// Documents that were being processed, queued again on the target.
    pub requeued: u64,
}

/// Move the stores `config` names (embedded) to those `args` names.
pub async fn run(config: &Config, args: &MigrateArgs) -> anyhow::Result<Moved> {
    ensure!(
        config.database_kind()? == DatabaseKind::Sqlite && config.vector_store.url.is_none(),
        "migrate moves the embedded stores (SQLite and Qdrant Edge in data_dir); this \
         configuration already names database.url or vector_store.url"
    );
    ensure!(args.batch > 0, "--batch must be positive");
    let mut target_config = config.clone();
    target_config.database.url = Some(args.to_database.clone());
    target_config.vector_store.url = Some(args.to_qdrant.clone());
    target_config.vector_store.collection_prefix = args.collection_prefix.clone();
    target_config.vector_store.validate()?;
    ensure!(
        target_config.database_kind()? == DatabaseKind::Postgres,
        "--to-database must be a postgres:// URL"
    );

    let source_db = Db::connect(config).await?;
    let dir = config.vectors_dir();
    let source = tokio::task::spawn_blocking(move || EdgeStore::open(&dir))
        .await?
        .context("opening Qdrant Edge (stop every ragway process on this data dir first)")?;
    let active = copy::active_jobs(&source_db).await?;
    if active > 0 {
        bail!("{active} job(s) are queued or running: let them finish, or cancel them, first");
    }
    let target_db = Db::connect(&target_config).await?;
    copy::ensure_empty(&target_db).await?;
    let target = QdrantStore::connect(QdrantOptions {
        api_key: args.qdrant_api_key.clone(),
        collection_prefix: args.collection_prefix.clone(),
        collections: CollectionSettings::from(&target_config.vector_store),
        ..QdrantOptions::new(&args.to_qdrant)
    })?;
    target
        .health()
        .await
        .with_context(|| format!("reaching Qdrant at {}", args.to_qdrant))?;

    // Vectors first: if this stops half-way the target database is still empty, so running
    // it again is allowed, and it overwrites the same points.
    let mut moved = Moved::default();
    for (collection, dim) in copy::live_collections(&source_db).await? {
        let started = Instant::now();
        let points = copy_collection(&source, &target, &collection, dim as usize, args.batch)
            .await
            .with_context(|| format!("copying collection {collection}"))?;
        eprintln!(
            "collection {collection}: {points} points in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        moved.collections.push((collection, points));
    }
    for table in copy::TABLES {
        let rows = copy::copy_table(&source_db, &target_db, table).await?;
        eprintln!("table {table}: {rows} rows");
        moved.tables.push((table, rows));
    }
    copy::copy_deferred(&source_db, &target_db).await?;
    moved.requeued = copy::requeue_claimed(&target_db).await?;
    Ok(moved)
}

/// Copy one collection page by page; the counts on both sides must agree.
async fn copy_collection(
    source: &EdgeStore,
    target: &QdrantStore,
    collection: &str,
    dim: usize,
    batch: usize,
) -> anyhow::Result<u64> {
    let total = source.count(collection, None).await?;
    target.ensure_collection(collection, dim).await?;
    let mut from = None;
    let mut copied = 0u64;
    loop {
        let (points, next) = source.export(collection, from, batch).await?;
        copied += points.len() as u64;
        if !points.is_empty() {
            target.upsert(collection, points).await?;
        }
        match next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    let landed = target.count(collection, None).await?;
    ensure!(
        copied == total && landed == total,
        "{collection}: {total} points in Qdrant Edge, {copied} read, {landed} on the server"
    );
    Ok(total)
}

/// `ragway migrate`: move, then say what was moved and how to start on the targets.
pub async fn run_command(config: &Config, args: &MigrateArgs) -> anyhow::Result<()> {
    ragway::telemetry::init(&config.log);
    let moved = run(config, args).await?;
    let points: u64 = moved.collections.iter().map(|(_, n)| n).sum();
    println!(
        "moved {} collection(s) ({points} points) and {} table(s); {} document(s) queued again",
        moved.collections.len(),
        moved.tables.len(),
        moved.requeued
    );
    println!(
        "start ragway with database.url and vector_store.url (and \
         vector_store.collection_prefix) set to the targets"
    );
    Ok(())
}
