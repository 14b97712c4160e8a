//! A backend-neutral payload filter, the shape both Qdrant backends understand, and the parser
//! of the `filter` users send (`rag_params.filter`, search's `filter`) into it. The server adds
//! its own tenancy conditions with `Filter::and`, which a user filter can never widen.
//!
//! The users' shape: an object whose keys are field names or `and`/`or`:
//! `{"year": {"gte": 2020}, "lang": {"in": ["en", "de"]}, "or": [{"topic": "a"}, {"topic": "b"}]}`.
//! A bare value means `eq`. Field names address the document's metadata, except the document
//! fields `document_id`, `external_id`, `file_name`, `title` and `page`.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::ParamError;

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

const MAX_DEPTH: usize = 6;
const MAX_LEAVES: usize = 64;
const MAX_IN_VALUES: usize = 256;
const DOCUMENT_FIELDS: [&str; 5] = ["document_id", "external_id", "file_name", "title", "page"];

/// A filter in the users' shape (errors name the offending path below the field).
impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        parse(&value, "").map_err(|e| crate::params::fail_at(&e.param, e.message))
    }
}

/// Parse `value` (the JSON at `param`) into a filter; errors name the offending path.
pub fn parse(value: &Value, param: &str) -> Result<Filter, ParamError> {
    let mut leaves = 0;
    parse_object(value, param, 1, &mut leaves)
}

fn parse_object(
    value: &Value,
    path: &str,
    depth: usize,
    leaves: &mut usize,
) -> Result<Filter, ParamError> {
    if depth > MAX_DEPTH {
        return Err(ParamError::new(
            path,
            format!("filter is nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let obj = value
        .as_object()
        .ok_or_else(|| ParamError::new(path, "a filter must be a JSON object"))?;
    let mut filter = Filter::default();
    for (key, v) in obj {
        let here = format!("{path}.{key}");
        match key.as_str() {
            "and" | "or" => {
                let items = v.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
                    ParamError::new(&here, format!("`{key}` takes a non-empty array of filters"))
                })?;
                let mut parts = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let sub = parse_object(item, &format!("{here}[{i}]"), depth + 1, leaves)?;
                    parts.push(Condition::Filter(Box::new(sub)));
                }
                if key == "and" {
                    filter.must.extend(parts);
                } else {
                    filter.must.push(Condition::Filter(Box::new(Filter {
                        should: parts,
                        ..Default::default()
                    })));
                }
            }
            field => {
                if field.is_empty() || field.len() > 128 || field.contains(['[', ']']) {
                    return Err(ParamError::new(
                        &here,
                        format!("`{field}` is not a valid field name"),
                    ));
                }
                let target = if DOCUMENT_FIELDS.contains(&field) {
                    field.to_owned()
                } else {
                    format!("metadata.{field}")
                };
                parse_field(&target, v, &here, &mut filter, leaves)?;
            }
        }
    }
    Ok(filter)
}

fn parse_field(
    key: &str,
    v: &Value,
    path: &str,
    filter: &mut Filter,
    leaves: &mut usize,
) -> Result<(), ParamError> {
    let ops: Map<String, Value> = match v {
        Value::Object(m) => m.clone(),
        other => Map::from_iter([("eq".to_owned(), other.clone())]),
    };
    if ops.is_empty() {
        return Err(ParamError::new(
            path,
            "an operator object needs at least one of eq ne gt gte lt lte in nin",
        ));
    }
    let mut range = RangeBounds::default();
    let mut has_range = false;
    for (op, arg) in &ops {
        *leaves += 1;
        if *leaves > MAX_LEAVES {
            return Err(ParamError::new(
                path,
                format!("filter has more than {MAX_LEAVES} conditions"),
            ));
        }
        let here = format!("{path}.{op}");
        match op.as_str() {
            "eq" => filter.must.push(equals(key, arg, &here)?),
            "ne" => filter.must_not.push(equals(key, arg, &here)?),
            "gt" | "gte" | "lt" | "lte" => {
                let x = arg
                    .as_f64()
                    .ok_or_else(|| ParamError::new(&here, format!("`{op}` takes a number")))?;
                has_range = true;
                *match op.as_str() {
                    "gt" => &mut range.gt,
                    "gte" => &mut range.gte,
                    "lt" => &mut range.lt,
                    _ => &mut range.lte,
                } = Some(x);
            }
            "in" | "nin" => filter.must.push(one_of(key, op, arg, &here)?),
            other => {
                return Err(ParamError::new(
                    &here,
                    format!("unknown operator `{other}`; use eq ne gt gte lt lte in nin"),
                ))
            }
        }
    }
    if has_range {
        filter.must.push(Condition::Range {
            key: key.to_owned(),
            range,
        });
    }
    Ok(())
}

/// `key == arg`: a match for strings, integers and booleans, a closed range for other
/// numbers.
fn equals(key: &str, arg: &Value, path: &str) -> Result<Condition, ParamError> {
    Ok(match (scalar(arg, path)?, arg.as_f64()) {
        (Some(value), _) => Condition::Match {
            key: key.to_owned(),
            value,
        },
        (None, Some(x)) => Condition::Range {
            key: key.to_owned(),
            range: RangeBounds {
                gte: Some(x),
                lte: Some(x),
                ..Default::default()
            },
        },
        (None, None) => {
            unreachable!("scalar() accepts only strings, integers, booleans and numbers")
        }
    })
}

/// `key` is (`in`) or is not (`nin`) one of the strings or integers of `arg`.
fn one_of(key: &str, op: &str, arg: &Value, path: &str) -> Result<Condition, ParamError> {
    let items = arg
        .as_array()
        .filter(|a| !a.is_empty() && a.len() <= MAX_IN_VALUES)
        .ok_or_else(|| {
            ParamError::new(
                path,
                format!("`{op}` takes an array of 1 to {MAX_IN_VALUES} values"),
            )
        })?;
    let mut values = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        // An integer sent as `3.0` is an integer (as JSON Schema counts them).
        let integral = item
            .as_f64()
            .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15 && item.as_i64().is_none())
            .map(|x| Value::from(x as i64));
        match scalar(integral.as_ref().unwrap_or(item), &format!("{path}[{i}]"))? {
            Some(MatchValue::Bool(_)) | None => {
                return Err(ParamError::new(
                    format!("{path}[{i}]"),
                    "`in`/`nin` take strings or integers",
                ))
            }
            Some(v) => values.push(v),
        }
    }
    let key = key.to_owned();
    Ok(if op == "in" {
        Condition::Any { key, values }
    } else {
        Condition::Except { key, values }
    })
}

