//! A Qdrant server or cluster over gRPC (qdrant-client): the same collections and queries as
//! the in-process backend, for deployments that outgrow one machine.

mod convert;

use std::time::Duration;

use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder,
    DeletePointsBuilder, Distance, FieldType, Fusion as QFusion, HnswConfigDiffBuilder, Modifier,
    PayloadSchemaType, PointsIdsList, PrefetchQueryBuilder, QuantizationType, Query as QQuery,
    QueryPointsBuilder, ScalarQuantizationBuilder, ScrollPointsBuilder, SparseIndexConfigBuilder,
    SparseVectorParamsBuilder, SparseVectorsConfigBuilder, UpsertPointsBuilder, VectorInput,
    VectorParamsBuilder, VectorsConfigBuilder,
};
use qdrant_client::Qdrant;
use uuid::Uuid;

use crate::config::Quantization;

use super::{
    validate_collection_name, CollectionSettings, Filter, Fusion, Hit, IndexKind, Point, Query,
    SearchMode, VectorError, VectorResult, VectorStore, DENSE, PAYLOAD_INDEXES, SPARSE,
};

/// Where the server is and how to use it.
#[derive(Debug, Clone)]
pub struct QdrantOptions {
    /// gRPC URL, e.g. `http://localhost:6334`.
    pub url: String,
    pub api_key: Option<String>,
    /// Put in front of every collection name on the server, so several deployments (or test
    /// runs) can share one cluster; ragway's own names never carry it.
    pub collection_prefix: String,
    /// Longest wait for one call (connecting included): a hung server fails a search with
    /// 503 after this, instead of holding it.
    pub timeout: Duration,
    /// How new collections are laid out over the cluster.
    pub collections: CollectionSettings,
}

impl QdrantOptions {
    /// A single node at `url`, default settings.
    pub fn new(url: impl Into<String>) -> QdrantOptions {
        QdrantOptions {
            url: url.into(),
            api_key: None,
            collection_prefix: String::new(),
            timeout: Duration::from_secs(10),
            collections: CollectionSettings::default(),
        }
    }
}

/// The server backend. Writes wait for the server to apply them (`wait=true`).
pub struct QdrantStore {
    client: Qdrant,
    prefix: String,
    settings: CollectionSettings,
}

impl QdrantStore {
    /// Build a client (the connection is made lazily, so an unreachable server shows up in
    /// `health`, not here).
    pub fn connect(options: QdrantOptions) -> anyhow::Result<QdrantStore> {
        let QdrantOptions {
            url,
            api_key,
            collection_prefix,
            timeout,
            collections,
        } = options;
        let client = Qdrant::from_url(&url)
            .api_key(api_key)
            .timeout(timeout)
            .connect_timeout(timeout)
            .skip_compatibility_check()
            .build()
            .map_err(|err| anyhow::anyhow!("configuring Qdrant client for {url}: {err}"))?;
        Ok(QdrantStore {
            client,
            prefix: collection_prefix,
            settings: collections,
        })
    }

    /// The server's name of ragway's collection `name`, after checking `name` as Qdrant Edge
    /// does, so both backends accept the same names.
    fn name(&self, name: &str) -> VectorResult<String> {
        validate_collection_name(name)?;
        let full = format!("{}{name}", self.prefix);
        validate_collection_name(&full)?;
        Ok(full)
    }

