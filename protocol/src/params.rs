//! Parsing at the edge: bodies are deserialized with serde, and every error is turned into a
//! [`ParamError`] naming the parameter's path (`rag_params.k`, `messages[0].role`,
//! `filter.year.gte`), found by `serde_path_to_error`. The numbers a request may send are
//! range-checked newtypes (`Temperature`, `TopP`, `K`, …): a value out of range does not
//! parse. Types shared by the chat and search bodies live here.

use std::fmt::Display;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ParamError;

/// Marks an error message our own `Deserialize` impls raise: `MARK suffix MARK message`.
/// `suffix` extends the parameter's path (`.year.gte` below `filter`); a message starting
/// with `{param}` gets the full path there.
const MARK: char = '\u{1}';

/// A deserialization error of the value at hand (the message may start with `{param}`).
pub(crate) fn fail<E: de::Error>(message: impl Display) -> E {
    fail_at("", message)
}

/// A deserialization error of the value at `suffix` below the one at hand.
pub(crate) fn fail_at<E: de::Error>(suffix: &str, message: impl Display) -> E {
    E::custom(format!("{MARK}{suffix}{MARK}{message}"))
}

/// Deserialize `value` as `T`; errors name the parameter, under `root` (`""` for a body,
/// `rag_params` for the value of that field).
pub fn from_value<T: DeserializeOwned>(value: Value, root: &str) -> Result<T, ParamError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = join(root, &e.path().to_string());
        to_param_error(path, e.into_inner().to_string())
    })
}

/// `root` and a path below it (`.` = the root itself).
fn join(root: &str, path: &str) -> String {
    match (root, path) {
        (r, ".") => r.to_owned(),
        ("", p) => p.to_owned(),
        (r, p) if p.starts_with('[') => format!("{r}{p}"),
        (r, p) => format!("{r}.{p}"),
    }
}

/// A serde error at `path` as a parameter error: ours carry their own wording; serde's own
/// (wrong type, unknown or missing field) are reworded to name the parameter.
fn to_param_error(path: String, raw: String) -> ParamError {
    if let Some(rest) = raw.strip_prefix(MARK) {
        let (suffix, message) = rest.split_once(MARK).unwrap_or(("", rest));
        let param = format!("{path}{suffix}");
        let message = match message.strip_prefix("{param}") {
            Some(tail) => format!("{param}{tail}"),
            None => message.to_owned(),
        };
        return ParamError::new(param, message);
    }
    if let Some(expected) = raw
        .strip_prefix("invalid type: ")
        .or_else(|| raw.strip_prefix("invalid value: "))
        .and_then(|r| r.split_once(", expected "))
        .map(|(_, e)| e)
    {
        return ParamError::new(&path, format!("{} must be {expected}", display(&path)));
    }
    if let Some(field) = raw
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        let param = join(&path, field);
        return ParamError::new(&param, format!("{param} is required"));
    }
    if let Some(field) = raw
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        let parent = path
            .strip_suffix(field)
            .map(|p| p.trim_end_matches('.'))
            .unwrap_or_default();
        let what = if parent.is_empty() {
            "field".to_owned()
        } else {
            format!("{parent} field")
        };
        return ParamError::new(path, format!("unknown {what} `{field}`"));
    }
    ParamError::new(&path, format!("{}: {raw}", display(&path)))
}

/// How the root is named in messages.
fn display(path: &str) -> &str {
    if path.is_empty() {
        "the request body"
    } else {
        path
    }
}

// ---------------------------------------------------------------------------------------------
// Field helpers for `#[serde(default = …, deserialize_with = …)]`: JSON `null` counts as absent
// everywhere, as OpenAI's API treats it.

/// A range-checked request value.
pub trait Param {
    /// The plain value the server uses.
    type Value;
    fn get(self) -> Self::Value;
}

/// A range-checked value with a default for when it is absent or null.
pub trait Defaulted: Param {
    const DEFAULT: Self::Value;
}

/// The default of `P` (for `#[serde(default = "default::<P>")]`).
pub fn default<P: Defaulted>() -> P::Value {
    P::DEFAULT
}

/// `P`'s value, or its default when null.
pub fn or_default<'de, D, P>(d: D) -> Result<P::Value, D::Error>
where
    D: Deserializer<'de>,
    P: Defaulted + Deserialize<'de>,
{
    Ok(Option::<P>::deserialize(d)?.map_or(P::DEFAULT, P::get))
}