/// A matchable scalar: Some for strings, integers and booleans; None for other numbers (which
/// match by range); an error for null, arrays and objects.
fn scalar(v: &Value, path: &str) -> Result<Option<MatchValue>, ParamError> {
    match v {
        Value::String(s) => Ok(Some(MatchValue::Keyword(s.clone()))),
        Value::Bool(b) => Ok(Some(MatchValue::Bool(*b))),
        Value::Number(n) => Ok(n.as_i64().map(MatchValue::Integer)),
        _ => Err(ParamError::new(
            path,
            "expected a string, number or boolean",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_and_compounds() {
        let f = parse(&json!({"year": {"gte": 2020, "lt": 2024}, "lang": "en", "or": [{"topic": "a"}, {"document_id": "d1"}]}), "filter").unwrap();
        assert_eq!(f.must.len(), 3);
        assert!(f.must.contains(&Condition::Match {
            key: "metadata.lang".into(),
            value: MatchValue::Keyword("en".into())
        }));
        assert!(f.must.contains(&Condition::Range {
            key: "metadata.year".into(),
            range: RangeBounds {
                gte: Some(2020.0),
                lt: Some(2024.0),
                ..Default::default()
            }
        }));
        let Some(Condition::Filter(or)) = f.must.iter().find(|c| matches!(c, Condition::Filter(_)))
        else {
            panic!("no or")
        };
        assert_eq!(or.should.len(), 2);
        let f = parse(
            &json!({"tag": {"nin": ["x", 3]}, "draft": {"ne": true}}),
            "filter",
        )
        .unwrap();
        assert_eq!(
            f.must_not,
            vec![Condition::Match {
                key: "metadata.draft".into(),
                value: MatchValue::Bool(true)
            }]
        );
        assert_eq!(
            f.must,
            vec![Condition::Except {
                key: "metadata.tag".into(),
                values: vec!["x".into(), 3i64.into()]
            }]
        );
    }

    #[test]
    fn errors_name_the_path() {
        let cases = [
            (json!([1]), "filter"),
            (json!({"year": {"gte": "x"}}), "filter.year.gte"),
            (json!({"year": {"like": 1}}), "filter.year.like"),
            (json!({"or": []}), "filter.or"),
            (
                json!({"and": [{"a": {"in": [null]}}]}),
                "filter.and[0].a.in[0]",
            ),
            (json!({"a": null}), "filter.a.eq"),
        ];
        for (input, param) in cases {
            match parse(&input, "filter") {
                Err(ParamError { param: p, .. }) => {
                    assert_eq!(p, param, "{input}")
                }
                other => panic!("{input}: {other:?}"),
            }
        }
        let mut deep = json!({"a": 1});
        for _ in 0..7 {
            deep = json!({"and": [deep]});
        }
        assert!(parse(&deep, "filter").is_err());
    }
}