    /// The dimension of the collection's dense vector, and its indexed payload fields.
    async fn schema(&self, name: &str) -> VectorResult<(u64, Vec<(String, IndexKind)>)> {
        let full = self.name(name)?;
        let info = self
            .client
            .collection_info(&full)
            .await
            .map_err(|err| convert::error(err, name))?
            .result
            .ok_or_else(|| {
                VectorError::Other(anyhow::anyhow!("no info for collection {name:?}"))
            })?;
        let mut indexed: Vec<_> = info
            .payload_schema
            .iter()
            .map(|(field, schema)| {
                let kind = match PayloadSchemaType::try_from(schema.data_type) {
                    Ok(PayloadSchemaType::Keyword) => IndexKind::Keyword,
                    Ok(PayloadSchemaType::Integer) => IndexKind::Integer,
                    _ => IndexKind::Other,
                };
                (field.clone(), kind)
            })
            .collect();
        indexed.sort();
        let dim = info
            .config
            .and_then(|config| config.params)
            .and_then(|params| params.vectors_config)
            .and_then(|vectors| vectors.config)
            .and_then(|config| match config {
                VectorsConfigKind::ParamsMap(map) => map.map.get(DENSE).map(|params| params.size),
                VectorsConfigKind::Params(_) => None,
            })
            .ok_or_else(|| {
                VectorError::Invalid(format!(
                    "collection {name:?} has no {DENSE:?} vector: not made by ragway"
                ))
            })?;
        Ok((dim, indexed))
    }

    async fn create(&self, name: &str, dim: usize) -> VectorResult<()> {
        let settings = self.settings;
        let mut vectors = VectorsConfigBuilder::default();
        // The `on_disk` flags, not `memory`: Qdrant 1.19 servers know only these.
        let mut dense = VectorParamsBuilder::new(dim as u64, Distance::Cosine)
            .on_disk(settings.on_disk_vectors)
            .hnsw_config(HnswConfigDiffBuilder::default().on_disk(settings.on_disk_index));
        if settings.quantization == Quantization::Int8 {
            dense = dense.quantization_config(
                ScalarQuantizationBuilder::default()
                    .r#type(QuantizationType::Int8.into())
                    .quantile(0.99)
                    .always_ram(true),
            );
        }
        vectors.add_named_vector_params(DENSE, dense);
        let mut sparse = SparseVectorsConfigBuilder::default();
        sparse.add_named_vector_params(
            SPARSE,
            SparseVectorParamsBuilder::default()
                .modifier(Modifier::Idf)
                .index(SparseIndexConfigBuilder::default().on_disk(settings.on_disk_index)),
        );
        let request = CreateCollectionBuilder::new(self.name(name)?)
            .vectors_config(vectors)
            .sparse_vectors_config(sparse)
            .shard_number(settings.shard_number)
            .replication_factor(settings.replication_factor)
            .write_consistency_factor(settings.write_consistency_factor)
            .on_disk_payload(settings.on_disk_payload);
        match self.client.create_collection(request).await {
            Ok(_) => {
                tracing::info!(
                    collection = name,
                    dim,
                    ?settings,
                    "created Qdrant collection"
                );
                Ok(())
            }
            // Another replica of ragway created it meanwhile: the caller checks its dimension.
            Err(err) if convert::is_already_exists(&err) => Ok(()),
            Err(err) => Err(convert::error(err, name)),
        }
    }
}

