//! Ranking metrics with trec_eval's conventions (as BEIR reports them through pytrec_eval):
//! gains are the qrels' relevance grades (only grades > 0 count as relevant), DCG discounts
//! rank `i` (1-based) by `log2(i + 1)`, the ideal DCG is built from the qrels, every metric is
//! computed per query and then averaged over queries.

use std::collections::{HashMap, HashSet};

/// Relevance judgements of one query: document id → grade.
pub type Judgements = HashMap<String, f64>;

/// The metrics of one query (or their means over queries).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueryMetrics {
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
}

/// A document ranking from retrieved chunks' document ids, in rank order: each document keeps
/// its best (first) rank.
pub fn document_ranking<I, S>(ids: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for id in ids {
        let id = id.into();
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    out
}

fn grade(qrels: &Judgements, doc: &str) -> f64 {
    qrels.get(doc).copied().filter(|g| *g > 0.0).unwrap_or(0.0)
}

/// Relevant documents (grade > 0) of a query.
pub fn relevant_count(qrels: &Judgements) -> usize {
    qrels.values().filter(|g| **g > 0.0).count()
}

/// nDCG@k: DCG of the top `k` of `ranked` over the DCG of the ideal top `k` from `qrels`.
pub fn ndcg_at(ranked: &[String], qrels: &Judgements, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| grade(qrels, d) / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<f64> = qrels.values().copied().filter(|g| *g > 0.0).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, g)| g / ((i + 2) as f64).log2())
        .sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// Recall@k: relevant documents in the top `k` over all relevant documents.
pub fn recall_at(ranked: &[String], qrels: &Judgements, k: usize) -> f64 {
    let total = relevant_count(qrels);
    if total == 0 {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|d| grade(qrels, d) > 0.0)
        .count();
    found as f64 / total as f64
}

