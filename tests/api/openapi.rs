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
