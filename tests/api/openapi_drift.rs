//! docs/openapi.json is kept by hand; this keeps its constraints in step with the server.
//! Probes are derived from the document itself — for every JSON request body and the query
//! parameters it constrains: each bound of each range (in and just out), each enum value and
//! one that is not, each length bound, each known pattern, `null` where the type allows it or
//! not, a wrong type, an unknown field, each required field left out — and sent to the real
//! server. The server must accept (any status but 400/422) exactly what the document says is
//! valid, and refuse (400 or 422) what it says is not. A constraint added, dropped or changed
//! on either side fails here. Rules across fields, which JSON Schema cannot state (the
//! document's descriptions say them), are kept out of the probes by the base bodies.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::chat::chat_app;
use crate::helpers::{TestApp, ADMIN_TOKEN};

/// The patterns the probes know examples for, by the schema that carries them.
const ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]*$";
const NON_BLANK: &str = "\\S";

/// Every operation with a JSON body, the path it is probed on and a valid body to vary.
fn bodies() -> Vec<(&'static str, &'static str, &'static str, Value)> {
    vec![
        (
            "post",
            "/v1/chat/completions",
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ),
        ("post", "/v1/users", "/v1/users", json!({"id": "probe"})),
        ("patch", "/v1/users/{user_id}", "/v1/users/u", json!({})),
        (
            "post",
            "/v1/users/{user_id}/tokens",
            "/v1/users/u/tokens",
            json!({}),
        ),
        (
            "post",
            "/v1/projects",
            "/v1/projects",
            json!({"id": "probe"}),
        ),
        (
            "post",
            "/v1/projects/{project_id}/keys",
            "/v1/projects/p/keys",
            json!({}),
        ),
        (
            "put",
            "/v1/projects/{project_id}/members/{user_id}",
            "/v1/projects/p/members/u",
            json!({"role": "owner"}),
        ),
        (
            "post",
            "/v1/knowledge_bases",
            "/v1/knowledge_bases",
            json!({}),
        ),
        (
            "patch",
            "/v1/knowledge_bases/{kb_id}",
            "/v1/knowledge_bases/kb",
            json!({}),
        ),
        (
            "post",
            "/v1/knowledge_bases/{kb_id}/reindex",
            "/v1/knowledge_bases/kb/reindex",
            json!({}),
        ),
        (
            "post",
            "/v1/knowledge_bases/{kb_id}/search",
            "/v1/knowledge_bases/kb/search",
            json!({"query": "q"}),
        ),
        (
            "post",
            "/v1/knowledge_bases/{kb_id}/documents",
            "/v1/knowledge_bases/kb/documents",
            json!({"text": "hello"}),
        ),
        (
            "put",
            "/v1/knowledge_bases/{kb_id}/documents/{doc}",
            "/v1/knowledge_bases/kb/documents/probe",
            json!({"text": "hello"}),
        ),
    ]
}

/// A valid value of each nested object probed field by field, and a valid item of each list
/// whose length is probed.
fn nested_base(name: &str) -> Option<Value> {
    Some(match name {
        // Both ways of naming a knowledge base, so that leaving either out stays valid.
        "rag_params" => json!({"table_id": "kb", "knowledge_base_ids": ["kb"]}),
        "chunking" => json!({"max_tokens": 254, "overlap_tokens": 0}),
        _ => return None,
    })
}

fn sample_item(name: &str) -> Option<Value> {
    Some(match name {
        "messages" => json!({"role": "user", "content": "hi"}),
        "knowledge_base_ids" => json!("kb"),
        "tools" => json!({"type": "function", "function": {"name": "f"}}),
        _ => return None,
    })
}

/// One probe: where it was made, the body, and whether the document says it is valid.
#[derive(Debug)]
struct Probe {
    what: String,
    body: Value,
    valid: bool,
}

struct Doc(Value);

impl Doc {
    fn load() -> Doc {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"))
                .unwrap();
        Doc(serde_json::from_str(&text).unwrap())
    }

    /// `schema` with a top-level `$ref` followed.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(r) => {
                let name = r.trim_start_matches("#/components/schemas/");
                self.resolve(&self.0["components"]["schemas"][name])
            }
            None => schema,
        }
    }

    fn operation(&self, method: &str, path: &str) -> &Value {
        &self.0["paths"][path][method]
    }
}

/// The schema's types (`"type": "x"` or `["x", "null"]`).
fn types(schema: &Value) -> Vec<&str> {
    match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    }
}

fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut b = base.clone();
    b[key] = value;
    b
}

