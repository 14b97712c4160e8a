//! JSON and JSONL records: one section per record, from a configurable text field.
//! A record without the field is an error naming it, so a wrong field name is caught at once.
//!
//! Records are read with serde visitors that keep only the text and title fields and skip
//! everything else unbuilt: a 50 MB array of numbers costs no memory beyond its input.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::text::decode;
use super::{Format, Limit, ParseError, ParseLimits, ParseOptions, ParsedDocument, Section};

/// A single object is one section; an array of objects is one section per object.
pub(crate) fn parse_json(
    bytes: &[u8],
    opts: &ParseOptions,
    limits: &ParseLimits,
) -> Result<ParsedDocument, ParseError> {
    let source = decode(bytes)?;
    let collector = Collector::new(Format::Json, opts, limits);
    let mut de = serde_json::Deserializer::from_str(&source);
    let parsed = Top(&collector).deserialize(&mut de).and_then(|()| de.end());
    if let Err(e) = parsed {
        // A record error found by a visitor wins over the serde error that carried it out.
        if let Some(error) = collector.error.take() {
            return Err(error);
        }
        // The usual cause: a JSON Lines file named `.json`.
        let hint = if e.to_string().starts_with("trailing characters") {
            "; for one JSON record per line, name the file .jsonl"
        } else {
            ""
        };
        return Err(ParseError::Json(format!("{e}{hint}")));
    }
    Ok(collector.finish())
}

/// One record per non-blank line; line numbers in errors are 1-based.
pub(crate) fn parse_jsonl(
    bytes: &[u8],
    opts: &ParseOptions,
    limits: &ParseLimits,
) -> Result<ParsedDocument, ParseError> {
    let source = decode(bytes)?;
    let collector = Collector::new(Format::Jsonl, opts, limits);
    for (i, line) in source.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let location = format!("JSONL line {}", i + 1);
        let mut de = serde_json::Deserializer::from_str(line);
        let parsed = Record {
            collector: &collector,
            location: &location,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        if let Err(e) = parsed {
            return Err(collector.error.take().unwrap_or(ParseError::JsonlLine {
                line: i + 1,
                message: e.to_string(),
            }));
        }
    }
    Ok(collector.finish())
}

/// The sections gathered so far, and the first record error (a visitor can only return a
/// serde error, so the typed one waits here).
struct Collector<'o> {
    format: Format,
    opts: &'o ParseOptions,
    limits: &'o ParseLimits,
    title: RefCell<Option<String>>,
    sections: RefCell<Vec<Section>>,
    text_bytes: RefCell<usize>,
    error: RefCell<Option<ParseError>>,
}

impl<'o> Collector<'o> {
    fn new(format: Format, opts: &'o ParseOptions, limits: &'o ParseLimits) -> Self {
        Self {
            format,
            opts,
            limits,
            title: RefCell::default(),
            sections: RefCell::default(),
            text_bytes: RefCell::default(),
            error: RefCell::default(),
        }
    }

    fn fail<E: de::Error>(&self, error: ParseError) -> E {
        let message = error.to_string();
        self.error.borrow_mut().get_or_insert(error);
        E::custom(message)
    }

    fn add<E: de::Error>(&self, fields: Fields, location: &str) -> Result<(), E> {
        let limits = self.limits;
        let records = self.sections.borrow().len();
        if records == 0 {
            *self.title.borrow_mut() = fields.title;
        }
        if records >= limits.max_elements {
            let what = format!("{} records", self.format.label());
            return Err(self.fail(ParseError::limit(what, Limit::MaxElements, limits)));
        }
        let field = || self.opts.json_text_field.clone();
        let location = location.to_string();
        let text = match fields.text {
            Some(Field::Text(text)) => text,
            Some(Field::Other) => {
                return Err(self.fail(ParseError::FieldNotString {
                    location,
                    field: field(),
                }))
            }
            None => {
                return Err(self.fail(ParseError::MissingField {
                    location,
                    field: field(),
                }))
            }
        };
        *self.text_bytes.borrow_mut() += text.len();
        if *self.text_bytes.borrow() > limits.max_text_bytes {
            return Err(self.fail(super::text_limit(self.format, limits)));
        }
        self.sections.borrow_mut().push(Section::new(text));
        Ok(())
    }

