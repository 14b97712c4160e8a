//! Translation between ragway's vector types and qdrant-client's gRPC types: filters, points,
//! hits, errors. The one place that knows both vocabularies, so `qdrant.rs` only orchestrates.

use std::collections::HashMap;

use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::r#match::MatchValue as QMatchValue;
use qdrant_client::qdrant::{
    Condition as QCondition, Filter as QFilter, NamedVectors, PointId, PointStruct,
    Range as QRange, RepeatedIntegers, RepeatedStrings, Value as QValue, Vector,
};
use qdrant_client::{Payload, QdrantError};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::vector::VectorResult;
use crate::vector::{
    Condition, Filter, Hit, MatchValue, Point, RangeBounds, VectorError, DENSE, SPARSE,
};

/// The neutral filter as Qdrant's. An empty filter (or sub-filter) matches everything.
pub(super) fn filter(filter: &Filter) -> VectorResult<QFilter> {
    Ok(QFilter {
        should: conditions(&filter.should)?,
        min_should: None,
        must: conditions(&filter.must)?,
        must_not: conditions(&filter.must_not)?,
    })
}

/// `None` when the filter is empty, so no filter is sent.
pub(super) fn optional_filter(filter: Option<&Filter>) -> VectorResult<Option<QFilter>> {
    filter
        .filter(|filter| !filter.is_empty())
        .map(self::filter)
        .transpose()
}

fn conditions(conditions: &[Condition]) -> VectorResult<Vec<QCondition>> {
    conditions.iter().map(condition).collect()
}

fn condition(condition: &Condition) -> VectorResult<QCondition> {
    match condition {
        Condition::Match { key, value } => {
            Ok(QCondition::matches(key.as_str(), match_value(value)))
        }
        Condition::Any { key, values } => Ok(any(key, values)),
        // "None of the values", also for arrays and missing keys: Qdrant's own `except` would
        // accept an array holding one listed value next to an unlisted one.
        Condition::Except { key, values } => Ok(QFilter::must_not([any(key, values)]).into()),
        Condition::Range { key, range } => {
            Ok(QCondition::range(key.as_str(), self::range(key, range)?))
        }
        Condition::Filter(inner) => Ok(filter(inner)?.into()),
    }
}

/// An exact match. Built by hand: `From<String>` of the client turns a string with spaces into
/// a full-text match.
fn match_value(value: &MatchValue) -> QMatchValue {
    match value {
        MatchValue::Bool(flag) => QMatchValue::Boolean(*flag),
        MatchValue::Integer(integer) => QMatchValue::Integer(*integer),
        MatchValue::Keyword(keyword) => QMatchValue::Keyword(keyword.clone()),
    }
}

/// `key` is any of `values`. Qdrant's `any` takes keywords or integers, not both and no
/// booleans: a mixed list becomes one condition per kind, joined by `should`.
fn any(key: &str, values: &[MatchValue]) -> QCondition {
    let mut strings = Vec::new();
    let mut integers = Vec::new();
    let mut parts = Vec::new();
    for value in values {
        match value {
            MatchValue::Keyword(keyword) => strings.push(keyword.clone()),
            MatchValue::Integer(integer) => integers.push(*integer),
            MatchValue::Bool(flag) => {
                parts.push(QCondition::matches(key, QMatchValue::Boolean(*flag)))
            }
        }
    }
    if !integers.is_empty() {
        let integers = QMatchValue::Integers(RepeatedIntegers { integers });
        parts.insert(0, QCondition::matches(key, integers));
    }
    // An empty list keeps its keyword `any`: a key is never any of nothing.
    if !strings.is_empty() || parts.is_empty() {
        let strings = QMatchValue::Keywords(RepeatedStrings { strings });
        parts.insert(0, QCondition::matches(key, strings));
    }
    if parts.len() == 1 {
        return parts.remove(0);
    }
    QFilter::should(parts).into()
}

fn range(key: &str, range: &RangeBounds) -> VectorResult<QRange> {
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
    Ok(QRange { lt, gt, gte, lte })
}

pub(super) fn point(point: Point) -> PointStruct {
    let Point {
        id,
        dense,
        sparse,
        payload,
    } = point;
    let vectors = NamedVectors::default()
        .add_vector(DENSE, Vector::new_dense(dense))
        .add_vector(SPARSE, Vector::new_sparse(sparse.indices, sparse.values));
    PointStruct::new(point_id(id), vectors, Payload::from(payload))
}

