//! One contract suite for `VectorStore`, run against Qdrant Edge always and against a Qdrant
//! server when `QDRANT_URL` is set: both backends must answer alike. Tiny hand-made vectors,
//! no embedder. The server tests are compiled as ignored (with the reason) when `QDRANT_URL`
//! was not set at build time (see build.rs): never counted as passing without a server.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use std::time::{Duration, Instant};

use ragway::config::Quantization;
use ragway::vector::edge::EdgeStore;
use ragway::vector::qdrant::{QdrantOptions, QdrantStore};
use ragway::vector::{
    CollectionSettings, Condition, Filter, Fusion, Hit, IndexKind, MatchValue, Point, Query,
    RangeBounds, SearchMode, SparseVec, VectorError, VectorStore, SPARSE,
};
use serde_json::{json, Map, Value};
use uuid::Uuid;

const DIM: usize = 4;

// Ids whose order (D < B < E < C < A) differs from the insertion order (A..E).
const A: Uuid = Uuid::from_u128(0x50);
const B: Uuid = Uuid::from_u128(0x20);
const C: Uuid = Uuid::from_u128(0x40);
const D: Uuid = Uuid::from_u128(0x10);
const E: Uuid = Uuid::from_u128(0x30);

fn point(id: Uuid, dense: [f32; DIM], sparse: &[(u32, f32)], payload: Value) -> Point {
    let Value::Object(payload) = payload else {
        panic!("payload must be an object")
    };
    Point {
        id,
        dense: dense.to_vec(),
        sparse: sparse_vec(sparse),
        payload,
    }
}

fn sparse_vec(terms: &[(u32, f32)]) -> SparseVec {
    SparseVec {
        indices: terms.iter().map(|(index, _)| *index).collect(),
        values: terms.iter().map(|(_, value)| *value).collect(),
    }
}

/// Five points. Against the dense query [1,0,0,0]: A 1.0 > B 0.99 > C 0.45 > D = E = 0.
/// Sparse terms: A {1,2}, B {3}, C {4,5}, D {6}, E {7, 1 (half weight)}.
fn corpus() -> Vec<Point> {
    vec![
        point(
            A,
            [1.0, 0.0, 0.0, 0.0],
            &[(1, 1.0), (2, 1.0)],
            json!({"kb_id": "kb1", "document_id": "d1", "ordinal": 0, "flag": true,
                   "metadata": {"x": "red", "year": 2020}}),
        ),
        point(
            B,
            [0.9, 0.1, 0.0, 0.0],
            &[(3, 1.0)],
            json!({"kb_id": "kb1", "document_id": "d1", "ordinal": 1, "flag": false,
                   "metadata": {"x": "blue", "year": 2021}}),
        ),
        point(
            C,
            [0.5, 1.0, 0.0, 0.0],
            &[(4, 1.0), (5, 1.0)],
            json!({"kb_id": "kb1", "document_id": "d2", "ordinal": 0,
                   "metadata": {"x": "red", "year": 2022}}),
        ),
        point(
            D,
            [0.0, 0.0, 1.0, 0.0],
            &[(6, 1.0)],
            json!({"kb_id": "kb2", "document_id": "d3", "ordinal": 0,
                   "metadata": {"x": "green", "year": 2023}}),
        ),
        point(
            E,
            [0.0, 0.0, 0.2, 1.0],
            &[(7, 1.0), (1, 0.5)],
            json!({"kb_id": "kb2", "document_id": "d3", "ordinal": 1,
                   "metadata": {"x": "yellow", "year": 2024}}),
        ),
    ]
}

fn dense(vector: [f32; DIM], limit: usize) -> Query {
    Query {
        mode: SearchMode::Dense,
        dense: Some(vector.to_vec()),
        sparse: None,
        limit,
        candidates: limit,
        fusion: Fusion::RRF,
        filter: None,
        score_threshold: None,
    }
}

fn sparse(terms: &[(u32, f32)], limit: usize) -> Query {
    Query {
        mode: SearchMode::Sparse,
        dense: None,
        sparse: Some(sparse_vec(terms)),
        ..dense([0.0; DIM], limit)
    }
}

fn hybrid(vector: [f32; DIM], terms: &[(u32, f32)], limit: usize, candidates: usize) -> Query {
    Query {
        mode: SearchMode::Hybrid,
        dense: Some(vector.to_vec()),
        sparse: Some(sparse_vec(terms)),
        limit,
        candidates,
        ..dense([0.0; DIM], limit)
    }
}

fn eq(key: &str, value: impl Into<MatchValue>) -> Filter {
    Filter::eq(key, value.into())
}

fn ids(hits: &[Hit]) -> Vec<Uuid> {
    hits.iter().map(|hit| hit.id).collect()
}

fn id_set(hits: &[Hit]) -> BTreeSet<Uuid> {
    hits.iter().map(|hit| hit.id).collect()
}

fn assert_best_first(hits: &[Hit]) {
    assert!(
        hits.windows(2).all(|pair| pair[0].score >= pair[1].score),
        "hits not best first: {:?}",
        hits.iter().map(|hit| hit.score).collect::<Vec<_>>()
    );
}

/// A collection filled with `corpus()`.
async fn filled(store: &Arc<dyn VectorStore>, name: &str) {
    store.delete_collection(name).await.unwrap();
    store.ensure_collection(name, DIM).await.unwrap();
    store.upsert(name, corpus()).await.unwrap();
}

/// The whole contract; `prefix` keeps its collections apart from anything else on the store.
pub async fn contract(store: Arc<dyn VectorStore>, prefix: &str) {
    lifecycle(&store, &format!("{prefix}lifecycle")).await;
    writes(&store, &format!("{prefix}writes")).await;
    ranking(&store, &format!("{prefix}ranking")).await;
    filters(&store, &format!("{prefix}filters")).await;
    scroll(&store, &format!("{prefix}scroll")).await;
    concurrency(&store, &format!("{prefix}concurrency")).await;
    payload_indexes(&store, &format!("{prefix}indexes")).await;
    idf(&store, &format!("{prefix}idf")).await;
    batches(&store, &format!("{prefix}batches")).await;
    optimize(&store, &format!("{prefix}optimize")).await;
    names(&store).await;
}