/// `P`'s value, or None when null.
pub fn optional<'de, D, P>(d: D) -> Result<Option<P::Value>, D::Error>
where
    D: Deserializer<'de>,
    P: Param + Deserialize<'de>,
{
    Ok(Option::<P>::deserialize(d)?.map(P::get))
}

/// A value, or its type's default when null.
pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A non-negative integer (`3.0` included, as JSON Schema counts it), or None when null.
pub fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x < 1e18)
                .map(|x| x as u64)
        }) {
            Some(n) => Ok(Some(n as usize)),
            None => Err(fail("{param} must be a non-negative integer")),
        },
    }
}

/// A struct field sent as a JSON object, or null for None: serde's derived `Deserialize` would
/// also take a list, field by field in order, which no client means. Errors keep the full path
/// (`name` is the field's own path, e.g. `rag_params`).
pub fn object_at<'de, D, T>(d: D, name: &str) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v @ Value::Object(_) => from_value(v, name).map(Some).map_err(|e| {
            let suffix = e.param.strip_prefix(name).unwrap_or("");
            fail_at(suffix, e.message)
        }),
        _ => Err(fail("{param} must be an object or null")),
    }
}

/// A request body: a JSON object (serde's derive would take a list too), deserialized as `T`.
pub fn body<T: DeserializeOwned>(value: Value) -> Result<T, ParamError> {
    if !value.is_object() {
        return Err(ParamError::new(
            "body",
            "the request body must be a JSON object",
        ));
    }
    from_value(value, "")
}

/// A boolean that is true unless sent as false.
pub fn true_unless_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
}

pub fn yes() -> bool {
    true
}

// ---------------------------------------------------------------------------------------------
// Numbers

/// Any JSON number, as f64.
struct AnyNumber;

impl Visitor<'_> for AnyNumber {
    type Value = f64;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

/// A JSON integer: JSON Schema's (and JavaScript's) integer, so `3.0` is one and `3.5` not.
struct AnyInteger;

impl Visitor<'_> for AnyInteger {
    type Value = i128;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i128, E> {
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e30 {
            Ok(v as i128)
        } else {
            Err(E::invalid_type(de::Unexpected::Float(v), &self))
        }
    }
    fn visit_i64<E>(self, v: i64) -> Result<i128, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<i128, E> {
        Ok(v.into())
    }
}

