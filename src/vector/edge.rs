//! Qdrant Edge in-process: one on-disk `EdgeShard` per collection, in `<dir>/<collection>/`.
//! Shard calls are synchronous (disk I/O, brute-force scans), so every one runs on tokio's
//! blocking pool, never on the async workers.

mod convert;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use qdrant_edge::{
    CountRequest, CreateIndex, Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams,
    EdgeVectorParams, FieldIndexOperations, Fusion as EFusion, HnswIndexConfig, Memory, Modifier,
    NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointInsertOperations, PointOperations,
    Prefetch, QuantizationConfig, QueryEnum, QueryRequest, ScalarQuantizationConfig, ScalarType,
    ScoringQuery, ScrollRequest, UpdateOperation, VectorInternal, WithPayloadInterface, WithVector,
};
use uuid::Uuid;

use crate::config::Quantization;

use super::{
    validate_collection_name as validate_name, CollectionSettings, Filter, Fusion, Hit, IndexKind,
    Point, Query, SearchMode, VectorError, VectorResult, VectorStore, DENSE, PAYLOAD_INDEXES,
    SPARSE,
};

/// The engine's schema type of a ragway payload index.
fn schema_type(kind: IndexKind) -> PayloadSchemaType {
    match kind {
        IndexKind::Integer => PayloadSchemaType::Integer,
        IndexKind::Keyword | IndexKind::Other => PayloadSchemaType::Keyword,
    }
}

/// A collection being created is built here, then renamed into place: a crash mid-creation
/// leaves only a hidden directory that `open` sweeps, never a half-made shard it cannot load.
const STAGING_PREFIX: &str = ".staging-";
/// A collection being dropped is renamed here first, so it vanishes from `open` atomically.
const TRASH_PREFIX: &str = ".trash-";

/// The in-process backend. Cheap to share: clone the `Arc` it is held in.
pub struct EdgeStore {
    dir: PathBuf,
    /// Open collections by name. Locked only to look up, insert or remove an entry, never
    /// across an `.await` or a shard call.
    collections: RwLock<HashMap<String, Arc<Collection>>>,
    /// Serialises creating and dropping collections (which touch the disk at length) without
    /// blocking readers of `collections`.
    lifecycle: tokio::sync::Mutex<()>,
    /// How new collections are stored (only the placement fields apply to one local shard).
    settings: CollectionSettings,
}

impl EdgeStore {
    /// Open the store in `dir` (created if missing) and load every collection found there.
    /// Synchronous and slow for big shards (their WAL is replayed): call it at start-up, before
    /// serving, or from `spawn_blocking`.
    pub fn open(dir: &Path) -> anyhow::Result<EdgeStore> {
        Self::open_with(dir, CollectionSettings::default())
    }

