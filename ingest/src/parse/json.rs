//! JSON and JSONL records: one section per record, from a configurable text field.
//! A record without the field is an error naming it, so a wrong field name is caught at once.

use serde_json::{Map, Value};

use super::text::decode;
use super::{Format, ParseError, ParseOptions, ParsedDocument, Section};

/// A single object is one section; an array of objects is one section per object.
pub(crate) fn parse_json(bytes: &[u8], opts: &ParseOptions) -> Result<ParsedDocument, ParseError> {
    let source = decode(bytes)?;
    let value: Value = serde_json::from_str(&source).map_err(|e| {
        // The usual cause: a JSON Lines file named `.json`.
        let hint = if e.to_string().starts_with("trailing characters") {
            "; for one JSON record per line, name the file .jsonl"
        } else {
            ""
        };
        ParseError::Json(format!("{e}{hint}"))
    })?;
    let records: Vec<(String, Value)> = match value {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("JSON item {i}"), v))
            .collect(),
        object @ Value::Object(_) => vec![("JSON object".to_string(), object)],
        _ => {
            return Err(ParseError::Json(
                "expected an object or an array of objects".into(),
            ))
        }
    };
    build(Format::Json, records, opts)
}

/// One record per non-blank line; line numbers in errors are 1-based.
pub(crate) fn parse_jsonl(bytes: &[u8], opts: &ParseOptions) -> Result<ParsedDocument, ParseError> {
    let source = decode(bytes)?;
    let mut records = Vec::new();
    for (i, line) in source.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line).map_err(|e| ParseError::JsonlLine {
            line: i + 1,
            message: e.to_string(),
        })?;
        records.push((format!("JSONL line {}", i + 1), value));
    }
    build(Format::Jsonl, records, opts)
}

fn build(
    format: Format,
    records: Vec<(String, Value)>,
    opts: &ParseOptions,
) -> Result<ParsedDocument, ParseError> {
    let mut title = None;
    let mut sections = Vec::with_capacity(records.len());
    for (n, (location, value)) in records.into_iter().enumerate() {
        let Value::Object(record) = value else {
            return Err(ParseError::NotAnObject {
                location,
                field: opts.json_text_field.clone(),
            });
        };
        if n == 0 {
            title = string_field(&record, &opts.json_title_field);
        }
        match record.get(&opts.json_text_field) {
            Some(Value::String(text)) => sections.push(Section::new(text.clone())),
            Some(_) => {
                return Err(ParseError::FieldNotString {
                    location,
                    field: opts.json_text_field.clone(),
                })
            }
            None => {
                return Err(ParseError::MissingField {
                    location,
                    field: opts.json_text_field.clone(),
                })
            }
        }
    }
    Ok(ParsedDocument {
        title,
        format,
        structured: false,
        sections,
    })
}

fn string_field(record: &Map<String, Value>, field: &str) -> Option<String> {
    record.get(field)?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_blank_lines_keep_numbering() {
        let err = parse_jsonl(
            b"{\"text\":\"a\"}\n\n{\"body\":\"b\"}\n",
            &ParseOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "JSONL line 3: missing field 'text'");
    }

    #[test]
    fn jsonl_named_json_gets_a_hint() {
        let err = parse_json(
            b"{\"text\":\"a\"}\n{\"text\":\"b\"}\n",
            &ParseOptions::default(),
        )
        .unwrap_err();
        assert!(err.to_string().ends_with("name the file .jsonl"), "{err}");
    }

    #[test]
    fn non_string_text_field() {
        let err = parse_json(b"[{\"text\": 5}]", &ParseOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "JSON item 0: field 'text' must be a string"
        );
    }
}
