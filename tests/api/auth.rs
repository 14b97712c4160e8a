//! Tokens and tenancy: 401 without a valid token, 403 outside the token's reach, the seed's
//! header omission rules, hashing at rest, revocation — on SQLite and PostgreSQL.

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{spawn_app_on, Backend, ADMIN_TOKEN};

async fn token_lifecycle(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let pat = app.user_with_project("alice", "proj-a").await;

    // No token, a malformed header, an unknown token: 401 in OpenAI's error shape.
    let (s, b) = app.call(Method::GET, "/v1/projects", None, &[], None).await;
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["error"]["type"], "authentication_error");
    let (s, _) = app
        .call(
            Method::GET,
            "/v1/projects",
            None,
            &[("Authorization", "Basic abc")],
            None,
        )
        .await;
    assert_eq!(s, 401);
    let (s, _) = app
        .call(Method::GET, "/v1/projects", Some("rgw_pat_nope"), &[], None)
        .await;
    assert_eq!(s, 401);

    // The PAT works and sees only its user's projects.
    let (s, b) = app
        .call(Method::GET, "/v1/projects", Some(&pat), &[], None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"].as_array().unwrap().len(), 1);
    assert_eq!(b["data"][0]["id"], "proj-a");

    // Only the hash is stored: the secret appears nowhere in the database.
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT token_hash, prefix FROM api_tokens")
        .fetch_all(&app.sql)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, ragway::auth::token::hash(&pat));
    assert!(!rows[0].0.contains(&pat[8..]) && pat.starts_with(&rows[0].1));

    // Listing tokens never shows secrets.
    let (s, b) = app
        .call(Method::GET, "/v1/users/alice/tokens", Some(&pat), &[], None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(!b.to_string().contains(&pat));
    let token_id = b["data"][0]["id"].as_str().unwrap().to_owned();

    // Revocation takes effect at once.
    let (s, b) = app
        .call(
            Method::DELETE,
            &format!("/v1/tokens/{token_id}"),
            Some(&pat),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = app
        .call(Method::GET, "/v1/projects", Some(&pat), &[], None)
        .await;
    assert_eq!(s, 401);
}
both_backends!(token_lifecycle_on, token_lifecycle);

async fn project_scope(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let alice = app.user_with_project("alice", "proj-a").await;
    let bob = app.user_with_project("bob", "proj-b").await;

    // Alice's PAT may not name Bob's project: 403. Nor act as Bob.
    let (s, b) = app
        .call(
            Method::GET,
            "/v1/whoami",
            Some(&alice),
            &[("X-PROJECT-ID", "proj-b")],
            None,
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(b["error"]["type"], "permission_error");
    let (s, _) = app
        .call(
            Method::GET,
            "/v1/whoami",
            Some(&alice),
            &[("X-USER-ID", "bob")],
            None,
        )
        .await;
    assert_eq!(s, 403);

    // With one project, X-PROJECT-ID may be omitted.
    let (s, b) = app
        .call(Method::GET, "/v1/whoami", Some(&alice), &[], None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["project_id"], "proj-a");
    assert_eq!(b["user_id"], "alice");

    // A second project does not move the default: omitting the header still means the
    // user's first project (it used to be 400 as soon as they had two).
    let (s, b) = app
        .admin_post("/v1/projects", json!({"id": "proj-a2", "owner": "alice"}))
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = app
        .call(Method::GET, "/v1/whoami", Some(&alice), &[], None)
        .await;
    assert_eq!((s, b["project_id"].as_str()), (200, Some("proj-a")), "{b}");
    // A user with no project has no default: 400 naming the header.
    let (s, b) = app.admin_post("/v1/users", json!({"id": "nobody"})).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = app.admin_post("/v1/users/nobody/tokens", json!({})).await;
    assert_eq!(s, 201, "{b}");
    let nobody = b["secret"].as_str().unwrap().to_owned();
    let (s, b) = app
        .call(Method::GET, "/v1/whoami", Some(&nobody), &[], None)
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["param"], "X-PROJECT-ID");
    let (s, b) = app
        .call(
            Method::GET,
            "/v1/whoami",
            Some(&alice),
            &[("X-PROJECT-ID", "proj-a2")],
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["project_id"], "proj-a2");

    // A project-scoped PAT stays in its project even though its user has two.
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/users/alice/tokens",
            Some(&alice),
            &[],
            Some(json!({"project_id": "proj-a"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let scoped = b["secret"].as_str().unwrap().to_owned();
    let (s, b) = app
        .call(Method::GET, "/v1/whoami", Some(&scoped), &[], None)
        .await;
    assert_eq!((s, b["project_id"].as_str()), (200, Some("proj-a")));
    let (s, _) = app
        .call(
            Method::GET,
            "/v1/whoami",
            Some(&scoped),
            &[("X-PROJECT-ID", "proj-a2")],
            None,
        )
        .await;
    assert_eq!(s, 403);

    // Service keys: bound to their project, X-USER-ID required.
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/projects/proj-b/keys",
            Some(&bob),
            &[],
            Some(json!({"name": "app"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let key = b["secret"].as_str().unwrap().to_owned();
    assert!(key.starts_with("rgw_sk_"));
    let (s, b) = app
        .call(Method::GET, "/v1/whoami", Some(&key), &[], None)
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["param"], "X-USER-ID");
    let (s, b) = app
        .call(
            Method::GET,
            "/v1/whoami",
            Some(&key),
            &[("X-USER-ID", "end-user-7")],
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["project_id"].as_str(), b["user_id"].as_str()),
        (Some("proj-b"), Some("end-user-7"))
    );
    let (s, _) = app
        .call(
            Method::GET,
            "/v1/whoami",
            Some(&key),
            &[("X-USER-ID", "u"), ("X-PROJECT-ID", "proj-a")],
            None,
        )
        .await;
    assert_eq!(s, 403);

    // Alice may not mint keys for Bob's project, nor revoke them.
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/projects/proj-b/keys",
            Some(&alice),
            &[],
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 403);

    // The admin token acts in any project it names, and must name one.
    let (s, b) = app
        .call(
            Method::GET,
            "/v1/whoami",
            Some(ADMIN_TOKEN),
            &[("X-PROJECT-ID", "proj-b")],
            None,
        )
        .await;
    assert_eq!((s, b["project_id"].as_str()), (200, Some("proj-b")), "{b}");
    let (s, _) = app
        .call(Method::GET, "/v1/whoami", Some(ADMIN_TOKEN), &[], None)
        .await;
    assert_eq!(s, 400);
    let (s, _) = app
        .call(
            Method::GET,
            "/v1/whoami",
            Some(ADMIN_TOKEN),
            &[("X-PROJECT-ID", "nope")],
            None,
        )
        .await;
    assert_eq!(s, 404);

    // Non-admins may not create users; duplicates conflict.
    let (s, _) = app
        .call(
            Method::POST,
            "/v1/users",
            Some(&alice),
            &[],
            Some(json!({"id": "mallory"})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, b) = app.admin_post("/v1/users", json!({"id": "alice"})).await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = app.admin_post("/v1/users", json!({"id": "bad id!"})).await;
    assert_eq!((s, b["error"]["param"].as_str()), (400, Some("id")), "{b}");
}
both_backends!(project_scope_on, project_scope);

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = crate::helpers::spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let id = res
        .headers()
        .get("x-request-id")
        .expect("x-request-id header");
    assert!(!id.to_str().unwrap().is_empty());
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");

    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["checks"]["embedder"]["dim"], 384, "{body}");
    let backend = match crate::helpers::qdrant_url() {
        Some(_) => "qdrant",
        None => "qdrant-edge",
    };
    assert_eq!(body["checks"]["vector_store"]["backend"], backend);

    let (s, b) = app
        .call(Method::GET, "/v1/nothing-here", None, &[], None)
        .await;
    assert_eq!(s, 404);
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v1/nothing-here"));
}

/// Issue 10's repro: a PAT scoped to project A, whose user also owns project B, may not mint
/// (or list) service keys of B. It was 201, and the key then read and wrote B.
async fn scoped_pat_stays_in_its_project(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let owner = app.user_with_project("olga", "proj-a").await;
    let (s, b) = app
        .admin_post("/v1/projects", json!({"id": "proj-b", "owner": "olga"}))
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/users/olga/tokens",
            Some(&owner),
            &[],
            Some(json!({"project_id": "proj-a"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let scoped = b["secret"].as_str().unwrap().to_owned();
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/projects/proj-b/keys",
            Some(&scoped),
            &[],
            Some(json!({"name": "escape"})),
        )
        .await;
    assert_eq!(
        s, 403,
        "a PAT scoped to proj-a minted a key for proj-b: {b}"
    );
    assert_eq!(b["error"]["type"], "permission_error");
    let (s, b) = app
        .call(
            Method::GET,
            "/v1/projects/proj-b/keys",
            Some(&scoped),
            &[],
            None,
        )
        .await;
    assert_eq!(s, 403, "{b}");
    // In its own project it still may.
    let (s, b) = app
        .call(
            Method::POST,
            "/v1/projects/proj-a/keys",
            Some(&scoped),
            &[],
            Some(json!({"name": "inside"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}
both_backends!(
    scoped_pat_stays_in_its_project_on,
    scoped_pat_stays_in_its_project
);