    /// `open`, creating new collections with `settings` (vectors and payload on disk or in
    /// RAM; one shard, so the cluster fields do not apply).
    pub fn open_with(dir: &Path, settings: CollectionSettings) -> anyhow::Result<EdgeStore> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating vector store directory {}", dir.display()))?;
        let mut collections = HashMap::new();
        for entry in std::fs::read_dir(dir)
            .with_context(|| format!("reading vector store directory {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.file_type()?.is_dir() {
                continue;
            }
            if name.starts_with(STAGING_PREFIX) || name.starts_with(TRASH_PREFIX) {
                tracing::warn!(path = %path.display(), "removing a leftover of an interrupted collection create/drop");
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
                continue;
            }
            let shard = EdgeShard::load(&path, None)
                .with_context(|| format!("loading Qdrant Edge shard {}", path.display()))?;
            collections.insert(name, Arc::new(Collection::new(shard)));
        }
        tracing::info!(dir = %dir.display(), collections = collections.len(), "opened Qdrant Edge store");
        Ok(EdgeStore {
            dir: dir.to_owned(),
            collections: RwLock::new(collections),
            lifecycle: tokio::sync::Mutex::new(()),
            settings,
        })
    }

    /// Build the HNSW indexes and merge small segments of `collection`, blocking a pool thread
    /// until done (seconds to minutes on big shards). Reads and writes keep working meanwhile.
    /// Meant for a background task after bulk ingestion, never per request. Returns whether
    /// anything was optimised.
    pub async fn optimize(&self, collection: &str) -> VectorResult<bool> {
        self.with_collection(collection, Collection::optimize).await
    }

    /// Optimise, one after the other, the collections written since their last optimisation
    /// (and each once after opening): what a Qdrant server's optimizers do after updates. The
    /// engine's planner decides what is worth doing (index a segment past its size threshold,
    /// merge small ones), so a call with nothing to do costs little. Returns how many
    /// collections were optimised; a collection dropped meanwhile is skipped, one that fails
    /// is logged and stays due.
    pub async fn optimize_written(&self) -> VectorResult<usize> {
        let due: Vec<String> = self
            .collections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, c)| c.written_since_optimized())
            .map(|(name, _)| name.clone())
            .collect();
        let mut optimized = 0;
        // One collection held at a time: dropping a collection waits for the calls that hold
        // it, and should not wait for the others' optimisations.
        for name in due {
            let Ok(collection) = self.collection(&name) else {
                continue;
            };
            // One failing collection (a full disk, say) must not keep the others waiting: it
            // stays due and is tried again on the next pass.
            match blocking(move || collection.optimize()).await {
                Ok(worked) => optimized += usize::from(worked),
                Err(err) => tracing::warn!(collection = %name, error = %err, "optimising failed"),
            }
        }
        Ok(optimized)
    }

    /// Up to `limit` points of `collection` with their vectors and payloads, by id from
    /// `from` (inclusive), and the id the next page starts at (None: this was the last).
    /// For moving a collection to another store (`ragway migrate`).
    pub async fn export(
        &self,
        collection: &str,
        from: Option<Uuid>,
        limit: usize,
    ) -> VectorResult<(Vec<Point>, Option<Uuid>)> {
        self.with_collection(collection, move |c| {
            let (records, next) = c
                .shard
                .scroll(ScrollRequest {
                    offset: from.map(qdrant_edge::PointId::Uuid),
                    limit: Some(limit.max(1)),
                    filter: None,
                    with_payload: Some(WithPayloadInterface::Bool(true)),
                    with_vector: WithVector::Bool(true),
                    order_by: None,
                })
                .map_err(convert::error)?;
            let points = records
                .into_iter()
                .map(|record| {
                    let (dense, sparse) = convert::vectors(record.vector)?;
                    Ok(Point {
                        id: convert::id(record.id)?,
                        dense,
                        sparse,
                        payload: convert::payload(record.payload),
                    })
                })
                .collect::<VectorResult<_>>()?;
            Ok((points, next.map(convert::id).transpose()?))
        })
        .await
    }

    fn collection(&self, collection: &str) -> VectorResult<Arc<Collection>> {
        validate_name(collection)?;
        self.collections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(collection)
            .cloned()
            .ok_or_else(|| VectorError::CollectionNotFound(collection.to_owned()))
    }

    /// Run `f` on the collection on the blocking pool.
    async fn with_collection<T, F>(&self, collection: &str, f: F) -> VectorResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Collection) -> VectorResult<T> + Send + 'static,
    {
        let collection = self.collection(collection)?;
        blocking(move || f(&collection)).await
    }
}

/// One open collection: its shard, and the group commit that makes its writes durable.
struct Collection {
    shard: EdgeShard,
    /// Writes applied so far (counted once `update` has returned).
    applied: AtomicU64,
    /// The `applied` count when the last optimisation began; `u64::MAX` before the first one
    /// since this process opened the collection.
    optimized: AtomicU64,
    /// Held while optimising: two optimisations of one shard at once could plan the same
    /// segments.
    optimizing: Mutex<()>,
    /// Writes known to be on disk: the `applied` count read just before the last flush began.
    /// Held while flushing, so concurrent writers queue behind one flush and most find their
    /// write already covered by it.
    flushed: Mutex<u64>,
}

impl Collection {
    fn new(shard: EdgeShard) -> Collection {
        Collection {
            shard,
            applied: AtomicU64::new(0),
            optimized: AtomicU64::new(u64::MAX),
            optimizing: Mutex::new(()),
            flushed: Mutex::new(0),
        }
    }