async fn lifecycle(store: &Arc<dyn VectorStore>, name: &str) {
    store.health().await.unwrap();
    store.delete_collection(name).await.unwrap();
    assert!(!store.collection_exists(name).await.unwrap());

    store.ensure_collection(name, DIM).await.unwrap();
    store
        .ensure_collection(name, DIM)
        .await
        .expect("ensure_collection is idempotent");
    assert!(store.collection_exists(name).await.unwrap());
    let err = store.ensure_collection(name, 8).await.unwrap_err();
    assert!(
        matches!(err, VectorError::Invalid(_)),
        "dimension mismatch gave {err:?}"
    );
    assert!(!err.is_transient());
    store.upsert(name, corpus()).await.unwrap();
    assert_eq!(
        store.count(name, None).await.unwrap(),
        5,
        "a refused ensure keeps the data"
    );

    store.delete_collection(name).await.unwrap();
    assert!(!store.collection_exists(name).await.unwrap());
    store
        .delete_collection(name)
        .await
        .expect("dropping a missing collection is fine");

    let missing = |result: Result<(), VectorError>, what: &str| match result {
        Err(err @ VectorError::CollectionNotFound(_)) => {
            assert!(!err.is_transient(), "a missing collection is no outage")
        }
        other => panic!("{what} on a missing collection gave {other:?}"),
    };
    missing(
        store
            .query(name, &dense([1.0, 0.0, 0.0, 0.0], 3))
            .await
            .map(drop),
        "query",
    );
    missing(store.count(name, None).await.map(drop), "count");
    missing(store.upsert(name, corpus()).await, "upsert");
    missing(
        store.scroll(name, &eq("kb_id", "kb1"), 10).await.map(drop),
        "scroll",
    );
    missing(store.delete_points(name, &[A]).await, "delete_points");
    missing(
        store.delete_by_filter(name, &eq("kb_id", "kb1")).await,
        "delete_by_filter",
    );
    missing(
        store.payload_indexes(name).await.map(drop),
        "payload_indexes",
    );
    missing(store.optimize(name).await, "optimize");
}

async fn writes(store: &Arc<dyn VectorStore>, name: &str) {
    filled(store, name).await;
    assert_eq!(store.count(name, None).await.unwrap(), 5);
    assert_eq!(
        store.count(name, Some(&eq("kb_id", "kb1"))).await.unwrap(),
        3
    );

    // Overwrite A by id: new vector and payload, still five points.
    let moved = point(
        A,
        [0.0, 0.0, 0.0, 1.0],
        &[(9, 1.0)],
        json!({"kb_id": "kb1", "document_id": "d1", "ordinal": 0, "version": 2}),
    );
    store.upsert(name, vec![moved]).await.unwrap();
    assert_eq!(
        store.count(name, None).await.unwrap(),
        5,
        "overwrite must not duplicate"
    );
    let hits = store
        .query(name, &dense([1.0, 0.0, 0.0, 0.0], 1))
        .await
        .unwrap();
    assert_eq!(ids(&hits), [B], "A's old vector is gone");
    let hits = store.query(name, &sparse(&[(9, 1.0)], 5)).await.unwrap();
    assert_eq!(ids(&hits), [A], "A's new sparse vector is searched");
    assert_eq!(hits[0].payload.get("version"), Some(&json!(2)));
    assert_eq!(
        hits[0].payload.get("metadata"),
        None,
        "the payload is replaced, not merged"
    );

    // A vector of the wrong dimension is refused as a bad request.
    let mut bad = corpus().remove(1);
    bad.dense = vec![1.0; DIM + 1];
    let err = store.upsert(name, vec![bad]).await.unwrap_err();
    assert!(
        matches!(err, VectorError::Invalid(_)),
        "wrong dimension gave {err:?}"
    );
    assert_eq!(store.count(name, None).await.unwrap(), 5);

    store.delete_points(name, &[B]).await.unwrap();
    assert_eq!(store.count(name, None).await.unwrap(), 4);
    store
        .delete_points(name, &[B, Uuid::from_u128(0x77)])
        .await
        .expect("deleting missing ids is fine");
    assert_eq!(store.count(name, None).await.unwrap(), 4);

    store
        .delete_by_filter(name, &eq("kb_id", "kb2"))
        .await
        .unwrap();
    assert_eq!(store.count(name, None).await.unwrap(), 2, "D and E deleted");
    assert_eq!(
        store.count(name, Some(&eq("kb_id", "kb2"))).await.unwrap(),
        0
    );
    store
        .delete_by_filter(name, &eq("kb_id", "kb2"))
        .await
        .expect("deleting nothing is fine");
    let err = store
        .delete_by_filter(name, &Filter::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, VectorError::Invalid(_)),
        "an empty delete filter gave {err:?}"
    );
    assert_eq!(
        store.count(name, None).await.unwrap(),
        2,
        "an empty filter deletes nothing"
    );

    store.delete_collection(name).await.unwrap();
}