#[async_trait::async_trait]
impl VectorStore for QdrantStore {
    fn backend(&self) -> &'static str {
        "qdrant"
    }

    async fn health(&self) -> VectorResult<()> {
        self.client
            .health_check()
            .await
            .map_err(|err| convert::error(err, ""))?;
        Ok(())
    }

    async fn ensure_collection(&self, name: &str, dim: usize) -> VectorResult<()> {
        if dim == 0 {
            return Err(VectorError::Invalid(
                "vector dimension must be positive".into(),
            ));
        }
        if !self.collection_exists(name).await? {
            self.create(name, dim).await?;
        }
        let (existing, indexed) = self.schema(name).await?;
        if existing != dim as u64 {
            return Err(VectorError::Invalid(format!(
                "collection {name:?} has dimension {existing}, asked for {dim}"
            )));
        }
        for (field, kind) in PAYLOAD_INDEXES {
            if indexed.iter().any(|(key, _)| key == field) {
                continue;
            }
            let kind = match kind {
                IndexKind::Integer => FieldType::Integer,
                IndexKind::Keyword | IndexKind::Other => FieldType::Keyword,
            };
            let request =
                CreateFieldIndexCollectionBuilder::new(self.name(name)?, field, kind).wait(true);
            self.client
                .create_field_index(request)
                .await
                .map_err(|err| convert::error(err, name))?;
        }
        Ok(())
    }

    async fn collection_exists(&self, name: &str) -> VectorResult<bool> {
        self.client
            .collection_exists(self.name(name)?)
            .await
            .map_err(|err| convert::error(err, name))
    }

    async fn delete_collection(&self, name: &str) -> VectorResult<()> {
        match self.client.delete_collection(self.name(name)?).await {
            Ok(_) => Ok(()),
            Err(err) if convert::is_not_found(&err) => Ok(()),
            Err(err) => Err(convert::error(err, name)),
        }
    }

    async fn upsert(&self, collection: &str, points: Vec<Point>) -> VectorResult<()> {
        let full = self.name(collection)?;
        if points.is_empty() {
            // Still report a missing collection, like the in-process backend.
            return self.require(collection).await;
        }
        let points: Vec<_> = points.into_iter().map(convert::point).collect();
        self.client
            .upsert_points(UpsertPointsBuilder::new(full, points).wait(true))
            .await
            .map_err(|err| convert::error(err, collection))?;
        Ok(())
    }

    async fn delete_points(&self, collection: &str, ids: &[Uuid]) -> VectorResult<()> {
        let full = self.name(collection)?;
        if ids.is_empty() {
            return self.require(collection).await;
        }
        let ids = PointsIdsList {
            ids: ids.iter().copied().map(convert::point_id).collect(),
        };
        self.client
            .delete_points(DeletePointsBuilder::new(full).points(ids).wait(true))
            .await
            .map_err(|err| convert::error(err, collection))?;
        Ok(())
    }

    async fn delete_by_filter(&self, collection: &str, filter: &Filter) -> VectorResult<()> {
        let full = self.name(collection)?;
        if filter.is_empty() {
            // An empty filter matches every point: refuse rather than silently empty a
            // collection; `delete_collection` says that on purpose.
            return Err(VectorError::Invalid(
                "delete_by_filter needs a non-empty filter".into(),
            ));
        }
        let filter = convert::filter(filter)?;
        self.client
            .delete_points(DeletePointsBuilder::new(full).points(filter).wait(true))
            .await
            .map_err(|err| convert::error(err, collection))?;
        Ok(())
    }

    async fn count(&self, collection: &str, filter: Option<&Filter>) -> VectorResult<u64> {
        let mut request = CountPointsBuilder::new(self.name(collection)?).exact(true);
        if let Some(filter) = convert::optional_filter(filter)? {
            request = request.filter(filter);
        }
        let response = self
            .client
            .count(request)
            .await
            .map_err(|err| convert::error(err, collection))?;
        Ok(response.result.map(|result| result.count).unwrap_or(0))
    }

    async fn payload_indexes(&self, collection: &str) -> VectorResult<Vec<(String, IndexKind)>> {
        Ok(self.schema(collection).await?.1)
    }

    async fn scroll(
        &self,
        collection: &str,
        filter: &Filter,
        limit: usize,
    ) -> VectorResult<Vec<Hit>> {
        let mut request = ScrollPointsBuilder::new(self.name(collection)?)
            .limit(u32::try_from(limit).unwrap_or(u32::MAX))
            .with_payload(true)
            .with_vectors(false);
        if let Some(filter) = convert::optional_filter(Some(filter))? {
            request = request.filter(filter);
        }
        if limit == 0 {
            self.require(collection).await?;
            return Ok(Vec::new());
        }
        // Without `order_by` the server returns points by id, ascending.
        let response = self
            .client
            .scroll(request)
            .await
            .map_err(|err| convert::error(err, collection))?;
        response
            .result
            .into_iter()
            .map(|point| convert::hit(point.id, 0.0, point.payload))
            .collect()
    }

    async fn query(&self, collection: &str, query: &Query) -> VectorResult<Vec<Hit>> {
        let request = query_request(&self.name(collection)?, query)?;
        if query.limit == 0 {
            self.require(collection).await?;
            return Ok(Vec::new());
        }
        let response = self
            .client
            .query(request)
            .await
            .map_err(|err| convert::error(err, collection))?;
        response
            .result
            .into_iter()
            .map(|point| convert::hit(point.id, point.score, point.payload))
            .collect()
    }

    /// The server builds its indexes by itself, in the background; only say whether the
    /// collection is there, as Qdrant Edge does.
    async fn optimize(&self, collection: &str) -> VectorResult<()> {
        self.require(collection).await
    }
}