/// The probes of an object schema, as variants of `base` (`at` prefixes their names).
fn object_probes(doc: &Doc, schema: &Value, base: &Value, at: &str) -> Vec<Probe> {
    let mut out = Vec::new();
    let mut push = |what: String, body: Value, valid: bool| {
        out.push(Probe {
            what: format!("{at}{what}"),
            body,
            valid,
        })
    };
    let open = schema["additionalProperties"] != json!(false);
    push(
        "an unknown field".into(),
        with(base, "zz_unknown", json!(1)),
        open,
    );
    for r in schema["required"].as_array().into_iter().flatten() {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(r.as_str().unwrap());
        push(format!("{r} left out"), b, false);
    }
    let props: Map<String, Value> = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for (name, prop) in &props {
        let prop = doc.resolve(prop);
        for (what, value, valid) in field_probes(name, prop) {
            push(format!("{name}: {what}"), with(base, name, value), valid);
        }
        if let Some(nested) = nested_base(name) {
            for p in object_probes(doc, prop, &nested, &format!("{name}.")) {
                push(p.what, with(base, name, p.body), p.valid);
            }
        }
    }
    out
}

/// The probes of one field's value: (what, value, valid).
fn field_probes(name: &str, prop: &Value) -> Vec<(String, Value, bool)> {
    let mut out = Vec::new();
    let ts = types(prop);
    let Some(main) = ts.iter().copied().find(|t| *t != "null") else {
        return out; // untyped (`anyOf`, anything): its alternatives are described, not probed
    };
    out.push(("null".into(), Value::Null, ts.contains(&"null")));
    let wrong = match main {
        "string" => json!(7),
        "array" | "object" => json!("x"),
        _ => json!("7"),
    };
    out.push((format!("a wrong type ({wrong})"), wrong, false));
    let (step, number): (f64, fn(f64) -> Value) = if main == "integer" {
        (1.0, |x| json!(x as i64))
    } else {
        (0.0005, |x| json!(x))
    };
    if let Some(min) = prop["minimum"].as_f64() {
        out.push((format!("minimum {min}"), number(min), true));
        out.push((format!("below minimum {min}"), number(min - step), false));
    }
    if let Some(max) = prop["maximum"].as_f64() {
        out.push((format!("maximum {max}"), number(max), true));
        out.push((format!("above maximum {max}"), number(max + step), false));
    }
    for v in prop["enum"].as_array().into_iter().flatten() {
        out.push((format!("enum value {v}"), v.clone(), true));
    }
    if prop["enum"].is_array() {
        out.push((
            "a value not in the enum".into(),
            json!("zz-not-listed"),
            false,
        ));
    }
    out.extend(string_probes(name, prop));
    if let Some(item) = sample_item(name) {
        let list = |n: u64| Value::Array(vec![item.clone(); n as usize]);
        if let Some(min) = prop["minItems"].as_u64() {
            out.push((format!("{min} items"), list(min), true));
            if min > 0 {
                out.push((format!("{} items", min - 1), list(min - 1), false));
            }
        }
        if let Some(max) = prop["maxItems"].as_u64() {
            out.push((format!("{max} items"), list(max), true));
            out.push((format!("{} items", max + 1), list(max + 1), false));
        }
    }
    out
}

/// Length bounds and the patterns the document uses; a pattern the probes do not know fails
/// the test, so that a new one gets probes too.
fn string_probes(name: &str, prop: &Value) -> Vec<(String, Value, bool)> {
    let mut out = Vec::new();
    let pattern = prop["pattern"].as_str();
    // A prompt template must hold `{{context}}` (its other rule, under `allOf`).
    let head = if name == "prompt_template" {
        "{{context}}"
    } else {
        ""
    };
    let text = |n: u64| {
        json!(format!(
            "{head}{}",
            "a".repeat((n as usize).saturating_sub(head.len()))
        ))
    };
    if let Some(min) = prop["minLength"].as_u64() {
        out.push((format!("{min} chars"), text(min), true));
        if min > 0 {
            out.push((format!("{} chars", min - 1), text(min - 1), false));
        }
    }
    if let Some(max) = prop["maxLength"].as_u64() {
        out.push((format!("{max} chars"), text(max), true));
        out.push((format!("{} chars", max + 1), text(max + 1), false));
    }
    let examples: &[(&str, bool)] = match pattern {
        None => &[],
        Some(ID_PATTERN) => &[("A0_.-z", true), ("-a", false), ("a b", false), ("é", false)],
        Some(NON_BLANK) => &[(" x ", true), (" \t ", false), ("", false)],
        Some(FUSION_PATTERN) => &[
            ("dbsf", true),
            ("rrf", true),
            ("rrf()", true),
            ("rrf(k=60)", true),
            ("rrf(k=1000,dense_weight=0.25)", true),
            ("rrf(dense_weight=1,k=1)", true),
            ("rrf(k=0)", false),
            ("rrf(k=1001)", false),
            ("rrf(dense_weight=1.5)", false),
            ("rrf(x=1)", false),
            ("fuse", false),
        ],
        Some(p) => panic!("docs/openapi.json uses the pattern {p}, which the drift test has no examples for: add some"),
    };
    for (example, valid) in examples {
        out.push((format!("{example:?}"), json!(example), *valid));
    }
    out
}