/// The newtype `name` of a `t` in `min..=max`, its `Param` (and `Defaulted`) impls; the
/// `Deserialize` impl comes from `float_param!` or `int_param!`.
macro_rules! param_type {
    ($(#[$meta:meta])* $name:ident: $t:ty, $min:expr, $max:expr, [$($derive:ident),*] $(, default $d:expr)?) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Serialize $(, $derive)*)]
        pub struct $name($t);

        impl $name {
            pub const MIN: $t = $min;
            pub const MAX: $t = $max;
        }

        impl Param for $name {
            type Value = $t;
            fn get(self) -> $t {
                self.0
            }
        }

        $(impl Defaulted for $name {
            const DEFAULT: $t = $d;
        })?
    };
}

/// `name`: a number of type `t` in `[min, max]`, shown in messages as `rule`.
macro_rules! float_param {
    ($(#[$meta:meta])* $name:ident: $t:ty, $min:expr, $max:expr, $rule:literal $(, default $d:expr)?) => {
        param_type!($(#[$meta])* $name: $t, $min, $max, [] $(, default $d)?);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let x = d.deserialize_any(AnyNumber)?;
                if !(f64::from(Self::MIN)..=f64::from(Self::MAX)).contains(&x) {
                    return Err(fail(format!("{{param}} must be {}, got {x}", $rule)));
                }
                Ok($name(x as $t))
            }
        }
    };
}

/// `name`: an integer of type `t` in `min..=max`.
macro_rules! int_param {
    ($(#[$meta:meta])* $name:ident: $t:ty, $min:expr, $max:expr $(, default $d:expr)?) => {
        param_type!($(#[$meta])* $name: $t, $min, $max, [Eq] $(, default $d)?);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let x = d.deserialize_any(AnyInteger)?;
                if !(Self::MIN as i128..=Self::MAX as i128).contains(&x) {
                    return Err(fail(format!(
                        "{{param}} must be in {}..={}, got {x}",
                        Self::MIN,
                        Self::MAX
                    )));
                }
                Ok($name(x as $t))
            }
        }
    };
}

float_param!(
    /// Sampling temperature, in [0.001, 2]; 0.2 when absent.
    Temperature: f64, 0.001, 2.0, "in [0.001, 2]", default 0.2
);
float_param!(
    /// Nucleus sampling mass, in [0.001, 1]; 0.6 when absent.
    TopP: f64, 0.001, 1.0, "in [0.001, 1]", default 0.6
);
float_param!(
    /// A presence or frequency penalty, in [-2, 2]; 0 when absent.
    Penalty: f64, -2.0, 2.0, "in [-2, 2]", default 0.0
);
float_param!(
    /// MMR diversity, in [0, 1]: 0 ranks by relevance alone.
    Diversity: f32, 0.0, 1.0, "in [0, 1]"
);
float_param!(
    /// Hits scoring below this are dropped.
    ScoreThreshold: f32, -1e9, 1e9, "in [-1000000000, 1000000000]"
);
int_param!(
    /// Chunks returned by a search, 1..=1024.
    K: usize, 1, 1024
);
int_param!(
    /// Hits each leg of a search fetches before fusion, 1..=10000.
    Candidates: usize, 1, 10_000
);
int_param!(
    /// At most this many chunks of one document in a result, 1..=1024.
    MaxChunksPerDocument: usize, 1, 1024
);
int_param!(
    /// Neighbouring chunks merged into each hit on each side, 0..=5.
    Neighbors: usize, 0, 5, default 0
);
int_param!(
    /// A cap on the tokens of injected sources, 1..=10000000.
    MaxContextTokens: usize, 1, 10_000_000
);
int_param!(
    /// Choices to generate, 1..=128; 1 when absent.
    N: u32, 1, 128, default 1
);

int_param!(
    /// JamAI's reasoning budget in tokens, 0..=1000000 (0 = no reasoning).
    ThinkingBudget: u32, 0, 1_000_000
);

/// Tokens to generate: at least 1 (the model's context bounds it later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MaxTokens(u32);

impl Param for MaxTokens {
    type Value = u32;
    fn get(self) -> u32 {
        self.0
    }
}

impl<'de> Deserialize<'de> for MaxTokens {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(AnyInteger)? {
            x if x >= 1 => Ok(MaxTokens(x.min(u32::MAX.into()) as u32)),
            x => Err(fail(format!("{{param}} must be at least 1, got {x}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(
            default = "default::<Temperature>",
            deserialize_with = "or_default::<_, Temperature>"
        )]
        temperature: f64,
        #[serde(default, deserialize_with = "optional::<_, K>")]
        k: Option<usize>,
        #[serde(default)]
        #[allow(dead_code)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        name: String,
    }

    fn error(v: Value) -> ParamError {
        from_value::<Body>(v, "").unwrap_err()
    }

    #[test]
    fn errors_name_the_parameter() {
        let e = error(json!({"temperature": 3}));
        assert_eq!(e.param, "temperature");
        assert_eq!(e.message, "temperature must be in [0.001, 2], got 3");
        let e = error(json!({"k": 1.5}));
        assert_eq!(
            (e.param.as_str(), e.message.as_str()),
            ("k", "k must be an integer")
        );
        let e = error(json!({"k": 0}));
        assert_eq!(e.message, "k must be in 1..=1024, got 0");
        let e = error(json!({"inner": {"name": 1}}));
        assert_eq!(
            (e.param.as_str(), e.message.as_str()),
            ("inner.name", "inner.name must be a string")
        );
        let e = error(json!({"inner": {}}));
        assert_eq!(
            (e.param.as_str(), e.message.as_str()),
            ("inner.name", "inner.name is required")
        );
        let e = error(json!({"inner": {"name": "x", "bogus": 1}}));
        assert_eq!(
            (e.param.as_str(), e.message.as_str()),
            ("inner.bogus", "unknown inner field `bogus`")
        );
        let e = error(json!({"bogus": 1}));
        assert_eq!(
            (e.param.as_str(), e.message.as_str()),
            ("bogus", "unknown field `bogus`")
        );
    }

    #[test]
    fn null_is_absent() {
        let b: Body = from_value(json!({"temperature": null, "k": null}), "").unwrap();
        assert_eq!((b.temperature, b.k), (0.2, None));
        let b: Body = from_value(json!({"temperature": 1, "k": 7}), "").unwrap();
        assert_eq!((b.temperature, b.k), (1.0, Some(7)));
    }
}