pub(super) fn point_id(id: Uuid) -> PointId {
    PointId::from(id.to_string())
}

pub(super) fn id(id: Option<PointId>) -> VectorResult<Uuid> {
    match id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Uuid(uuid)) => Uuid::parse_str(&uuid).map_err(|err| {
            VectorError::Other(anyhow::anyhow!(
                "server returned a bad UUID {uuid:?}: {err}"
            ))
        }),
        Some(PointIdOptions::Num(num)) => Err(VectorError::Other(anyhow::anyhow!(
            "point id {num} is not a UUID: this collection was not written by ragway"
        ))),
        None => Err(VectorError::Other(anyhow::anyhow!(
            "server returned a point without id"
        ))),
    }
}

pub(super) fn hit(
    id: Option<PointId>,
    score: f32,
    payload: HashMap<String, QValue>,
) -> VectorResult<Hit> {
    Ok(Hit {
        id: self::id(id)?,
        score,
        payload: Map::<String, Value>::from(Payload::from(payload)),
    })
}

// gRPC status codes (tonic::Code as i32; the client does not re-export tonic).
const CANCELLED: i32 = 1;
const UNKNOWN: i32 = 2;
const INVALID_ARGUMENT: i32 = 3;
const DEADLINE_EXCEEDED: i32 = 4;
const NOT_FOUND: i32 = 5;
const ALREADY_EXISTS: i32 = 6;
const RESOURCE_EXHAUSTED: i32 = 8;
const ABORTED: i32 = 10;
const OUT_OF_RANGE: i32 = 11;
const INTERNAL: i32 = 13;
const UNAVAILABLE: i32 = 14;

/// Is this the server saying a collection being created exists already (a concurrent create)?
pub(super) fn is_already_exists(err: &QdrantError) -> bool {
    match err {
        QdrantError::ResponseError { status } => {
            let code = i32::from(status.code());
            code == ALREADY_EXISTS
                || (code == INVALID_ARGUMENT && status.message().contains("already exists"))
        }
        _ => false,
    }
}

/// Is this the server saying the collection does not exist?
pub(super) fn is_not_found(err: &QdrantError) -> bool {
    matches!(err, QdrantError::ResponseError { status } if i32::from(status.code()) == NOT_FOUND)
}

/// Class a client error; `collection` names the collection the call was about.
pub(super) fn error(err: QdrantError, collection: &str) -> VectorError {
    match err {
        QdrantError::ResponseError { status } => {
            let code = i32::from(status.code());
            let message = format!("{}: {}", status.code().description(), status.message());
            match code {
                NOT_FOUND => VectorError::CollectionNotFound(collection.to_owned()),
                INVALID_ARGUMENT | OUT_OF_RANGE | ALREADY_EXISTS => VectorError::Invalid(message),
                // The server never answers Unknown itself: it is the transport failing.
                CANCELLED | UNKNOWN | DEADLINE_EXCEEDED | RESOURCE_EXHAUSTED | ABORTED
                | UNAVAILABLE => VectorError::Unavailable(message),
                // The client reports a failed connect as Internal "Failed to connect to ...".
                INTERNAL if status.message().starts_with("Failed to connect") => {
                    VectorError::Unavailable(message)
                }
                _ => VectorError::Other(anyhow::anyhow!("Qdrant: {message}")),
            }
        }
        QdrantError::ResourceExhaustedError {
            status,
            retry_after_seconds,
        } => VectorError::Unavailable(format!(
            "{} (retry after {retry_after_seconds} s)",
            status.message()
        )),
        QdrantError::Io(err) => VectorError::Unavailable(err.to_string()),
        QdrantError::ConversionError(message) => VectorError::Invalid(message),
        QdrantError::InvalidUri(err) => VectorError::Invalid(format!("invalid Qdrant URL: {err}")),
        QdrantError::JsonToPayload(value) => {
            VectorError::Invalid(format!("payload must be a JSON object, got {value}"))
        }
        err @ (QdrantError::NoSnapshotFound(_) | QdrantError::PayloadDeserialization(_)) => {
            VectorError::Other(anyhow::Error::new(err).context("Qdrant client"))
        }
    }
}