impl QdrantStore {
    /// `CollectionNotFound` unless the collection exists.
    async fn require(&self, collection: &str) -> VectorResult<()> {
        if self.collection_exists(collection).await? {
            Ok(())
        } else {
            Err(VectorError::CollectionNotFound(collection.to_owned()))
        }
    }
}

/// The Query API request: one scored leg, or two prefetched legs fused server-side.
fn query_request(collection: &str, query: &Query) -> VectorResult<QueryPointsBuilder> {
    let filter = convert::optional_filter(query.filter.as_ref())?;
    let mut request = QueryPointsBuilder::new(collection)
        .limit(query.limit as u64)
        .with_payload(true)
        .with_vectors(false);
    if let Some(threshold) = query.score_threshold {
        request = request.score_threshold(threshold);
    }
    match query.mode {
        SearchMode::Dense => {
            request = request.using(DENSE).query(dense_input(query)?);
            if let Some(filter) = filter {
                request = request.filter(filter);
            }
        }
        SearchMode::Sparse => {
            request = request.using(SPARSE).query(sparse_input(query)?);
            if let Some(filter) = filter {
                request = request.filter(filter);
            }
        }
        SearchMode::Hybrid => {
            // Each leg fetches `candidates` under the filter; fusion ranks their union. The
            // threshold applies to the fused score only.
            let candidates = query.candidates.max(query.limit) as u64;
            let leg = |using: &str, input: VectorInput| {
                let mut leg = PrefetchQueryBuilder::default()
                    .using(using)
                    .query(QQuery::new_nearest(input))
                    .limit(candidates);
                if let Some(filter) = &filter {
                    leg = leg.filter(filter.clone());
                }
                leg
            };
            request = request
                .add_prefetch(leg(DENSE, dense_input(query)?))
                .add_prefetch(leg(SPARSE, sparse_input(query)?))
                .query(match query.fusion {
                    Fusion::Rrf { k, dense_weight } => {
                        let mut rrf = qdrant_client::qdrant::RrfBuilder::default().k(k);
                        if let Some(w) = Fusion::rrf_weights(dense_weight) {
                            rrf = rrf.weights(w);
                        }
                        QQuery::new_rrf(rrf)
                    }
                    Fusion::Dbsf => QQuery::new_fusion(QFusion::Dbsf),
                });
        }
    }
    Ok(request)
}

fn dense_input(query: &Query) -> VectorResult<VectorInput> {
    let dense = query.dense.as_ref().ok_or_else(|| {
        VectorError::Invalid(format!("{:?} query without a dense vector", query.mode))
    })?;
    Ok(VectorInput::new_dense(dense.clone()))
}

fn sparse_input(query: &Query) -> VectorResult<VectorInput> {
    let sparse = query.sparse.as_ref().ok_or_else(|| {
        VectorError::Invalid(format!("{:?} query without a sparse vector", query.mode))
    })?;
    Ok(VectorInput::new_sparse(
        sparse.indices.clone(),
        sparse.values.clone(),
    ))
}