async fn ranking(store: &Arc<dyn VectorStore>, name: &str) {
    filled(store, name).await;

    // Dense: nearest first, limit respected.
    let hits = store
        .query(name, &dense([1.0, 0.0, 0.0, 0.0], 3))
        .await
        .unwrap();
    assert_eq!(ids(&hits), [A, B, C]);
    assert!(
        (hits[0].score - 1.0).abs() < 1e-4,
        "cosine of equal vectors: {}",
        hits[0].score
    );
    assert_best_first(&hits);
    assert_eq!(hits[0].payload.get("document_id"), Some(&json!("d1")));
    assert_eq!(hits[0].payload["metadata"]["x"], json!("red"));

    // Sparse: only points sharing a term, the heavier weight first.
    let hits = store.query(name, &sparse(&[(1, 1.0)], 5)).await.unwrap();
    assert_eq!(ids(&hits), [A, E]);
    assert!(hits[1].score > 0.0);
    let hits = store.query(name, &sparse(&[(6, 1.0)], 5)).await.unwrap();
    assert_eq!(ids(&hits), [D]);
    let hits = store.query(name, &sparse(&[(42, 1.0)], 5)).await.unwrap();
    assert!(hits.is_empty(), "no point has term 42: {hits:?}");

    // Hybrid: with two candidates a leg, dense brings D and E, sparse brings only C; C, best
    // of the sparse leg only, ties D, best of the dense leg only, and both beat E.
    let query = hybrid([0.0, 0.0, 1.0, 0.0], &[(4, 1.0)], 2, 2);
    let hits = store.query(name, &query).await.unwrap();
    assert_eq!(id_set(&hits), BTreeSet::from([C, D]));
    assert_best_first(&hits);
    let hits = store
        .query(
            name,
            &Query {
                limit: 1,
                ..query.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(hits.len(), 1, "limit respected");
    assert!([C, D].contains(&hits[0].id));
    // DBSF normalises each leg by its score distribution. Dense ranks B .90, A .86, C .77,
    // D .26, E .14 (no ties) and sparse finds only C: C rises to the top, the dense-only
    // points keep their dense order.
    let spread = hybrid([1.0, 0.5, 0.3, 0.1], &[(4, 1.0)], 5, 5);
    let dbsf = Query {
        fusion: Fusion::Dbsf,
        ..spread.clone()
    };
    let hits = store.query(name, &dbsf).await.unwrap();
    assert_eq!(ids(&hits), [C, B, A, D, E]);
    assert_best_first(&hits);
    let rrf = store.query(name, &spread).await.unwrap();
    let scores = |hits: &[Hit]| hits.iter().map(|hit| hit.score).collect::<Vec<_>>();
    assert_ne!(
        scores(&hits),
        scores(&rrf),
        "the fusion asked for is the one used"
    );
    // Weighted RRF: all weight on the dense leg gives the dense order (C only 1/4 from its
    // dense rank); all on the sparse leg puts C, the only sparse hit, first by a margin.
    let weighted = |k: u32, dense_weight: f32| Query {
        fusion: Fusion::Rrf { k, dense_weight },
        ..spread.clone()
    };
    let hits = store.query(name, &weighted(2, 1.0)).await.unwrap();
    assert_eq!(ids(&hits), [B, A, C, D, E], "dense-only weights");
    let hits = store.query(name, &weighted(2, 0.0)).await.unwrap();
    assert_eq!(hits[0].id, C, "sparse-only weights");
    assert!(hits[1..].iter().all(|h| h.score < hits[0].score / 2.0));
    let k60 = store.query(name, &weighted(60, 0.5)).await.unwrap();
    assert_eq!(ids(&k60), [C, B, A, D, E]);
    assert!(
        k60[0].score < rrf[0].score,
        "a larger k flattens RRF scores: {} vs {}",
        k60[0].score,
        rrf[0].score
    );

    // score_threshold drops low scores; on hybrid queries it applies to the fused score.
    let hits = store
        .query(
            name,
            &Query {
                score_threshold: Some(0.5),
                ..dense([1.0, 0.0, 0.0, 0.0], 5)
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&hits), [A, B], "C scores 0.45, D and E 0");
    // RRF on the same legs: C 1/2 + 1/4, B 1/2, A 1/3, D 1/5, E 1/6, all different.
    let query = spread;
    let all = store.query(name, &query).await.unwrap();
    assert_eq!(ids(&all), [C, B, A, D, E]);
    let (best, worst) = (all[0].score, all[all.len() - 1].score);
    assert!(
        best > worst,
        "fused scores must differ for this check: {all:?}"
    );
    let threshold = (best + worst) / 2.0;
    let kept = store
        .query(
            name,
            &Query {
                score_threshold: Some(threshold),
                ..query
            },
        )
        .await
        .unwrap();
    let expected: Vec<_> = all
        .iter()
        .filter(|hit| hit.score >= threshold)
        .map(|hit| hit.id)
        .collect();
    assert!(!kept.is_empty() && kept.len() < all.len());
    assert_eq!(id_set(&kept), expected.into_iter().collect::<BTreeSet<_>>());

    // Malformed queries are the caller's fault.
    let no_dense = Query {
        dense: None,
        ..dense([1.0, 0.0, 0.0, 0.0], 3)
    };
    let err = store.query(name, &no_dense).await.unwrap_err();
    assert!(
        matches!(err, VectorError::Invalid(_)),
        "dense query without vector gave {err:?}"
    );
    let no_sparse = Query {
        sparse: None,
        ..hybrid([1.0, 0.0, 0.0, 0.0], &[(1, 1.0)], 3, 3)
    };
    let err = store.query(name, &no_sparse).await.unwrap_err();
    assert!(
        matches!(err, VectorError::Invalid(_)),
        "hybrid query without sparse gave {err:?}"
    );
    let wrong_dim = Query {
        dense: Some(vec![1.0; DIM + 2]),
        ..dense([0.0; DIM], 3)
    };
    let err = store.query(name, &wrong_dim).await.unwrap_err();
    assert!(
        matches!(err, VectorError::Invalid(_)),
        "wrong query dimension gave {err:?}"
    );

    store.delete_collection(name).await.unwrap();
}

async fn filters(store: &Arc<dyn VectorStore>, name: &str) {
    filled(store, name).await;
    let count = |filter: Filter| {
        let store = store.clone();
        let name = name.to_owned();
        async move { store.count(&name, Some(&filter)).await.unwrap() }
    };
    let any = |key: &str, values: Vec<MatchValue>| Filter {
        must: vec![Condition::Any {
            key: key.into(),
            values,
        }],
        ..Default::default()
    };
    let except = |key: &str, values: Vec<MatchValue>| Filter {
        must: vec![Condition::Except {
            key: key.into(),
            values,
        }],
        ..Default::default()
    };
    let range = |key: &str, range: RangeBounds| Filter {
        must: vec![Condition::Range {
            key: key.into(),
            range,
        }],
        ..Default::default()
    };

    // Exact matches: keyword, integer, bool; a keyword with a space stays exact.
    assert_eq!(count(eq("kb_id", "kb1")).await, 3);
    assert_eq!(count(eq("ordinal", 1i64)).await, 2);
    assert_eq!(count(eq("flag", false)).await, 1);
    assert_eq!(count(eq("kb_id", "kb 1")).await, 0);
    // Ranges on an indexed integer and on a nested payload key.
    assert_eq!(
        count(range(
            "ordinal",
            RangeBounds {
                gte: Some(1.0),
                ..Default::default()
            }
        ))
        .await,
        2
    );
    assert_eq!(
        count(range(
            "ordinal",
            RangeBounds {
                lt: Some(1.0),
                ..Default::default()
            }
        ))
        .await,
        3
    );
    let years = RangeBounds {
        gt: Some(2020.0),
        lte: Some(2023.0),
        ..Default::default()
    };
    assert_eq!(
        count(range("metadata.year", years)).await,
        3,
        "2021, 2022, 2023"
    );
    // any / except, including mixed kinds, bools, and keys missing from some points.
    assert_eq!(
        count(any("document_id", vec!["d2".into(), "d3".into()])).await,
        3
    );
    assert_eq!(
        count(any("metadata.x", vec!["green".into(), "blue".into()])).await,
        2
    );
    assert_eq!(
        count(any("ordinal", vec![MatchValue::Integer(1), "1".into()])).await,
        2
    );
    assert_eq!(count(any("flag", vec![true.into(), "zzz".into()])).await, 1);
    assert_eq!(
        count(any("kb_id", vec![])).await,
        0,
        "nothing is any of no values"
    );
    assert_eq!(count(except("document_id", vec!["d1".into()])).await, 3);
    assert_eq!(
        count(except("flag", vec![true.into()])).await,
        4,
        "a missing key is none of them"
    );
    assert_eq!(
        count(except(
            "ordinal",
            vec![MatchValue::Integer(0), MatchValue::Integer(1)]
        ))
        .await,
        0
    );
    // Nested and/or/not, and the tenancy-style `and`.
    let nested = Filter {
        must: vec![Condition::Filter(Box::new(Filter {
            should: vec![
                Condition::Match {
                    key: "kb_id".into(),
                    value: "kb2".into(),
                },
                Condition::Match {
                    key: "document_id".into(),
                    value: "d2".into(),
                },
            ],
            ..Default::default()
        }))],
        must_not: vec![Condition::Match {
            key: "ordinal".into(),
            value: MatchValue::Integer(1),
        }],
        ..Default::default()
    };
    assert_eq!(count(nested).await, 2, "C and D");
    assert_eq!(
        count(eq("kb_id", "kb1").and(eq("metadata.x", "red"))).await,
        2,
        "A and C"
    );
    assert_eq!(
        count(eq("kb_id", "kb2").and(eq("metadata.x", "red"))).await,
        0
    );
    assert_eq!(
        count(Filter::default()).await,
        5,
        "an empty filter matches all"
    );

    // Filters restrict every leg of a query.
    let query = Query {
        filter: Some(eq("kb_id", "kb2")),
        ..hybrid([1.0, 0.0, 0.0, 0.0], &[(1, 1.0), (4, 1.0)], 5, 5)
    };
    let hits = store.query(name, &query).await.unwrap();
    assert_eq!(
        id_set(&hits),
        BTreeSet::from([D, E]),
        "only kb2, though A is nearest"
    );
    let query = Query {
        filter: Some(eq("metadata.x", "red")),
        ..dense([0.0, 0.0, 1.0, 0.0], 5)
    };
    assert_eq!(
        id_set(&store.query(name, &query).await.unwrap()),
        BTreeSet::from([A, C])
    );
    let query = Query {
        filter: Some(eq("kb_id", "kb1")),
        ..sparse(&[(1, 1.0)], 5)
    };
    assert_eq!(
        ids(&store.query(name, &query).await.unwrap()),
        [A],
        "E is in kb2"
    );

    // A malformed payload key is a bad request.
    let bad_key = range(
        "metadata..year[",
        RangeBounds {
            gt: Some(1.0),
            ..Default::default()
        },
    );
    let err = store.count(name, Some(&bad_key)).await.unwrap_err();
    assert!(
        matches!(err, VectorError::Invalid(_)),
        "bad key gave {err:?}"
    );

    store.delete_collection(name).await.unwrap();
}

async fn scroll(store: &Arc<dyn VectorStore>, name: &str) {
    filled(store, name).await;
    let hits = store.scroll(name, &eq("kb_id", "kb1"), 100).await.unwrap();
    assert_eq!(ids(&hits), [B, C, A], "kb1 by id");
    assert!(hits.iter().all(|hit| hit.score == 0.0));
    assert_eq!(hits[0].payload.get("ordinal"), Some(&json!(1)));
    let hits = store.scroll(name, &Filter::default(), 3).await.unwrap();
    assert_eq!(ids(&hits), [D, B, E], "the first three ids, all points");
    let hits = store
        .scroll(name, &eq("document_id", "d3"), 1)
        .await
        .unwrap();
    assert_eq!(ids(&hits), [D]);
    assert!(store
        .scroll(name, &eq("kb_id", "none"), 10)
        .await
        .unwrap()
        .is_empty());
    store.delete_collection(name).await.unwrap();
}

/// Concurrent writers and readers on one collection: no lost write, no deadlock.
async fn concurrency(store: &Arc<dyn VectorStore>, name: &str) {
    store.delete_collection(name).await.unwrap();
    store.ensure_collection(name, DIM).await.unwrap();
    let tasks: Vec<_> = (0..8u128)
        .map(|task| {
            let store = store.clone();
            let name = name.to_owned();
            tokio::spawn(async move {
                for batch in 0..3u128 {
                    let points = (0..5u128)
                        .map(|i| {
                            let n = (task * 100 + batch * 10 + i) as f32;
                            point(
                                Uuid::from_u128(0x1000 + task * 100 + batch * 10 + i),
                                [1.0, n, 0.5, 0.0],
                                &[(task as u32, 1.0)],
                                json!({"kb_id": format!("t{task}"), "ordinal": batch}),
                            )
                        })
                        .collect();
                    store.upsert(&name, points).await.unwrap();
                    let hits = store
                        .query(&name, &dense([1.0, 0.0, 0.0, 0.0], 3))
                        .await
                        .unwrap();
                    assert!(!hits.is_empty());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.count(name, None).await.unwrap(), 8 * 3 * 5);
    assert_eq!(
        store.count(name, Some(&eq("kb_id", "t3"))).await.unwrap(),
        15
    );
    store.delete_collection(name).await.unwrap();
}

/// Every collection indexes the fields ragway filters on, each with the right kind.
async fn payload_indexes(store: &Arc<dyn VectorStore>, name: &str) {
    store.delete_collection(name).await.unwrap();
    store.ensure_collection(name, DIM).await.unwrap();
    let expected = vec![
        ("document_id".to_owned(), IndexKind::Keyword),
        ("external_id".to_owned(), IndexKind::Keyword),
        ("kb_id".to_owned(), IndexKind::Keyword),
        ("ordinal".to_owned(), IndexKind::Integer),
    ];
    assert_eq!(store.payload_indexes(name).await.unwrap(), expected);
    store.upsert(name, corpus()).await.unwrap();
    store.ensure_collection(name, DIM).await.unwrap();
    assert_eq!(
        store.payload_indexes(name).await.unwrap(),
        expected,
        "ensuring again adds nothing"
    );
    store.delete_collection(name).await.unwrap();
}

/// The sparse leg weighs terms by inverse document frequency, computed by the engine over
/// the collection: ln(1 + (N - n + 0.5) / (n + 0.5)), N points, n of them with the term.
async fn idf(store: &Arc<dyn VectorStore>, name: &str) {
    store.delete_collection(name).await.unwrap();
    store.ensure_collection(name, DIM).await.unwrap();
    // Term 10 is in four points at weight 1.0, term 11 in one at 0.8.
    let common = |i: u128| {
        point(
            Uuid::from_u128(0x100 + i),
            [1.0, 0.0, 0.0, 0.0],
            &[(10, 1.0)],
            json!({"kb_id": "kb1"}),
        )
    };
    let rare = point(
        Uuid::from_u128(0x200),
        [1.0, 0.0, 0.0, 0.0],
        &[(11, 0.8)],
        json!({"kb_id": "kb1"}),
    );
    let mut points: Vec<Point> = (0..4).map(common).collect();
    points.push(rare);
    store.upsert(name, points).await.unwrap();
    let hits = store
        .query(name, &sparse(&[(10, 1.0), (11, 1.0)], 5))
        .await
        .unwrap();
    assert_eq!(hits.len(), 5);
    // Without IDF the rare term's point would come last (0.8 < 1.0).
    assert_eq!(hits[0].id, Uuid::from_u128(0x200), "{hits:?}");
    let idf = |n: f32| (1.0 + (5.0 - n + 0.5) / (n + 0.5)).ln();
    assert!(
        (hits[0].score - 0.8 * idf(1.0)).abs() < 1e-3,
        "rare: {} vs {}",
        hits[0].score,
        0.8 * idf(1.0)
    );
    assert!(
        (hits[1].score - idf(4.0)).abs() < 1e-3,
        "common: {} vs {}",
        hits[1].score,
        idf(4.0)
    );
    store.delete_collection(name).await.unwrap();
}

/// A batch with one bad point is refused whole: nothing of it is written.
async fn batches(store: &Arc<dyn VectorStore>, name: &str) {
    store.delete_collection(name).await.unwrap();
    store.ensure_collection(name, DIM).await.unwrap();
    let refused = |points: Vec<Point>, what: &'static str| {
        let store = store.clone();
        let name = name.to_owned();
        async move {
            let err = store.upsert(&name, points).await.unwrap_err();
            assert!(
                matches!(err, VectorError::Invalid(_)),
                "{what} gave {err:?}"
            );
            assert!(!err.is_transient());
            assert_eq!(store.count(&name, None).await.unwrap(), 0, "{what}");
        }
    };
    let mut points = corpus();
    points[3].dense = vec![1.0; DIM - 1];
    refused(points, "a short dense vector").await;
    let mut points = corpus();
    points[4].sparse = SparseVec {
        indices: vec![1, 1],
        values: vec![0.5, 0.5],
    };
    refused(points, "a duplicate sparse index").await;
    let mut points = corpus();
    points[2].sparse = SparseVec {
        indices: vec![1, 2],
        values: vec![0.5],
    };
    refused(points, "sparse indices and values of different lengths").await;
    store.upsert(name, corpus()).await.unwrap();
    assert_eq!(store.count(name, None).await.unwrap(), 5);
    store.delete_collection(name).await.unwrap();
}

/// Building indexes changes no result; a missing collection says so.
async fn optimize(store: &Arc<dyn VectorStore>, name: &str) {
    filled(store, name).await;
    let query = hybrid([1.0, 0.0, 0.0, 0.0], &[(1, 1.0)], 5, 5);
    let before = store.query(name, &query).await.unwrap();
    store.optimize(name).await.unwrap();
    let after = store.query(name, &query).await.unwrap();
    assert_eq!(ids(&before), ids(&after));
    store.delete_collection(name).await.unwrap();
    let err = store.optimize(name).await.unwrap_err();
    assert!(matches!(err, VectorError::CollectionNotFound(_)), "{err:?}");
}

/// Names that are unsafe as a directory or a URL segment are refused by every call, by both
/// backends alike.
async fn names(store: &Arc<dyn VectorStore>) {
    let long = "x".repeat(129);
    for name in [
        "",
        "../escape",
        "a/b",
        ".hidden",
        "sp ace",
        "ü",
        long.as_str(),
    ] {
        let invalid = |result: Result<(), VectorError>, what: &str| match result {
            Err(err @ VectorError::Invalid(_)) => assert!(!err.is_transient()),
            other => panic!("{what} of {name:?} gave {other:?}"),
        };
        invalid(
            store.ensure_collection(name, DIM).await,
            "ensure_collection",
        );
        invalid(
            store.collection_exists(name).await.map(drop),
            "collection_exists",
        );
        invalid(store.delete_collection(name).await, "delete_collection");
        invalid(store.upsert(name, corpus()).await, "upsert");
        invalid(store.count(name, None).await.map(drop), "count");
        invalid(
            store
                .query(name, &dense([1.0, 0.0, 0.0, 0.0], 3))
                .await
                .map(drop),
            "query",
        );
    }
}

fn edge(dir: &Path) -> Arc<dyn VectorStore> {
    Arc::new(EdgeStore::open(dir).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(edge(dir.path()), "c_").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = edge(dir.path());
    filled(&store, "kept").await;
    store.delete_points("kept", &[B]).await.unwrap();
    filled(&store, "dropped").await;
    store.delete_collection("dropped").await.unwrap();
    drop(store);
    // What an interrupted create leaves behind is swept at open.
    std::fs::create_dir(dir.path().join(".staging-half-made")).unwrap();

    let store = edge(dir.path());
    assert!(store.collection_exists("kept").await.unwrap());
    assert!(!store.collection_exists("dropped").await.unwrap());
    assert!(!dir.path().join(".staging-half-made").exists());
    assert_eq!(store.count("kept", None).await.unwrap(), 4);
    let hits = store
        .query("kept", &hybrid([1.0, 0.0, 0.0, 0.0], &[(6, 1.0)], 2, 4))
        .await
        .unwrap();
    assert_eq!(id_set(&hits), BTreeSet::from([A, D]));
    assert_eq!(
        store
            .count("kept", Some(&eq("metadata.x", "red")))
            .await
            .unwrap(),
        2
    );
    // The payload indexes and the dimension survived too: ensure is still a no-op.
    store.ensure_collection("kept", DIM).await.unwrap();
    let err = store.ensure_collection("kept", DIM + 1).await.unwrap_err();
    assert!(matches!(err, VectorError::Invalid(_)));
}

/// A copy of the directory taken while the store is open is what a killed process leaves:
/// no shutdown flush. Every acknowledged write must be in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_recovers_without_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let store = edge(&dir.path().join("live"));
    filled(&store, "crash").await;
    store.delete_points("crash", &[C]).await.unwrap();
    copy_dir(&dir.path().join("live"), &dir.path().join("copy"));

    let recovered = edge(&dir.path().join("copy"));
    assert_eq!(recovered.count("crash", None).await.unwrap(), 4);
    let hits = recovered
        .query("crash", &sparse(&[(1, 1.0)], 5))
        .await
        .unwrap();
    assert_eq!(ids(&hits), [A, E]);
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_open_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = edge(dir.path());
    store.ensure_collection("one", DIM).await.unwrap();
    // The WAL is locked: a second store on the same directory would corrupt it.
    assert!(EdgeStore::open(dir.path()).is_err());
    drop(store);
    assert!(EdgeStore::open(dir.path()).is_ok());
}

/// What the contract checks of names, seen on disk: a refused name creates nothing.
#[tokio::test]
async fn edge_refused_names_create_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = edge(dir.path());
    names(&store).await;
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing was created"
    );
}

/// `vector_store.on_disk_*` reach the shards Qdrant Edge creates (its saved shard config),
/// and such a collection works like any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_creates_collections_with_the_on_disk_settings() {
    let dir = tempfile::tempdir().unwrap();
    let placement = |name: &str| {
        let text = std::fs::read_to_string(dir.path().join(name).join("edge_config.json")).unwrap();
        let config: Value = serde_json::from_str(&text).unwrap();
        let dense = &config["vectors"]["dense"];
        [
            dense["memory"].clone(),
            config["payload_memory"].clone(),
            dense["hnsw_config"]["memory"].clone(),
            config["sparse_vectors"][SPARSE]["memory"].clone(),
            dense["quantization_config"]["scalar"]["type"].clone(),
            dense["quantization_config"]["scalar"]["memory"].clone(),
        ]
    };
    let settings = CollectionSettings {
        on_disk_vectors: true,
        on_disk_payload: false,
        on_disk_index: true,
        quantization: Quantization::Int8,
        ..CollectionSettings::default()
    };
    let store: Arc<dyn VectorStore> = Arc::new(EdgeStore::open_with(dir.path(), settings).unwrap());
    filled(&store, "disk").await;
    assert_eq!(
        placement("disk"),
        [
            json!("cold"),
            json!("cached"),
            json!("cold"),
            json!("cold"),
            json!("int8"),
            json!("pinned")
        ]
    );
    let hits = store
        .query("disk", &dense([1.0, 0.0, 0.0, 0.0], 3))
        .await
        .unwrap();
    assert_eq!(ids(&hits), [A, B, C]);
    drop(store);
    let store = edge(dir.path());
    store.ensure_collection("ram", DIM).await.unwrap();
    assert_eq!(
        placement("ram"),
        [
            json!("cached"),
            json!("cold"),
            json!("cached"),
            json!("pinned"),
            Value::Null,
            Value::Null
        ],
        "the defaults: vectors and indexes in RAM, payloads on disk, no quantization"
    );
}

/// The server's background optimiser (`optimize_written`) builds the search index of a
/// collection filled by writes, once; a collection not written since is left alone; searches
/// answer the same before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_optimizes_written_collections() {
    const BIG: usize = 384;
    let dir = tempfile::tempdir().unwrap();
    let store = EdgeStore::open(dir.path()).unwrap();
    store.ensure_collection("big", BIG).await.unwrap();
    store.ensure_collection("small", DIM).await.unwrap();
    // 16,000 × 384 floats: 24.6 MB, past the engine's 10 MB threshold for an HNSW index.
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut unit = move || {
        let v: Vec<f32> = (0..BIG)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                (rng >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
    };
    let mut kept = Vec::new();
    for batch in 0..16u128 {
        let points: Vec<Point> = (0..1000u128)
            .map(|i| Point {
                id: Uuid::from_u128(batch * 1000 + i + 1),
                dense: unit(),
                sparse: sparse_vec(&[(1, 1.0)]),
                payload: Map::new(),
            })
            .collect();
        kept.push((points[500].id, points[500].dense.clone()));
        store.upsert("big", points).await.unwrap();
    }
    let indexed = |name: &str| {
        walkdir(&dir.path().join(name))
            .iter()
            .any(|p| p.ends_with("hnsw_config.json"))
    };
    // Stored points' own vectors: exact search ranks each first, and so must the index, but
    // for the rare point an approximate graph cannot reach (random 384-d vectors are HNSW's
    // hardest case, so nothing is asserted of the other neighbours).
    assert_eq!(found_first(&store, &kept).await, 16, "exact search");
    assert!(!indexed("big"), "no index before optimising");
    assert_eq!(
        store.optimize_written().await.unwrap(),
        1,
        "only `big` had work"
    );
    assert!(indexed("big"), "the HNSW index was built");
    assert!(!indexed("small"));
    assert_eq!(
        store.optimize_written().await.unwrap(),
        0,
        "nothing written since"
    );
    assert!(
        found_first(&store, &kept).await >= 15,
        "the index finds the points themselves"
    );
    assert_eq!(store.count("big", None).await.unwrap(), 16_000);
}

/// How many of `kept`'s points come first (of five hits) in `big` when searched by their own
/// vectors.
async fn found_first(store: &EdgeStore, kept: &[(Uuid, Vec<f32>)]) -> usize {
    let mut found = 0;
    for (id, vector) in kept {
        let query = Query {
            dense: Some(vector.clone()),
            candidates: 5,
            limit: 5,
            ..dense([0.0; DIM], 5)
        };
        let hits = store.query("big", &query).await.unwrap();
        assert_eq!(hits.len(), 5);
        found += usize::from(ids(&hits)[0] == *id);
    }
    found
}

/// Every file under `dir`.
fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Qdrant Edge's one way to be unavailable: its directory gone (a lost volume).
#[tokio::test]
async fn edge_store_without_its_directory_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let store = edge(&dir.path().join("vectors"));
    store.health().await.unwrap();
    std::fs::remove_dir_all(dir.path().join("vectors")).unwrap();
    let err = store.health().await.unwrap_err();
    assert!(matches!(err, VectorError::Unavailable(_)), "{err:?}");
    assert!(err.is_transient());
}

fn server(url: &str, prefix: &str, settings: CollectionSettings) -> Arc<dyn VectorStore> {
    Arc::new(
        QdrantStore::connect(QdrantOptions {
            api_key: crate::helpers::qdrant_api_key(),
            collection_prefix: prefix.to_owned(),
            collections: settings,
            timeout: Duration::from_secs(2),
            ..QdrantOptions::new(url)
        })
        .unwrap(),
    )
}

/// Every call to a server that is not there fails fast as `Unavailable`, which callers
/// retry (ingest and jobs) or answer with 503 (search, chat). Needs no server.
#[tokio::test]
async fn qdrant_server_unreachable_is_transient() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // closed again: nothing listens there
    let store = server(
        &format!("http://127.0.0.1:{port}"),
        "",
        CollectionSettings::default(),
    );
    let started = Instant::now();
    let unavailable = |result: Result<(), VectorError>, what: &str| match result {
        Err(err @ VectorError::Unavailable(_)) => assert!(err.is_transient()),
        other => panic!("{what} on an unreachable server gave {other:?}"),
    };
    unavailable(store.health().await, "health");
    unavailable(store.ensure_collection("c", DIM).await, "ensure_collection");
    unavailable(
        store.collection_exists("c").await.map(drop),
        "collection_exists",
    );
    unavailable(store.upsert("c", corpus()).await, "upsert");
    unavailable(
        store
            .query("c", &dense([1.0, 0.0, 0.0, 0.0], 3))
            .await
            .map(drop),
        "query",
    );
    unavailable(store.count("c", None).await.map(drop), "count");
    unavailable(
        store.delete_by_filter("c", &eq("kb_id", "a")).await,
        "delete_by_filter",
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refused connections fail at once, not after timeouts: {:?}",
        started.elapsed()
    );
}