/// MRR@k: the reciprocal rank of the first relevant document in the top `k`, else 0.
pub fn mrr_at(ranked: &[String], qrels: &Judgements, k: usize) -> f64 {
    ranked
        .iter()
        .take(k)
        .position(|d| grade(qrels, d) > 0.0)
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Every metric of one query; `ranked` must hold each document once (`document_ranking`).
pub fn evaluate(ranked: &[String], qrels: &Judgements) -> QueryMetrics {
    QueryMetrics {
        ndcg_at_10: ndcg_at(ranked, qrels, 10),
        recall_at_10: recall_at(ranked, qrels, 10),
        recall_at_100: recall_at(ranked, qrels, 100),
        mrr_at_10: mrr_at(ranked, qrels, 10),
    }
}

/// The mean of each metric over queries (all zero for none).
pub fn mean(per_query: &[QueryMetrics]) -> QueryMetrics {
    if per_query.is_empty() {
        return QueryMetrics::default();
    }
    let n = per_query.len() as f64;
    let sum = per_query
        .iter()
        .fold(QueryMetrics::default(), |a, m| QueryMetrics {
            ndcg_at_10: a.ndcg_at_10 + m.ndcg_at_10,
            recall_at_10: a.recall_at_10 + m.recall_at_10,
            recall_at_100: a.recall_at_100 + m.recall_at_100,
            mrr_at_10: a.mrr_at_10 + m.mrr_at_10,
        });
    QueryMetrics {
        ndcg_at_10: sum.ndcg_at_10 / n,
        recall_at_10: sum.recall_at_10 / n,
        recall_at_100: sum.recall_at_100 / n,
        mrr_at_10: sum.mrr_at_10 / n,
    }
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of `values` (any order); 0 for none.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qrels(pairs: &[(&str, f64)]) -> Judgements {
        pairs.iter().map(|(d, g)| (d.to_string(), *g)).collect()
    }

    fn ranking(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn graded_relevance() {
        // d1 (grade 2) at rank 2, d2 (grade 1) at rank 3, d3 (grade 1) not retrieved, d0 judged
        // not relevant (grade 0) at rank 5.
        let q = qrels(&[("d1", 2.0), ("d2", 1.0), ("d3", 1.0), ("d0", 0.0)]);
        let r = ranking(&["x", "d1", "d2", "y", "d0"]);
        let dcg = 2.0 / 3f64.log2() + 1.0 / 4f64.log2();
        let idcg = 2.0 / 2f64.log2() + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        let m = evaluate(&r, &q);
        assert!(close(m.ndcg_at_10, dcg / idcg), "{m:?}");
        assert!(close(m.ndcg_at_10, 0.562_727_255_420_904_4), "{m:?}");
        assert!(close(m.recall_at_10, 2.0 / 3.0));
        assert!(close(m.recall_at_100, 2.0 / 3.0));
        assert!(close(m.mrr_at_10, 0.5));
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let q = qrels(&[("a", 2.0), ("b", 1.0)]);
        let m = evaluate(&ranking(&["a", "b", "c"]), &q);
        assert_eq!(
            m,
            QueryMetrics {
                ndcg_at_10: 1.0,
                recall_at_10: 1.0,
                recall_at_100: 1.0,
                mrr_at_10: 1.0
            }
        );
        // The wrong order of the two grades costs nDCG but not recall or MRR.
        let m = evaluate(&ranking(&["b", "a"]), &q);
        let expected = (1.0 + 2.0 / 3f64.log2()) / (2.0 + 1.0 / 3f64.log2());
        assert!(close(m.ndcg_at_10, expected));
        assert!(close(m.mrr_at_10, 1.0) && close(m.recall_at_10, 1.0));
    }

    #[test]
    fn nothing_relevant_retrieved() {
        let q = qrels(&[("a", 1.0)]);
        let m = evaluate(&ranking(&["x", "y", "z"]), &q);
        assert_eq!(m, QueryMetrics::default());
        assert_eq!(evaluate(&[], &q), QueryMetrics::default());
    }

    #[test]
    fn mrr_takes_the_first_relevant_within_ten() {
        let q = qrels(&[("a", 1.0), ("b", 1.0)]);
        assert!(close(
            mrr_at(&ranking(&["x", "y", "a", "b"]), &q, 10),
            1.0 / 3.0
        ));
        let mut r: Vec<String> = (0..10).map(|i| format!("x{i}")).collect();
        r.push("a".into());
        assert_eq!(mrr_at(&r, &q, 10), 0.0);
        assert!(close(mrr_at(&r, &q, 11), 1.0 / 11.0));
    }

    #[test]
    fn recall_counts_only_the_top_k() {
        // Three relevant: one at rank 1, one at rank 11, one at rank 101.
        let q = qrels(&[("a", 1.0), ("b", 1.0), ("c", 1.0)]);
        let mut r: Vec<String> = (0..120).map(|i| format!("x{i}")).collect();
        r[0] = "a".into();
        r[10] = "b".into();
        r[100] = "c".into();
        let m = evaluate(&r, &q);
        assert!(close(m.recall_at_10, 1.0 / 3.0));
        assert!(close(m.recall_at_100, 2.0 / 3.0));
        assert!(close(recall_at(&r, &q, 1000), 1.0));
        // Fewer relevant documents than k: all found is 1, never more.
        assert!(close(recall_at(&ranking(&["a", "b", "c"]), &q, 100), 1.0));
        // nDCG@10 sees only rank 1 of the three.
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        assert!(close(m.ndcg_at_10, 1.0 / idcg));
    }

    #[test]
    fn documents_keep_their_best_rank() {
        let r = document_ranking(["a", "b", "a", "c", "b"]);
        assert_eq!(r, ranking(&["a", "b", "c"]));
    }

    #[test]
    fn means_and_percentiles() {
        let a = QueryMetrics {
            ndcg_at_10: 1.0,
            recall_at_10: 1.0,
            recall_at_100: 1.0,
            mrr_at_10: 1.0,
        };
        let m = mean(&[a, QueryMetrics::default()]);
        assert!(close(m.ndcg_at_10, 0.5) && close(m.mrr_at_10, 0.5));
        assert_eq!(mean(&[]), QueryMetrics::default());
        let v = [50.0, 10.0, 40.0, 20.0, 30.0];
        assert_eq!(percentile(&v, 50.0), 30.0);
        assert_eq!(percentile(&v, 99.0), 50.0);
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&hundred, 50.0), 50.0);
        assert_eq!(percentile(&hundred, 99.0), 99.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
