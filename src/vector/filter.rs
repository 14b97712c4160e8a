//! A backend-neutral payload filter, the shape both Qdrant backends understand. The chat and
//! search APIs compile the user's `filter` JSON into this; the server adds its own tenancy
//! conditions with `Filter::and`, which a user filter can never widen.

use serde::{Deserialize, Serialize};

/// A value to match exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MatchValue {
    Bool(bool),
    Integer(i64),
    Keyword(String),
}

/// Numeric range; any bound may be absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RangeBounds {
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
}

/// One leaf or nested filter. `key` is a payload path such as `document_id` or `metadata.year`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// key == value
    Match { key: String, value: MatchValue },
    /// key is any of values
    Any {
        key: String,
        values: Vec<MatchValue>,
    },
    /// key is none of values
    Except {
        key: String,
        values: Vec<MatchValue>,
    },
    /// numeric range on key
    Range { key: String, range: RangeBounds },
    /// A nested boolean filter.
    Filter(Box<Filter>),
}

/// `must` all hold, at least one of `should` holds (when non-empty), none of `must_not` holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub must: Vec<Condition>,
    pub should: Vec<Condition>,
    pub must_not: Vec<Condition>,
}

impl Filter {
    /// A filter that holds when `key == value`.
    pub fn eq(key: impl Into<String>, value: MatchValue) -> Self {
        Filter {
            must: vec![Condition::Match {
                key: key.into(),
                value,
            }],
            ..Default::default()
        }
    }

    /// Both this filter and `other` must hold.
    pub fn and(self, other: Filter) -> Self {
        if self.is_empty() {
            return other;
        }
        if other.is_empty() {
            return self;
        }
        Filter {
            must: vec![
                Condition::Filter(Box::new(self)),
                Condition::Filter(Box::new(other)),
            ],
            ..Default::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.must.is_empty() && self.should.is_empty() && self.must_not.is_empty()
    }
}

impl From<&str> for MatchValue {
    fn from(s: &str) -> Self {
        MatchValue::Keyword(s.to_owned())
    }
}
impl From<String> for MatchValue {
    fn from(s: String) -> Self {
        MatchValue::Keyword(s)
    }
}
impl From<i64> for MatchValue {
    fn from(v: i64) -> Self {
        MatchValue::Integer(v)
    }
}
impl From<bool> for MatchValue {
    fn from(v: bool) -> Self {
        MatchValue::Bool(v)
    }
}
