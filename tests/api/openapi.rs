//! `/openapi.json` is served, and describes exactly the routes the server registers: every
//! route of the route table (`ragway::api::routes::table()`) has its operation, and nothing
//! else.

use std::collections::BTreeSet;

use serde_json::Value;

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
                    .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), app.url(p))
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