    /// Written since the last optimisation began, or not optimised since it was opened.
    fn written_since_optimized(&self) -> bool {
        let done = self.optimized.load(Ordering::SeqCst);
        done == u64::MAX || self.applied.load(Ordering::SeqCst) > done
    }

    /// Let the engine build indexes and merge segments, one optimisation at a time; records
    /// the writes it covers for `optimize_written`.
    fn optimize(&self) -> VectorResult<bool> {
        let _one = self
            .optimizing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let started = self.applied.load(Ordering::SeqCst);
        let worked = self.shard.optimize().map_err(convert::error)?;
        self.optimized.store(started, Ordering::SeqCst);
        Ok(worked)
    }

    /// Apply a write and return once it is durable.
    ///
    /// `update` appends to the WAL (an mmap) and applies to the segments but syncs nothing:
    /// qdrant-edge documents its WAL write as not guaranteeing durability, so a write would
    /// survive a crash of this process (the page cache keeps it) but not of the machine.
    /// `flush` msyncs the WAL and fsyncs the segments. It costs 20-140 ms here (with load)
    /// whatever the batch size, against ~4 ms for the update itself, so concurrent writers
    /// share one: a flush that starts after a write was applied covers it.
    fn write(&self, operation: UpdateOperation) -> VectorResult<()> {
        self.shard.update(operation).map_err(convert::error)?;
        let mine = self.applied.fetch_add(1, Ordering::SeqCst) + 1;
        let mut flushed = self.flushed.lock().unwrap_or_else(PoisonError::into_inner);
        if *flushed >= mine {
            return Ok(());
        }
        // Every write counted up to here was applied before this flush starts.
        let covered = self.applied.load(Ordering::SeqCst);
        self.shard.flush().map_err(convert::error)?;
        *flushed = covered;
        Ok(())
    }
}

