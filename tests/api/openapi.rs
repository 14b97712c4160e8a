//! `/openapi.json` is served, and describes exactly the routes the server registers: every
//! route of the route table (`ragway::api::routes::table()`) has its operation, and nothing
//! else.

use std::collections::BTreeSet;

use serde_json::Value;

/// The JSON Schema keywords that bound a parameter; API.md must state each one a schema has.
const BOUNDS: [&str; 6] = [
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
];
/// (method, path) of every API route in the route table; the console's file routes (`/`,
/// `/assets/*`) are pages, not API.
fn registered_routes() -> BTreeSet<(String, String)> {
    ragway::api::routes::table()
        .into_iter()
        .filter(|r| r.path != "/" && !r.path.starts_with("/assets/"))
        .map(|r| (r.method.as_str().to_lowercase(), r.path.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_served_and_matches_the_routes() {
    let app = crate::helpers::spawn_app().await;
    let res = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let spec: Value = res.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let registered = registered_routes();
    assert!(registered.len() > 30, "the route scan found {registered:?}");
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from docs/openapi.json: {undocumented:?}"
    );
    assert!(
        phantom.is_empty(),
        "docs/openapi.json describes routes that do not exist: {phantom:?}"
    );
    // Every $ref resolves.
    let text = spec.to_string();
    for (at, _) in text.match_indices("#/components/schemas/") {
        let name: String = text[at + 21..].chars().take_while(|c| *c != '"').collect();
        assert!(
            spec["components"]["schemas"][&name].is_object(),
            "dangling $ref {name}"
        );
    }
}

/// Every path of the table, asked with a method it does not have, answers 405 with `Allow`
/// naming exactly the methods it has (under the `/api` mirror too); an unknown path stays 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_methods_answer_405_with_allow() {
    use std::collections::BTreeMap;
    let app = crate::helpers::spawn_app().await;
    let mut by_path: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in ragway::api::routes::table() {
        by_path
            .entry(r.path)
            .or_default()
            .insert(r.method.as_str().to_owned());
    }
    let all = ["GET", "POST", "PUT", "PATCH", "DELETE", "TRACE", "OPTIONS"];
    let mut checked = 0;
    for (pattern, methods) in &by_path {
        // `{kb_id}` → `x`, `{file:.*}` → `x`.
        let mut path = String::new();
        let mut in_param = false;
        for c in pattern.chars() {
            match c {
                '{' => in_param = true,
                '}' => {
                    in_param = false;
                    path.push('x');
                }
                c if !in_param => path.push(c),
                _ => {}
            }
        }
        let allow: Vec<&str> = methods.iter().map(String::as_str).collect();
        let mirrored = !(path == "/" || path.starts_with("/assets/"));
        let paths = if mirrored {
            vec![path.clone(), format!("/api{path}")]
        } else {
            vec![path.clone()]
        };
        for method in all.iter().filter(|m| !methods.contains(**m)) {
            for p in &paths {
                let res = app
                    .client
                    .request(
                        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                        app.url(p),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status().as_u16(), 405, "{method} {p}");
                let header = res.headers()["allow"].to_str().unwrap().to_owned();
                assert_eq!(header, allow.join(", "), "{method} {p}");
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked}");
    let res = app
        .client
        .request(reqwest::Method::TRACE, app.url("/v1/nothing/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
}

/// Every parameter `/openapi.json` describes (query parameters, JSON body fields, and the
/// fields of nested objects as `parent.field`), with its schema.
fn documented_parameters(spec: &Value) -> Vec<(String, Value)> {
    let schemas = &spec["components"]["schemas"];
    let resolve = |s: &Value| -> Value {
        let mut s = s.clone();
        while let Some(r) = s["$ref"].as_str() {
            s = schemas[r.trim_start_matches("#/components/schemas/")].clone();
        }
        s
    };
    let mut out = Vec::new();
    for ops in spec["paths"].as_object().unwrap().values() {
        for op in ops.as_object().unwrap().values() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                if p["in"] == "query" {
                    out.push((p["name"].as_str().unwrap().to_owned(), p["schema"].clone()));
                }
            }
            let body = resolve(&op["requestBody"]["content"]["application/json"]["schema"]);
            for (name, prop) in body["properties"].as_object().into_iter().flatten() {
                let prop = resolve(prop);
                for (inner, p) in prop["properties"].as_object().into_iter().flatten() {
                    out.push((format!("{name}.{inner}"), resolve(p)));
                }
                out.push((name.clone(), prop));
            }
        }
    }
    out
}

/// The numbers in a line of text (`-2 … 2` → -2, 2).
fn numbers_in(line: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let mut current = String::new();
    for c in line.chars().chain([' ']) {
        let starts = c == '-' && current.is_empty();
        if c.is_ascii_digit() || starts || (c == '.' && !current.is_empty()) {
            current.push(c);
        } else {
            if let Ok(x) = current.trim_end_matches('.').parse::<f64>() {
                out.push(x);
            }
            current.clear();
        }
    }
    out
}

/// docs/API.md and /openapi.json agree on every parameter: each one the document describes
/// has a row in API.md's tables (under its own name, or `parent.name`) that states its
/// bounds and enum values; each field API.md's section 7 lists is in the document.
#[test]
fn api_md_and_openapi_agree_on_every_parameter() {
    let root = env!("CARGO_MANIFEST_DIR");
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/docs/openapi.json")).unwrap(),
    )
    .unwrap();
    let md = std::fs::read_to_string(format!("{root}/docs/API.md")).unwrap();
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    let params = documented_parameters(&spec);
    assert!(params.len() > 60, "{}", params.len());
    let mut wrong = Vec::new();
    for (name, schema) in &params {
        let short = name.rsplit('.').next().unwrap();
        let candidates: Vec<&&str> = rows
            .iter()
            .filter(|r| r.contains(&format!("`{name}`")) || r.contains(&format!("`{short}`")))
            .collect();
        let mut needs: Vec<String> = Vec::new();
        for key in BOUNDS {
            if let Some(x) = schema[key].as_f64() {
                needs.push(format!("{key} {x}"));
            }
        }
        let enums: Vec<&str> = schema["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let states_all = |row: &&&str| {
            let numbers = numbers_in(row);
            let bounds_ok = BOUNDS
                .iter()
                .filter_map(|k| schema[*k].as_f64())
                .all(|x| numbers.contains(&x));
            bounds_ok && enums.iter().all(|e| row.contains(&format!("`{e}`")))
        };
        if !candidates.iter().any(states_all) {
            wrong.push(format!(
                "{name} (needs {needs:?}, enum {enums:?}): no row of docs/API.md states it"
            ));
        }
    }
    let known: BTreeSet<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    let section = md
        .split("## 7.")
        .nth(1)
        .expect("docs/API.md has a section 7");
    for row in section.lines().filter(|l| l.starts_with("| ")) {
        let Some(fields) = row.split('|').nth(2) else {
            continue;
        };
        for name in fields.split('`').skip(1).step_by(2) {
            if !known.contains(name) {
                wrong.push(format!(
                    "docs/API.md names `{name}`, which /openapi.json does not"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Schemathesis, every check and phase, 10 examples per operation, against the real binary
/// (`scripts/schemathesis`, which `scripts/test` sets up): no server error, no schema-valid
/// request refused, no answer that contradicts the document. Not installed is a failure.
#[test]
fn schemathesis_finds_nothing() {
    let root = env!("CARGO_MANIFEST_DIR");
    let script = format!("{root}/scripts/schemathesis");
    let venv = format!("{root}/tests/schemathesis/.venv/bin/schemathesis");
    assert!(
        std::path::Path::new(&venv).exists(),
        "Schemathesis is not installed: run `scripts/schemathesis setup` (scripts/test does)"
    );
    let started = std::time::Instant::now();
    let out = std::process::Command::new(script)
        .args([
            "run",
            "--examples",
            "10",
            "--binary",
            env!("CARGO_BIN_EXE_ragway"),
        ])
        .arg("--data")
        .arg(crate::helpers::models_data_dir())
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "Schemathesis failed:\n{text}");
    // The run did test: every operation, in every phase.
    assert!(text.contains("Selected: 44/44"), "{text}");
    assert!(text.contains("No issues found"), "{text}");
    eprintln!("schemathesis: {:?}", started.elapsed());
}
