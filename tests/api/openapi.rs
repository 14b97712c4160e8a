//! `/openapi.json` is served, and describes exactly the routes the server registers: every
//! `.route("path", web::method())` in the handlers' source has its operation, and nothing else.

use std::collections::BTreeSet;

use serde_json::Value;

/// (method, path) of every API route registered in `src/api/*.rs` and `src/metrics.rs`; the
/// console's file routes (`src/api/console.rs`: `/`, `/assets/*`) are pages, not API.
fn registered_routes() -> BTreeSet<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("src/api"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("console.rs"))
        .collect();
    files.push(root.join("src/metrics.rs"));
    let mut out = BTreeSet::new();
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        // `route(` then the path literal, then `web::<method>()`, possibly across lines.
        for (at, _) in src.match_indices("route(") {
            let rest = src[at + "route(".len()..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let path = &rest[..rest.find('"').unwrap()];
            let after = rest[path.len() + 1..].trim_start().trim_start_matches(',');
            let after = after.trim_start();
            let method = after
                .strip_prefix("web::")
                .and_then(|m| m.split('(').next())
                .unwrap_or_else(|| panic!("unparsed route {path} in {}", f.display()));
            out.insert((method.to_owned(), path.to_owned()));
        }
    }
    out
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