#[async_trait::async_trait]
impl VectorStore for EdgeStore {
    fn backend(&self) -> &'static str {
        "qdrant-edge"
    }

    async fn health(&self) -> VectorResult<()> {
        let meta = tokio::fs::metadata(&self.dir)
            .await
            .map_err(|err| VectorError::Unavailable(format!("{}: {err}", self.dir.display())))?;
        if !meta.is_dir() {
            return Err(VectorError::Unavailable(format!(
                "{} is not a directory",
                self.dir.display()
            )));
        }
        Ok(())
    }

    async fn ensure_collection(&self, name: &str, dim: usize) -> VectorResult<()> {
        validate_name(name)?;
        if dim == 0 {
            return Err(VectorError::Invalid(
                "vector dimension must be positive".into(),
            ));
        }
        let _lifecycle = self.lifecycle.lock().await;
        if let Ok(existing) = self.collection(name) {
            let name = name.to_owned();
            return blocking(move || check_existing(&existing, &name, dim)).await;
        }
        let final_path = self.dir.join(name);
        let staging = self
            .dir
            .join(format!("{STAGING_PREFIX}{name}-{}", Uuid::new_v4()));
        let settings = self.settings;
        let shard = blocking(move || create_shard(&staging, &final_path, dim, settings)).await?;
        self.collections
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), Arc::new(Collection::new(shard)));
        tracing::info!(collection = name, dim, "created Qdrant Edge collection");
        Ok(())
    }

    async fn collection_exists(&self, name: &str) -> VectorResult<bool> {
        validate_name(name)?;
        Ok(self
            .collections
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(name))
    }

    async fn delete_collection(&self, name: &str) -> VectorResult<()> {
        validate_name(name)?;
        let _lifecycle = self.lifecycle.lock().await;
        let removed = self
            .collections
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        let Some(mut collection) = removed else {
            return Ok(());
        };
        // Calls already running hold clones; wait for them so the shard is closed (and its
        // files released) before they are deleted. New calls see CollectionNotFound.
        let collection = loop {
            match Arc::try_unwrap(collection) {
                Ok(collection) => break collection,
                Err(shared) => {
                    collection = shared;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        let path = self.dir.join(name);
        let trash = self
            .dir
            .join(format!("{TRASH_PREFIX}{name}-{}", Uuid::new_v4()));
        blocking(move || {
            drop(collection);
            std::fs::rename(&path, &trash)
                .with_context(|| format!("moving {} out of the store", path.display()))?;
            sync_dir(trash.parent().unwrap_or(&trash))?;
            std::fs::remove_dir_all(&trash)
                .with_context(|| format!("removing {}", trash.display()))?;
            Ok(())
        })
        .await?;
        tracing::info!(collection = name, "dropped Qdrant Edge collection");
        Ok(())
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> VectorResult<()> {
        if points.is_empty() {
            // Still report a missing collection, like the server does.
            self.collection(collection)?;
            return Ok(());
        }
        self.with_collection(collection, move |c| {
            let dim = dense_dim(&c.shard)?;
            if let Some(bad) = points.iter().find(|point| point.dense.len() != dim) {
                // Checked up front so a batch is refused whole rather than half applied.
                return Err(VectorError::Invalid(format!(
                    "point {} has a {}-dimensional dense vector, the collection takes {dim}",
                    bad.id,
                    bad.dense.len()
                )));
            }
            let points = points
                .into_iter()
                .map(convert::point)
                .collect::<VectorResult<_>>()?;
            let operation = UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                PointInsertOperations::PointsList(points),
            ));
            c.write(operation)
        })
        .await
    }

    async fn delete_points(&self, collection: &str, ids: &[Uuid]) -> VectorResult<()> {
        if ids.is_empty() {
            self.collection(collection)?;
            return Ok(());
        }
        let ids = ids
            .iter()
            .copied()
            .map(qdrant_edge::PointId::Uuid)
            .collect();
        let operation = UpdateOperation::PointOperation(PointOperations::DeletePoints { ids });
        self.with_collection(collection, move |c| c.write(operation))
            .await
    }

    async fn delete_by_filter(&self, collection: &str, filter: &Filter) -> VectorResult<()> {
        if filter.is_empty() {
            // An empty filter matches every point: refuse rather than silently empty a
            // collection; `delete_collection` says that on purpose.
            return Err(VectorError::Invalid(
                "delete_by_filter needs a non-empty filter".into(),
            ));
        }
        let filter = convert::filter(filter)?;
        let operation =
            UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(filter));
        self.with_collection(collection, move |c| c.write(operation))
            .await
    }

    async fn count(&self, collection: &str, filter: Option<&Filter>) -> VectorResult<u64> {
        let filter = convert::optional_filter(filter)?;
        self.with_collection(collection, move |c| {
            let count = c
                .shard
                .count(CountRequest {
                    filter,
                    exact: true,
                })
                .map_err(convert::error)?;
            Ok(count as u64)
        })
        .await
    }

    async fn payload_indexes(&self, collection: &str) -> VectorResult<Vec<(String, IndexKind)>> {
        self.with_collection(collection, |c| {
            let schema = c.shard.info().map_err(convert::error)?.payload_schema;
            let mut indexes: Vec<_> = schema
                .into_iter()
                .map(|(field, info)| {
                    let kind = match info.data_type {
                        PayloadSchemaType::Keyword => IndexKind::Keyword,
                        PayloadSchemaType::Integer => IndexKind::Integer,
                        _ => IndexKind::Other,
                    };
                    (field.to_string(), kind)
                })
                .collect();
            indexes.sort();
            Ok(indexes)
        })
        .await
    }

    async fn scroll(
        &self,
        collection: &str,
        filter: &Filter,
        limit: usize,
    ) -> VectorResult<Vec<Hit>> {
        let filter = convert::optional_filter(Some(filter))?;
        if limit == 0 {
            self.collection(collection)?;
            return Ok(Vec::new());
        }
        self.with_collection(collection, move |c| {
            let (records, _next) = c
                .shard
                .scroll(ScrollRequest {
                    offset: None,
                    limit: Some(limit),
                    filter,
                    with_payload: Some(WithPayloadInterface::Bool(true)),
                    with_vector: WithVector::Bool(false),
                    // `None` scrolls by id, ascending.
                    order_by: None,
                })
                .map_err(convert::error)?;
            records
                .into_iter()
                .map(|record| {
                    Ok(Hit {
                        id: convert::id(record.id)?,
                        score: 0.0,
                        payload: convert::payload(record.payload),
                    })
                })
                .collect()
        })
        .await
    }

    async fn optimize(&self, collection: &str) -> VectorResult<()> {
        EdgeStore::optimize(self, collection).await.map(|_| ())
    }

    async fn optimize_written(&self) -> VectorResult<usize> {
        EdgeStore::optimize_written(self).await
    }

    async fn query(&self, collection: &str, query: &Query) -> VectorResult<Vec<Hit>> {
        let request = query_request(query)?;
        if query.limit == 0 {
            self.collection(collection)?;
            return Ok(Vec::new());
        }
        self.with_collection(collection, move |c| {
            let points = c.shard.query(request).map_err(convert::error)?;
            points.into_iter().map(convert::hit).collect()
        })
        .await
    }
}