const FUSION_PATTERN: &str = "^(dbsf|rrf|rrf\\((k=([1-9][0-9]{0,2}|1000)(,dense_weight=(0(\\.[0-9]{1,6})?|1(\\.0{1,6})?))?|dense_weight=(0(\\.[0-9]{1,6})?|1(\\.0{1,6})?)(,k=([1-9][0-9]{0,2}|1000))?)?\\))$";

/// The query parameters with constraints, on the operations that read them.
fn query_probes(doc: &Doc) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (path, probed) in [
        ("/v1/jobs", "/v1/jobs"),
        (
            "/v1/knowledge_bases/{kb_id}/documents",
            "/v1/knowledge_bases/kb/documents",
        ),
    ] {
        let params = doc.operation("get", path)["parameters"].as_array().unwrap();
        for p in params.iter().filter(|p| p["in"] == "query") {
            let name = p["name"].as_str().unwrap();
            let mut probes = field_probes(name, &p["schema"]);
            // A query string has no null and no JSON types: a wrong type is text that does
            // not parse as the type.
            probes.retain(|(what, value, _)| !value.is_null() && !what.starts_with("a wrong type"));
            match p["schema"]["type"].as_str() {
                Some("integer") => probes.push(("not an integer".into(), json!("x"), false)),
                Some("boolean") => probes.push(("not a boolean".into(), json!("maybe"), false)),
                _ => {}
            }
            for (what, value, valid) in probes {
                let text = match value {
                    Value::String(s) => s,
                    v => v.to_string(),
                };
                let query = format!("{probed}?{name}={}", urlencode(&text));
                out.push((format!("GET {path} {name}: {what}"), query, valid));
            }
            // An empty value is a value: it must meet the schema like any other.
            let empty_ok = p["schema"]["type"] == "string" && !p["schema"]["enum"].is_array();
            out.push((
                format!("GET {path} {name}: empty"),
                format!("{probed}?{name}="),
                empty_ok,
            ));
        }
    }
    out
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn send(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let headers = [("X-PROJECT-ID", "p")];
    app.call(method, path, Some(ADMIN_TOKEN), &headers, body)
        .await
}

/// A verdict: accepted (any status but 400 and 422) or refused; a 5xx is a failure either way.
fn judge(what: &str, valid: bool, status: u16, body: &Value, wrong: &mut Vec<String>) {
    let refused = status == 400 || status == 422;
    if status >= 500 || refused == valid {
        let said = if valid { "valid" } else { "invalid" };
        wrong.push(format!(
            "{what}: the document says {said}, the server answered {status} {body}"
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_declares_what_the_server_enforces() {
    let doc = Doc::load();
    // User `u`, the owner of project `p`, which has knowledge base `kb`; chat goes to a
    // stand-in backend (a real HTTP server).
    let (app, _backend, _pat) = chat_app().await;

    // Every JSON body the document describes is probed.
    let probed: BTreeSet<(String, String)> = bodies()
        .iter()
        .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
        .collect();
    let described: BTreeSet<(String, String)> = doc.0["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .iter()
                .filter(|(_, op)| op["requestBody"]["content"]["application/json"].is_object())
                .map(move |(m, _)| (m.clone(), path.clone()))
        })
        .collect();
    assert_eq!(probed, described, "each JSON body needs a base body here");

    let (mut count, mut wrong) = (0, Vec::new());
    for (method, path, at, base) in bodies() {
        let op = doc.operation(method, path);
        let schema = doc.resolve(&op["requestBody"]["content"]["application/json"]["schema"]);
        let (s, b) = send(&app, method, at, Some(base.clone())).await;
        judge(
            &format!("{method} {path} base body"),
            true,
            s,
            &b,
            &mut wrong,
        );
        for p in object_probes(&doc, schema, &base, "") {
            // PUT names the document in its path; a body's external_id must be the same
            // (a rule across path and body): the field is probed on POST.
            if method == "put" && p.what.starts_with("external_id") {
                continue;
            }
            let (s, b) = send(&app, method, at, Some(p.body.clone())).await;
            judge(
                &format!("{method} {path} {}", p.what),
                p.valid,
                s,
                &b,
                &mut wrong,
            );
            count += 1;
        }
    }
    for (what, query, valid) in query_probes(&doc) {
        let (s, b) = send(&app, "get", &query, None).await;
        judge(&what, valid, s, &b, &mut wrong);
        count += 1;
    }
    eprintln!("openapi drift: {count} probes");
    assert!(count > 300, "only {count} probes");
    assert!(
        wrong.is_empty(),
        "{} of {count} probes disagree with docs/openapi.json:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