    fn not_an_object<E: de::Error>(&self, location: String) -> E {
        self.fail(ParseError::NotAnObject {
            location,
            field: self.opts.json_text_field.clone(),
        })
    }

    fn finish(self) -> ParsedDocument {
        ParsedDocument {
            title: self.title.into_inner(),
            format: self.format,
            structured: false,
            sections: self.sections.into_inner(),
        }
    }
}

/// The top of a `.json` file: one record, or an array of records.
struct Top<'c, 'o>(&'c Collector<'o>);

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or an array of objects")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let fields = read_fields(map, self.0.opts)?;
        self.0.add(fields, "JSON object")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let location = format!("JSON item {i}");
            let record = Record {
                collector: self.0,
                location: &location,
            };
            if seq.next_element_seed(record)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
}

/// One record; anything but an object is an error naming where it is.
struct Record<'c, 'o, 'l> {
    collector: &'c Collector<'o>,
    location: &'l str,
}

impl<'de> DeserializeSeed<'de> for Record<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Record<'_, '_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let fields = read_fields(map, self.collector.opts)?;
        self.collector.add(fields, self.location)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.collector.not_an_object(self.location.into()))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.collector.not_an_object(self.location.into()))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.collector.not_an_object(self.location.into()))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.collector.not_an_object(self.location.into()))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.collector.not_an_object(self.location.into()))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.collector.not_an_object(self.location.into()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.collector.not_an_object(self.location.into()))
    }
}

/// The two fields a record contributes.
#[derive(Default)]
struct Fields {
    text: Option<Field>,
    title: Option<String>,
}

/// A field's value: text, or anything else (skipped unbuilt).
enum Field {
    Text(String),
    Other,
}

impl<'de> de::Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Field, E> {
                Ok(Field::Text(s.to_string()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Field, E> {
                Ok(Field::Text(s))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
        }
        d.deserialize_any(FieldVisitor)
    }
}

/// Reads one object's entries, keeping the text and title fields (the last of duplicates,
/// as `serde_json::Value` would).
fn read_fields<'de, A: MapAccess<'de>>(
    mut map: A,
    opts: &ParseOptions,
) -> Result<Fields, A::Error> {
    let mut fields = Fields::default();
    while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
        if key == opts.json_text_field {
            let value: Field = map.next_value()?;
            if key == opts.json_title_field {
                if let Field::Text(t) = &value {
                    fields.title = Some(t.clone());
                }
            }
            fields.text = Some(value);
        } else if key == opts.json_title_field {
            fields.title = match map.next_value()? {
                Field::Text(t) => Some(t),
                Field::Other => None,
            };
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_blank_lines_keep_numbering() {
        let err = parse_jsonl(
            b"{\"text\":\"a\"}\n\n{\"body\":\"b\"}\n",
            &ParseOptions::default(),
            &ParseLimits::default(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "JSONL line 3: missing field 'text'");
    }

    #[test]
    fn jsonl_named_json_gets_a_hint() {
        let err = parse_json(
            b"{\"text\":\"a\"}\n{\"text\":\"b\"}\n",
            &ParseOptions::default(),
            &ParseLimits::default(),
        )
        .unwrap_err();
        assert!(err.to_string().ends_with("name the file .jsonl"), "{err}");
    }

    #[test]
    fn non_string_text_field() {
        let err = parse_json(
            b"[{\"text\": 5}]",
            &ParseOptions::default(),
            &ParseLimits::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "JSON item 0: field 'text' must be a string"
        );
    }
}