/// The engine request for a query: one scored leg, or two prefetched legs fused.
fn query_request(query: &Query) -> VectorResult<QueryRequest> {
    let filter = convert::optional_filter(query.filter.as_ref())?;
    let mut request = QueryRequest {
        score_threshold: query.score_threshold,
        with_payload: WithPayloadInterface::Bool(true),
        with_vector: WithVector::Bool(false),
        ..QueryRequest::new(query.limit)
    };
    match query.mode {
        SearchMode::Dense => {
            request.query = Some(dense_leg(query)?);
            request.filter = filter;
        }
        SearchMode::Sparse => {
            request.query = Some(sparse_leg(query)?);
            request.filter = filter;
        }
        SearchMode::Hybrid => {
            // Each leg fetches `candidates` under the filter; fusion ranks their union. The
            // threshold applies to the fused score only: leg scores are not comparable to it.
            let candidates = query.candidates.max(query.limit);
            let leg = |scoring: ScoringQuery| Prefetch {
                query: Some(scoring),
                filter: filter.clone(),
                ..Prefetch::new(candidates)
            };
            request.prefetches = vec![leg(dense_leg(query)?), leg(sparse_leg(query)?)];
            request.query = Some(ScoringQuery::Fusion(match query.fusion {
                Fusion::Rrf { k, dense_weight } => EFusion::Rrf {
                    k: k as usize,
                    weights: Fusion::rrf_weights(dense_weight).map(|w| {
                        w.into_iter()
                            .map(qdrant_edge::external::ordered_float::OrderedFloat)
                            .collect()
                    }),
                },
                Fusion::Dbsf => EFusion::Dbsf,
            }));
        }
    }
    Ok(request)
}

fn dense_leg(query: &Query) -> VectorResult<ScoringQuery> {
    let dense = query.dense.as_ref().ok_or_else(|| {
        VectorError::Invalid(format!("{:?} query without a dense vector", query.mode))
    })?;
    Ok(nearest(VectorInternal::Dense(dense.clone()), DENSE))
}

fn sparse_leg(query: &Query) -> VectorResult<ScoringQuery> {
    let sparse = query.sparse.as_ref().ok_or_else(|| {
        VectorError::Invalid(format!("{:?} query without a sparse vector", query.mode))
    })?;
    Ok(nearest(
        VectorInternal::Sparse(convert::sparse(sparse)?),
        SPARSE,
    ))
}

fn nearest(vector: VectorInternal, using: &str) -> ScoringQuery {
    ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery::new(vector, using)))
}

fn dense_dim(shard: &EdgeShard) -> VectorResult<usize> {
    shard
        .config()
        .vectors
        .get(DENSE)
        .map(|params| params.size)
        .ok_or_else(|| {
            VectorError::Invalid(format!(
                "collection has no {DENSE:?} vector: not made by ragway"
            ))
        })
}

