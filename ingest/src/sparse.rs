//! BM25 term weights as sparse vectors, for a Qdrant sparse vector with the IDF modifier.
//! We supply the term-frequency part; the engine multiplies in IDF from its own statistics.

use std::collections::{BTreeMap, HashSet};

use rust_stemmers::{Algorithm, Stemmer};
use serde::{Deserialize, Serialize};

/// BM25 parameters and text normalisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Bm25Config {
    /// Term-frequency saturation: higher lets repeated terms count for more.
    pub k1: f32,
    /// Length normalisation: 0 ignores document length, 1 normalises fully.
    pub b: f32,
    /// Assumed average document length in terms. Chunks are capped at ~254 model tokens, so
    /// a fixed value stands in for the corpus average (which would change on every upload).
    pub avg_len: f32,
    /// Snowball English stemming ("running" and "runs" both index as "run").
    pub stem: bool,
    /// Drop English stop words ("the", "and", ...).
    pub stopwords: bool,
}

impl Default for Bm25Config {
    fn default() -> Self {
        Self {
            k1: 1.2,
            b: 0.75,
            avg_len: 256.0,
            stem: true,
            stopwords: true,
        }
    }
}

/// A sparse vector: `indices` unique and ascending, `values` aligned with them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseVector {
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }
}

/// Encodes documents and queries into BM25 sparse vectors.
///
/// Term ids are the 32-bit FNV-1a hash of the normalised (lowercased, stemmed) term's UTF-8
/// bytes. They are persisted in vector stores, so the hash, the tokenisation, the stop word
/// list and the stemmer must never change without re-indexing every collection.
pub struct Bm25 {
    cfg: Bm25Config,
    stemmer: Option<Stemmer>,
    stopwords: HashSet<&'static str>,
}

impl std::fmt::Debug for Bm25 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25").field("cfg", &self.cfg).finish()
    }
}

impl Clone for Bm25 {
    fn clone(&self) -> Self {
        Self::new(self.cfg.clone())
    }
}

/// Longest token kept, in characters: longer runs are ids, hashes or base64, not words.
const MAX_TOKEN_CHARS: usize = 40;

impl Bm25 {
    pub fn new(cfg: Bm25Config) -> Self {
        Self {
            stemmer: cfg.stem.then(|| Stemmer::create(Algorithm::English)),
            stopwords: if cfg.stopwords {
                STOPWORDS.iter().copied().collect()
            } else {
                HashSet::new()
            },
            cfg,
        }
    }

    pub fn config(&self) -> &Bm25Config {
        &self.cfg
    }

    /// Document side: for each term, `tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len))`, where
    /// `len` is the number of terms kept after stop word removal.
    pub fn encode_document(&self, text: &str) -> SparseVector {
        let terms = self.terms(text);
        let len = terms.len() as f32;
        let mut tf: BTreeMap<u32, u32> = BTreeMap::new();
        for term in &terms {
            *tf.entry(term_id(term)).or_default() += 1;
        }
        let Bm25Config { k1, b, avg_len, .. } = self.cfg;
        let norm = k1 * (1.0 - b + b * len / avg_len.max(1.0));
        let (indices, values): (Vec<u32>, Vec<f32>) = tf
            .into_iter()
            .map(|(id, tf)| {
                let tf = tf as f32;
                (id, tf * (k1 + 1.0) / (tf + norm))
            })
            .unzip();
        SparseVector { indices, values }
    }

    /// Query side: 1.0 per distinct term; the engine's IDF does the weighting.
    pub fn encode_query(&self, text: &str) -> SparseVector {
        let mut indices: Vec<u32> = self.terms(text).iter().map(|t| term_id(t)).collect();
        indices.sort_unstable();
        indices.dedup();
        let values = vec![1.0; indices.len()];
        SparseVector { indices, values }
    }

    /// The normalised terms of `text`, in order: lowercased, split at every character that
    /// is not alphanumeric (Unicode-aware), stop words and tokens of 1 or more than 40
    /// characters dropped, then stemmed.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let lower = text.to_lowercase();
        lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| {
                let n = t.chars().count();
                n > 1 && n <= MAX_TOKEN_CHARS && !self.stopwords.contains(t)
            })
            .map(|t| match &self.stemmer {
                Some(stemmer) => stemmer.stem(t).into_owned(),
                None => t.to_string(),
            })
            .collect()
    }
}

/// 32-bit FNV-1a of the term's UTF-8 bytes: tiny, fast and fixed forever by its spec, unlike
/// `std`'s hasher, whose output may change between Rust releases.
pub fn term_id(term: &str) -> u32 {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    term.bytes().fold(OFFSET_BASIS, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(PRIME)
    })
}

/// English stop words: the Snowball/NLTK list less the fragments of contractions, which the
/// tokeniser's split at apostrophes turns into 1-character tokens that are dropped anyway.
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_reference_values() {
        // Published FNV-1a 32-bit test vectors.
        assert_eq!(term_id(""), 0x811c_9dc5);
        assert_eq!(term_id("a"), 0xe40c_292c);
        assert_eq!(term_id("foobar"), 0xbf9c_f968);
    }
}
