//! Translation between ragway's vector types and Qdrant Edge's: filters, points, hits, errors.
//! The one place that knows both vocabularies, so `edge.rs` only orchestrates.

use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::{
    Condition as ECondition, FieldCondition, Filter as EFilter, JsonPath, Match, OperationError,
    PointId, PointStruct, PointStructPersisted, Range, ScoredPoint, SparseVector, ValueVariants,
    Vector, VectorInternal, VectorStructInternal, Vectors,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::vector::{
    Condition, Filter, Hit, MatchValue, Point, RangeBounds, SparseVec, VectorError, VectorResult,
    DENSE, SPARSE,
};

/// The neutral filter as Qdrant Edge's. An empty filter (or sub-filter) matches everything.
pub(super) fn filter(filter: &Filter) -> VectorResult<EFilter> {
    Ok(EFilter {
        should: conditions(&filter.should)?,
        min_should: None,
        must: conditions(&filter.must)?,
        must_not: conditions(&filter.must_not)?,
    })
}

/// `None` when the filter is empty: the engine then skips filtering altogether.
pub(super) fn optional_filter(filter: Option<&Filter>) -> VectorResult<Option<EFilter>> {
    filter
        .filter(|filter| !filter.is_empty())
        .map(self::filter)
        .transpose()
}

fn conditions(conditions: &[Condition]) -> VectorResult<Option<Vec<ECondition>>> {
    if conditions.is_empty() {
        return Ok(None);
    }
    conditions
        .iter()
        .map(condition)
        .collect::<VectorResult<Vec<_>>>()
        .map(Some)
}

fn condition(condition: &Condition) -> VectorResult<ECondition> {
    match condition {
        Condition::Match { key, value } => field_match(key, Match::new_value(variant(value))),
        Condition::Any { key, values } => any(key, values),
        // "None of the values", also for arrays and missing keys: Qdrant's own `except` would
        // accept an array holding one listed value next to an unlisted one.
        Condition::Except { key, values } => {
            Ok(ECondition::Filter(EFilter::new_must_not(any(key, values)?)))
        }
        Condition::Range { key, range } => Ok(ECondition::Field(FieldCondition::new_range(
            path(key)?,
            self::range(key, range)?,
        ))),
        Condition::Filter(inner) => Ok(ECondition::Filter(filter(inner)?)),
    }
}

/// `key` is any of `values`. Qdrant's `any` takes keywords or integers, not both and no
/// booleans: a mixed list becomes one condition per kind, joined by `should`.
fn any(key: &str, values: &[MatchValue]) -> VectorResult<ECondition> {
    let mut keywords = Vec::new();
    let mut integers = Vec::new();
    let mut parts = Vec::new();
    for value in values {
        match value {
            MatchValue::Keyword(keyword) => keywords.push(keyword.clone()),
            MatchValue::Integer(integer) => integers.push(*integer),
            MatchValue::Bool(flag) => parts.push(field_match(key, Match::from(*flag))?),
        }
    }
    if !integers.is_empty() {
        parts.insert(0, field_match(key, Match::from(integers))?);
    }
    // An empty list keeps its keyword `any`: a key is never any of nothing.
    if !keywords.is_empty() || parts.is_empty() {
        parts.insert(0, field_match(key, Match::from(keywords))?);
    }
    if parts.len() == 1 {
        return Ok(parts.remove(0));
    }
    Ok(ECondition::Filter(EFilter {
        should: Some(parts),
        min_should: None,
        must: None,
        must_not: None,
    }))
}

fn field_match(key: &str, r#match: Match) -> VectorResult<ECondition> {
    Ok(ECondition::Field(FieldCondition::new_match(
        path(key)?,
        r#match,
    )))
}

fn variant(value: &MatchValue) -> ValueVariants {
    match value {
        MatchValue::Bool(flag) => ValueVariants::Bool(*flag),
        MatchValue::Integer(integer) => ValueVariants::Integer(*integer),
        MatchValue::Keyword(keyword) => ValueVariants::String(keyword.clone()),
    }
}

fn range(key: &str, range: &RangeBounds) -> VectorResult<Range<OrderedFloat<f64>>> {
    let RangeBounds { gt, gte, lt, lte } = *range;
    if [gt, gte, lt, lte]
        .iter()
        .flatten()
        .any(|bound| bound.is_nan())
    {
        return Err(VectorError::Invalid(format!(
            "range on {key:?} has a NaN bound"
        )));
    }
    Ok(Range {
        lt: lt.map(OrderedFloat),
        gt: gt.map(OrderedFloat),
        gte: gte.map(OrderedFloat),
        lte: lte.map(OrderedFloat),
    })
}

/// A payload path such as `document_id` or `metadata.year`.
fn path(key: &str) -> VectorResult<JsonPath> {
    key.parse()
        .map_err(|()| VectorError::Invalid(format!("invalid payload key {key:?}")))
}

pub(super) fn sparse(sparse: &SparseVec) -> VectorResult<SparseVector> {
    SparseVector::new(sparse.indices.clone(), sparse.values.clone())
        .map_err(|err| VectorError::Invalid(format!("bad sparse vector: {err}")))
}

pub(super) fn point(point: Point) -> VectorResult<PointStructPersisted> {
    let Point {
        id,
        dense,
        sparse,
        payload,
    } = point;
    let sparse = Vector::from(VectorInternal::Sparse(self::sparse(&sparse)?));
    let vectors = Vectors::new_named([(DENSE, Vector::new_dense(dense)), (SPARSE, sparse)]);
    Ok(PointStruct::new(PointId::Uuid(id), vectors, Value::Object(payload)).0)
}

pub(super) fn id(id: PointId) -> VectorResult<Uuid> {
    match id {
        PointId::Uuid(uuid) => Ok(uuid),
        PointId::NumId(num) => Err(VectorError::Other(anyhow::anyhow!(
            "point id {num} is not a UUID: this collection was not written by ragway"
        ))),
    }
}

pub(super) fn hit(point: ScoredPoint) -> VectorResult<Hit> {
    Ok(Hit {
        id: id(point.id)?,
        score: point.score,
        payload: payload(point.payload),
    })
}

/// A stored point's dense and sparse vectors, back in ragway's types. A point without
/// sparse terms may come back without its sparse vector: that is an empty one.
pub(super) fn vectors(vector: Option<VectorStructInternal>) -> VectorResult<(Vec<f32>, SparseVec)> {
    let Some(VectorStructInternal::Named(mut named)) = vector else {
        return Err(VectorError::Other(anyhow::anyhow!(
            "a point without named vectors: this collection was not written by ragway"
        )));
    };
    let dense = match named.remove(DENSE) {
        Some(VectorInternal::Dense(dense)) => dense,
        _ => {
            return Err(VectorError::Other(anyhow::anyhow!(
                "a point without its {DENSE:?} vector"
            )))
        }
    };
    let sparse = match named.remove(SPARSE) {
        Some(VectorInternal::Sparse(sparse)) => SparseVec {
            indices: sparse.indices,
            values: sparse.values,
        },
        None => SparseVec::default(),
        Some(_) => {
            return Err(VectorError::Other(anyhow::anyhow!(
                "the {SPARSE:?} vector of a point is not sparse"
            )))
        }
    };
    Ok((dense, sparse))
}

pub(super) fn payload(payload: Option<qdrant_edge::Payload>) -> Map<String, Value> {
    payload.map(|payload| payload.0).unwrap_or_default()
}

/// Classify an engine error. No catch-all: a new variant in qdrant-edge must be classed here.
pub(super) fn error(err: OperationError) -> VectorError {
    match err {
        OperationError::WrongVectorDimension { .. }
        | OperationError::MalformedVectorBlob { .. }
        | OperationError::MalformedPayloadBlob { .. }
        | OperationError::VectorNameNotExists { .. }
        | OperationError::PointIdError { .. }
        | OperationError::TypeError { .. }
        | OperationError::TypeInferenceError { .. }
        | OperationError::ValidationError { .. }
        | OperationError::WrongSparse
        | OperationError::WrongMulti
        | OperationError::MissingRangeIndexForOrderBy { .. }
        | OperationError::MissingMapIndexForFacet { .. }
        | OperationError::VariableTypeError { .. }
        | OperationError::NonFiniteNumber { .. } => VectorError::Invalid(err.to_string()),
        // In-process: a timeout or an out-of-memory is load, worth a retry later.
        OperationError::Cancelled { .. }
        | OperationError::Timeout { .. }
        | OperationError::OutOfMemory { .. } => VectorError::Unavailable(err.to_string()),
        OperationError::ServiceError { .. }
        | OperationError::InconsistentStorage { .. }
        | OperationError::FileNotFound { .. }
        | OperationError::OutOfAppendableCapacity { .. } => {
            VectorError::Other(anyhow::Error::new(err).context("qdrant-edge storage error"))
        }
    }
}