fn shard_config(dim: usize, settings: CollectionSettings) -> EdgeConfig {
    let index_memory = Memory::from_on_disk_heap(settings.on_disk_index);
    let mut dense = EdgeVectorParams::builder(dim, Distance::Cosine)
        .memory(Memory::from_on_disk(settings.on_disk_vectors))
        .hnsw_config(HnswIndexConfig {
            memory: Some(Memory::from_on_disk(settings.on_disk_index)),
            ..HnswIndexConfig::default()
        });
    if settings.quantization == Quantization::Int8 {
        #[allow(deprecated)] // `always_ram`: superseded by `memory`, left unset
        let int8 = ScalarQuantizationConfig {
            r#type: ScalarType::Int8,
            quantile: Some(0.99),
            always_ram: None,
            memory: Some(Memory::Pinned),
        };
        dense = dense.quantization_config(QuantizationConfig::from(int8));
    }
    EdgeConfig::builder()
        .vector(DENSE, dense.build())
        .payload_memory(Memory::from_on_disk(settings.on_disk_payload))
        .sparse_vector(
            SPARSE,
            EdgeSparseVectorParams::builder()
                .modifier(Modifier::Idf)
                .memory(index_memory)
                .build(),
        )
        // Requests already run in parallel on the blocking pool; a per-shard pool of one thread
        // per CPU for every collection would only multiply idle threads.
        .max_search_threads(1)
        .build()
}

/// Create a shard in `staging` with its payload indexes, then move it to `path` and load it.
fn create_shard(
    staging: &Path,
    path: &Path,
    dim: usize,
    settings: CollectionSettings,
) -> VectorResult<EdgeShard> {
    if path.exists() {
        return Err(VectorError::Other(anyhow::anyhow!(
            "{} exists but is not a loaded collection; was it created after start-up?",
            path.display()
        )));
    }
    let shard = EdgeShard::new(staging, shard_config(dim, settings)).map_err(convert::error)?;
    for (field, kind) in PAYLOAD_INDEXES {
        create_index(&shard, field, schema_type(kind))?;
    }
    shard.flush().map_err(convert::error)?;
    drop(shard);
    std::fs::rename(staging, path)
        .with_context(|| format!("moving new collection into {}", path.display()))?;
    sync_dir(path.parent().unwrap_or(path))?;
    load_new_shard(path)
}

/// Load the shard just created and closed at `path`. Its WAL is locked (`flock`) when opened;
/// a child process forked by this one at the moment the creating shard still held the WAL
/// (the isolated parsers are forked all the time) keeps the old lock until it execs, a few
/// milliseconds at most, and the load meets `WouldBlock` meanwhile: wait that out.
fn load_new_shard(path: &Path) -> VectorResult<EdgeShard> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match EdgeShard::load(path, None) {
            Err(e)
                if e.to_string().contains("WouldBlock") && std::time::Instant::now() < deadline =>
            {
                tracing::debug!(path = %path.display(), "new shard's WAL still locked by a forking child; retrying");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other.map_err(convert::error),
        }
    }
}

/// An existing collection must have the asked dimension; payload indexes missing from it
/// (say, added to `PAYLOAD_INDEXES` since it was created) are built now.
fn check_existing(collection: &Collection, name: &str, dim: usize) -> VectorResult<()> {
    let shard = &collection.shard;
    let existing = dense_dim(shard)?;
    if existing != dim {
        return Err(VectorError::Invalid(format!(
            "collection {name:?} has dimension {existing}, asked for {dim}"
        )));
    }
    let indexed = shard.info().map_err(convert::error)?.payload_schema;
    let mut created = false;
    for (field, kind) in PAYLOAD_INDEXES {
        if !indexed.keys().any(|key| key.to_string() == field) {
            create_index(shard, field, schema_type(kind))?;
            created = true;
        }
    }
    if created {
        shard.flush().map_err(convert::error)?;
    }
    Ok(())
}

fn create_index(shard: &EdgeShard, field: &str, kind: PayloadSchemaType) -> VectorResult<()> {
    let field_name = field
        .parse()
        .map_err(|()| VectorError::Invalid(format!("invalid payload key {field:?}")))?;
    shard
        .update(UpdateOperation::FieldIndexOperation(
            FieldIndexOperations::CreateIndex(CreateIndex {
                field_name,
                field_schema: Some(PayloadFieldSchema::FieldType(kind)),
            }),
        ))
        .map_err(convert::error)
}

/// Make a rename in `dir` durable.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))
}

/// Run `f` on tokio's blocking pool; a panic in it becomes an error.
async fn blocking<T, F>(f: F) -> VectorResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> VectorResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|err| VectorError::Other(anyhow::anyhow!("vector store task failed: {err}")))?
}