/// A server that accepts connections and never answers (hung, or a black-holing network)
/// fails each call after `timeout`, as `Unavailable`: a search is not held forever.
#[tokio::test]
async fn qdrant_server_that_hangs_times_out_as_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket); // read nothing, answer nothing
        }
    });
    let store = server(
        &format!("http://127.0.0.1:{port}"),
        "",
        CollectionSettings::default(),
    );
    for _ in 0..2 {
        let started = Instant::now();
        let err = store
            .query("c", &dense([1.0, 0.0, 0.0, 0.0], 3))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, VectorError::Unavailable(_)), "{err:?}");
        assert!(
            took >= Duration::from_millis(1500) && took < Duration::from_secs(8),
            "the 2 s timeout applies: {took:?}"
        );
    }
    held.abort();
}

/// The Qdrant server under test (`QDRANT_URL`), for tests compiled only when it was set.
#[cfg(qdrant_server)]
fn server_url() -> String {
    crate::helpers::qdrant_url()
        .expect("QDRANT_URL must name a Qdrant server's gRPC endpoint, e.g. http://localhost:6334")
}

#[cfg(not(qdrant_server))]
fn server_url() -> String {
    unreachable!("compiled without QDRANT_URL: the server tests are ignored")
}

/// A collection prefix of this test's own on the shared server.
fn server_prefix() -> String {
    crate::helpers::collection_prefix(Path::new(&Uuid::new_v4().to_string()))
}

/// A client of the server itself, to look at what the adapter made.
async fn raw_client() -> qdrant_client::Qdrant {
    qdrant_client::Qdrant::from_url(&server_url())
        .api_key(crate::helpers::qdrant_api_key())
        .skip_compatibility_check()
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(qdrant_server), ignore = "needs a Qdrant server: set QDRANT_URL")]
async fn qdrant_server_contract() {
    let prefix = server_prefix();
    let store = server(&server_url(), &prefix, CollectionSettings::default());
    contract(store, "c_").await;
    // Every collection the contract made carried the prefix, and it dropped them all.
    let left: Vec<String> = raw_client()
        .await
        .list_collections()
        .await
        .unwrap()
        .collections
        .into_iter()
        .map(|c| c.name)
        .filter(|name| name.starts_with(&prefix) || name.starts_with("c_"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The cluster settings reach the collections the server creates; existing collections keep
/// theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(deprecated)] // `on_disk*`: what the adapter sets, still reported by Qdrant 1.19
#[cfg_attr(not(qdrant_server), ignore = "needs a Qdrant server: set QDRANT_URL")]
async fn qdrant_server_creates_collections_with_the_cluster_settings() {
    let prefix = server_prefix();
    let settings = CollectionSettings {
        shard_number: 3,
        replication_factor: 1,
        write_consistency_factor: 1,
        on_disk_vectors: true,
        on_disk_payload: false,
        on_disk_index: true,
        quantization: Quantization::Int8,
    };
    let store = server(&server_url(), &prefix, settings);
    store.ensure_collection("laid_out", DIM).await.unwrap();
    store.upsert("laid_out", corpus()).await.unwrap();
    let client = raw_client().await;
    let params = |info: qdrant_client::qdrant::GetCollectionInfoResponse| {
        info.result.unwrap().config.unwrap().params.unwrap()
    };
    let p = params(
        client
            .collection_info(format!("{prefix}laid_out"))
            .await
            .unwrap(),
    );
    assert_eq!(p.shard_number, 3);
    assert_eq!(p.replication_factor, Some(1));
    assert_eq!(p.write_consistency_factor, Some(1));
    assert!(!p.on_disk_payload);
    let dense_params = match p.vectors_config.unwrap().config.unwrap() {
        qdrant_client::qdrant::vectors_config::Config::ParamsMap(map) => map.map["dense"],
        other => panic!("{other:?}"),
    };
    assert_eq!(dense_params.on_disk, Some(true));
    assert_eq!(dense_params.hnsw_config.unwrap().on_disk, Some(true));
    match dense_params
        .quantization_config
        .unwrap()
        .quantization
        .unwrap()
    {
        qdrant_client::qdrant::quantization_config::Quantization::Scalar(q) => {
            assert_eq!(
                q.r#type,
                qdrant_client::qdrant::QuantizationType::Int8 as i32
            );
            assert_eq!(q.always_ram, Some(true));
        }
        other => panic!("{other:?}"),
    }
    let sparse_index = p.sparse_vectors_config.unwrap().map[SPARSE].index.unwrap();
    assert_eq!(sparse_index.on_disk, Some(true));
    // Points spread over three shards still answer as one collection.
    assert_eq!(store.count("laid_out", None).await.unwrap(), 5);
    let hits = store
        .query("laid_out", &dense([1.0, 0.0, 0.0, 0.0], 3))
        .await
        .unwrap();
    assert_eq!(ids(&hits), [A, B, C]);

    // Another deployment with the defaults sees the same collection as it is.
    let defaults = server(&server_url(), &prefix, CollectionSettings::default());
    defaults.ensure_collection("laid_out", DIM).await.unwrap();
    let p = params(
        client
            .collection_info(format!("{prefix}laid_out"))
            .await
            .unwrap(),
    );
    assert_eq!(p.shard_number, 3, "existing collections keep their layout");
    defaults.ensure_collection("plain", DIM).await.unwrap();
    let p = params(
        client
            .collection_info(format!("{prefix}plain"))
            .await
            .unwrap(),
    );
    assert_eq!(p.shard_number, 1);
    assert!(p.on_disk_payload);
    store.delete_collection("laid_out").await.unwrap();
    store.delete_collection("plain").await.unwrap();
}

/// A collection made before an index was added to ragway's list gets it on the next ensure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(qdrant_server), ignore = "needs a Qdrant server: set QDRANT_URL")]
async fn qdrant_server_adds_missing_payload_indexes() {
    use qdrant_client::qdrant::{
        CreateCollectionBuilder, Distance, Modifier, SparseVectorParamsBuilder,
        SparseVectorsConfigBuilder, VectorParamsBuilder, VectorsConfigBuilder,
    };
    let prefix = server_prefix();
    let client = raw_client().await;
    let mut vectors = VectorsConfigBuilder::default();
    vectors.add_named_vector_params(
        "dense",
        VectorParamsBuilder::new(DIM as u64, Distance::Cosine),
    );
    let mut sparse = SparseVectorsConfigBuilder::default();
    sparse.add_named_vector_params(
        "bm25",
        SparseVectorParamsBuilder::default().modifier(Modifier::Idf),
    );
    client
        .create_collection(
            CreateCollectionBuilder::new(format!("{prefix}old"))
                .vectors_config(vectors)
                .sparse_vectors_config(sparse),
        )
        .await
        .unwrap();
    let store = server(&server_url(), &prefix, CollectionSettings::default());
    assert_eq!(store.payload_indexes("old").await.unwrap(), vec![]);
    store.ensure_collection("old", DIM).await.unwrap();
    let fields: Vec<String> = store
        .payload_indexes("old")
        .await
        .unwrap()
        .into_iter()
        .map(|(field, _)| field)
        .collect();
    assert_eq!(fields, ["document_id", "external_id", "kb_id", "ordinal"]);
    store.delete_collection("old").await.unwrap();
}

/// Two deployments with other prefixes share the server without seeing each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(qdrant_server), ignore = "needs a Qdrant server: set QDRANT_URL")]
async fn qdrant_server_prefixes_keep_deployments_apart() {
    let (one, two) = (server_prefix(), server_prefix());
    let a = server(&server_url(), &one, CollectionSettings::default());
    let b = server(&server_url(), &two, CollectionSettings::default());
    filled(&a, "kb").await;
    assert!(!b.collection_exists("kb").await.unwrap());
    b.ensure_collection("kb", DIM).await.unwrap();
    assert_eq!(b.count("kb", None).await.unwrap(), 0);
    assert_eq!(a.count("kb", None).await.unwrap(), 5);
    b.delete_collection("kb").await.unwrap();
    assert_eq!(a.count("kb", None).await.unwrap(), 5);
    assert!(raw_client()
        .await
        .collection_exists(format!("{one}kb"))
        .await
        .unwrap());
    a.delete_collection("kb").await.unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
