//! Membership with consent: an owner invites, the user accepts (the admin token adds
//! directly); only owners change membership; members may leave; the last owner stays; a
//! removed member's PATs stop reaching the project on the next request; and nobody but the
//! user moves their default project — on SQLite and PostgreSQL.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{spawn_app_on, Backend, TestApp};

async fn as_(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    app.call(method, path, Some(token), &[], body).await
}

async fn whoami(app: &TestApp, token: &str, project: Option<&str>) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = project.map(|p| ("X-PROJECT-ID", p)).into_iter().collect();
    app.call(Method::GET, "/v1/whoami", Some(token), &headers, None)
        .await
}

fn role(role: &str) -> Option<Value> {
    Some(json!({"role": role}))
}

async fn invitations_need_consent(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let olga = app.user_with_project("olga", "shop").await;
    let ivan = app.user_with_project("ivan", "home").await;

    // An owner's PUT invites; it grants nothing and moves nothing.
    let path = "/v1/projects/shop/members/ivan";
    let (s, b) = as_(&app, &olga, Method::PUT, path, role("member")).await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(
        (b["status"].as_str(), b["invited_by"].as_str()),
        (Some("invited"), Some("olga"))
    );
    let (s, b) = whoami(&app, &ivan, Some("shop")).await;
    assert_eq!(s, 403, "an invitation is not a membership: {b}");
    let (s, b) = whoami(&app, &ivan, None).await;
    assert_eq!((s, b["project_id"].as_str()), (200, Some("home")), "{b}");

    // The user sees it; others cannot accept it for them.
    let (s, b) = as_(&app, &ivan, Method::GET, "/v1/users/ivan", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["invitations"][0]["project_id"], "shop", "{b}");
    assert_eq!(b["default_project_id"], "home");
    let accept = "/v1/projects/shop/members/ivan/accept";
    let (s, b) = as_(&app, &olga, Method::POST, accept, None).await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = as_(
        &app,
        &ivan,
        Method::POST,
        "/v1/projects/home/members/ivan/accept",
        None,
    )
    .await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (404, Some("project_id")),
        "{b}"
    );

    // Accepting joins; the default project stays where the user put it.
    let (s, b) = as_(&app, &ivan, Method::POST, accept, None).await;
    assert_eq!(
        (s, b["status"].as_str(), b["role"].as_str()),
        (200, Some("member"), Some("member")),
        "{b}"
    );
    let (s, b) = whoami(&app, &ivan, Some("shop")).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = whoami(&app, &ivan, None).await;
    assert_eq!((s, b["project_id"].as_str()), (200, Some("home")), "{b}");
    let (s, _) = as_(&app, &ivan, Method::POST, accept, None).await;
    assert_eq!(s, 404, "an invitation is accepted once");

    // The admin token adds directly, and a first project becomes the default.
    let (s, b) = app.admin_post("/v1/users", json!({"id": "nina"})).await;
    assert_eq!(s, 201, "{b}");
    let admin = crate::helpers::ADMIN_TOKEN;
    let (s, b) = as_(
        &app,
        admin,
        Method::PUT,
        "/v1/projects/shop/members/nina",
        role("member"),
    )
    .await;
    assert_eq!((s, b["status"].as_str()), (200, Some("member")), "{b}");
    let (s, b) = as_(&app, admin, Method::GET, "/v1/users/nina", None).await;
    assert_eq!(
        (s, b["default_project_id"].as_str()),
        (200, Some("shop")),
        "{b}"
    );

    // Members list both members and invitations; a member (not an owner) may not invite.
    let (s, b) = app.admin_post("/v1/users", json!({"id": "pavel"})).await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = as_(
        &app,
        &ivan,
        Method::PUT,
        "/v1/projects/shop/members/pavel",
        role("member"),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = as_(
        &app,
        &olga,
        Method::PUT,
        "/v1/projects/shop/members/pavel",
        role("owner"),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let (s, b) = as_(&app, &ivan, Method::GET, "/v1/projects/shop/members", None).await;
    assert_eq!(s, 200, "{b}");
    let rows: Vec<(String, String, String)> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let f = |k: &str| m[k].as_str().unwrap().to_owned();
            (f("user_id"), f("role"), f("status"))
        })
        .collect();
    let row = |u: &str, r: &str, s: &str| (u.to_owned(), r.to_owned(), s.to_owned());
    assert_eq!(
        rows,
        vec![
            row("ivan", "member", "member"),
            row("nina", "member", "member"),
            row("olga", "owner", "member"),
            row("pavel", "owner", "invited"),
        ]
    );

    // Bad input names what was wrong.
    let (s, b) = as_(
        &app,
        &olga,
        Method::PUT,
        "/v1/projects/shop/members/pavel",
        role("boss"),
    )
    .await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (400, Some("role")),
        "{b}"
    );
    let (s, b) = as_(
        &app,
        &olga,
        Method::PUT,
        "/v1/projects/shop/members/ghost",
        role("member"),
    )
    .await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (404, Some("user_id")),
        "{b}"
    );
}
both_backends!(invitations_need_consent_on, invitations_need_consent);

async fn removing_members(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let olga = app.user_with_project("olga", "shop").await;
    let ivan = app.user_with_project("ivan", "home").await;
    let admin = crate::helpers::ADMIN_TOKEN;
    for user in ["ivan", "vera"] {
        if user == "vera" {
            let (s, b) = app.admin_post("/v1/users", json!({"id": "vera"})).await;
            assert_eq!(s, 201, "{b}");
        }
        let path = format!("/v1/projects/shop/members/{user}");
        let (s, b) = as_(&app, admin, Method::PUT, &path, role("member")).await;
        assert_eq!(s, 200, "{b}");
    }
    // Ivan works in the shop with an unscoped PAT and one scoped to it.
    let (s, b) = as_(
        &app,
        &ivan,
        Method::POST,
        "/v1/users/ivan/tokens",
        Some(json!({"project_id": "shop"})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let ivan_shop = b["secret"].as_str().unwrap().to_owned();
    assert_eq!(whoami(&app, &ivan_shop, None).await.0, 200);

    // A member may not remove another member; nobody is removed twice; strangers get 404.
    let (s, b) = as_(
        &app,
        &ivan,
        Method::DELETE,
        "/v1/projects/shop/members/vera",
        None,
    )
    .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = as_(
        &app,
        &olga,
        Method::DELETE,
        "/v1/projects/shop/members/ivan",
        None,
    )
    .await;
    assert_eq!((s, b["removed"].as_str()), (200, Some("membership")), "{b}");
    let (s, b) = as_(
        &app,
        &olga,
        Method::DELETE,
        "/v1/projects/shop/members/ivan",
        None,
    )
    .await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (404, Some("user_id")),
        "{b}"
    );

    // Removal revokes no token: Ivan's PATs are still listed and live, but they stop reaching
    // the shop at once (membership is checked on every request), the scoped one everywhere.
    let (s, b) = as_(&app, &ivan, Method::GET, "/v1/users/ivan/tokens", None).await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["revoked_at"].is_null()),
        "{b}"
    );
    let (s, b) = whoami(&app, &ivan_shop, None).await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = whoami(&app, &ivan, Some("shop")).await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = as_(&app, &ivan_shop, Method::GET, "/v1/knowledge_bases", None).await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(
        whoami(&app, &ivan, None).await.0,
        200,
        "his own project is untouched"
    );

    // Re-added (with consent), the same scoped PAT works again.
    let (s, b) = as_(
        &app,
        &olga,
        Method::PUT,
        "/v1/projects/shop/members/ivan",
        role("member"),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let (s, b) = as_(
        &app,
        &ivan,
        Method::POST,
        "/v1/projects/shop/members/ivan/accept",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(whoami(&app, &ivan_shop, None).await.0, 200);

    // A member may leave; an invitee may decline; an owner may withdraw an invitation.
    let (s, b) = as_(
        &app,
        &ivan_shop,
        Method::DELETE,
        "/v1/projects/shop/members/ivan",
        None,
    )
    .await;
    assert_eq!((s, b["removed"].as_str()), (200, Some("membership")), "{b}");
    let (s, b) = as_(
        &app,
        &olga,
        Method::PUT,
        "/v1/projects/shop/members/ivan",
        role("member"),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let (s, b) = as_(
        &app,
        &ivan,
        Method::DELETE,
        "/v1/projects/shop/members/ivan",
        None,
    )
    .await;
    assert_eq!((s, b["removed"].as_str()), (200, Some("invitation")), "{b}");
    let (s, _) = as_(
        &app,
        &ivan,
        Method::POST,
        "/v1/projects/shop/members/ivan/accept",
        None,
    )
    .await;
    assert_eq!(s, 404, "a declined invitation cannot be accepted");

    // The last owner stays, whoever asks, and is told why; a second owner lets them go.
    for token in [olga.as_str(), admin] {
        let (s, b) = as_(
            &app,
            token,
            Method::DELETE,
            "/v1/projects/shop/members/olga",
            None,
        )
        .await;
        assert_eq!(s, 409, "{b}");
        let message = b["error"]["message"].as_str().unwrap();
        assert!(message.contains("last owner"), "{message}");
        let (s, b) = as_(
            &app,
            token,
            Method::PUT,
            "/v1/projects/shop/members/olga",
            role("member"),
        )
        .await;
        assert_eq!(s, 409, "demoting the last owner: {b}");
    }
    let (s, b) = as_(
        &app,
        &olga,
        Method::PUT,
        "/v1/projects/shop/members/vera",
        role("owner"),
    )
    .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (200, Some("member")),
        "a member's role changes at once: {b}"
    );
    let (s, b) = as_(
        &app,
        &olga,
        Method::DELETE,
        "/v1/projects/shop/members/olga",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // Her default project was the shop: without the header she is told, not moved.
    let (s, b) = whoami(&app, &olga, None).await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("default project"),
        "{b}"
    );
}
both_backends!(removing_members_on, removing_members);

/// Two owners removing each other at once: one wins, the project keeps an owner.
async fn owners_removing_each_other(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let admin = crate::helpers::ADMIN_TOKEN;
    for round in 0..8 {
        let project = format!("duel-{round}");
        let (a, b) = (format!("a{round}"), format!("b{round}"));
        let ta = app.user_with_project(&a, &project).await;
        let tb = app.user_with_project(&b, &format!("{project}-b")).await;
        let path = format!("/v1/projects/{project}/members/{b}");
        let (s, body) = as_(&app, admin, Method::PUT, &path, role("owner")).await;
        assert_eq!(s, 200, "{body}");
        let pa = format!("/v1/projects/{project}/members/{b}");
        let pb = format!("/v1/projects/{project}/members/{a}");
        let (ra, rb) = tokio::join!(
            as_(&app, &ta, Method::DELETE, &pa, None),
            as_(&app, &tb, Method::DELETE, &pb, None)
        );
        let mut statuses = [ra.0, rb.0];
        statuses.sort();
        // The winner removed the other; the loser is either the last owner now (409) or no
        // longer an owner at all (403).
        assert!(matches!(statuses, [200, 403] | [200, 409]), "{ra:?} {rb:?}");
        let (s, body) = as_(
            &app,
            admin,
            Method::GET,
            &format!("/v1/projects/{project}/members"),
            None,
        )
        .await;
        assert_eq!(s, 200, "{body}");
        let owners = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "owner")
            .count();
        assert_eq!(owners, 1, "{body}");
    }
}
both_backends!(owners_removing_each_other_on, owners_removing_each_other);

async fn default_project_is_the_users(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let olga = app.user_with_project("olga", "shop").await;
    let ivan = app.user_with_project("ivan", "home").await;
    let admin = crate::helpers::ADMIN_TOKEN;
    let (s, b) = as_(
        &app,
        admin,
        Method::PUT,
        "/v1/projects/shop/members/ivan",
        role("member"),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        whoami(&app, &ivan, None).await.1["project_id"],
        "home",
        "a second project does not move it"
    );

    // Only the user (or the admin token) chooses; a project they are not in is refused.
    let (s, b) = as_(
        &app,
        &olga,
        Method::PATCH,
        "/v1/users/ivan",
        Some(json!({"default_project_id": "shop"})),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = as_(
        &app,
        &ivan,
        Method::PATCH,
        "/v1/users/ivan",
        Some(json!({"default_project_id": "elsewhere"})),
    )
    .await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (409, Some("default_project_id")),
        "{b}"
    );
    let (s, b) = as_(
        &app,
        &ivan,
        Method::PATCH,
        "/v1/users/ivan",
        Some(json!({"default_project_id": "shop"})),
    )
    .await;
    assert_eq!(
        (s, b["default_project_id"].as_str()),
        (200, Some("shop")),
        "{b}"
    );
    assert_eq!(whoami(&app, &ivan, None).await.1["project_id"], "shop");

    // A scoped PAT may not move it; null clears it (then the header is required).
    let (s, b) = as_(
        &app,
        &ivan,
        Method::POST,
        "/v1/users/ivan/tokens",
        Some(json!({"project_id": "home"})),
    )
    .await;
    assert_eq!(s, 201, "{b}");
    let scoped = b["secret"].as_str().unwrap().to_owned();
    let (s, b) = as_(
        &app,
        &scoped,
        Method::PATCH,
        "/v1/users/ivan",
        Some(json!({"default_project_id": "home"})),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = as_(
        &app,
        &ivan,
        Method::PATCH,
        "/v1/users/ivan",
        Some(json!({"default_project_id": null})),
    )
    .await;
    assert_eq!(
        (s, b["default_project_id"].clone()),
        (200, Value::Null),
        "{b}"
    );
    let (s, b) = whoami(&app, &ivan, None).await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (400, Some("X-PROJECT-ID")),
        "{b}"
    );
    let (s, b) = as_(
        &app,
        &ivan,
        Method::PATCH,
        "/v1/users/ivan",
        Some(json!({"default": "home"})),
    )
    .await;
    assert_eq!(
        (s, b["error"]["param"].as_str()),
        (400, Some("default")),
        "{b}"
    );
}
both_backends!(
    default_project_is_the_users_on,
    default_project_is_the_users
);

/// A database from before stored defaults: users with exactly one project keep it as their
/// default (what omitting the header meant for them), users with several still name it.
async fn migration_keeps_what_the_header_meant(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::helpers::test_config(dir.path(), backend).await;
    let old = tempfile::tempdir().unwrap();
    let kind = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(kind);
    for entry in std::fs::read_dir(source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0005" {
            std::fs::copy(&path, old.path().join(name)).unwrap();
        }
    }
    let sql = crate::helpers::sql(&config).await;
    let before = sqlx::migrate::Migrator::new(old.path()).await.unwrap();
    before.run(&sql).await.unwrap();
    for stmt in [
        "INSERT INTO users (id, name, created_at) VALUES ('solo', 's', 1), ('multi', 'm', 1), ('none', 'n', 1)",
        "INSERT INTO projects (id, name, created_at) VALUES ('p1', 'p1', 1), ('p2', 'p2', 1)",
        "INSERT INTO memberships (user_id, project_id, role, created_at) VALUES \
         ('solo', 'p2', 'owner', 1), ('multi', 'p1', 'owner', 1), ('multi', 'p2', 'member', 1)",
    ] {
        sqlx::query(stmt).execute(&sql).await.unwrap();
    }
    let app = crate::helpers::spawn_with(config, Some(dir)).await;
    for (user, default) in [("solo", Some("p2")), ("multi", None), ("none", None)] {
        let stored = app.state.db.get_user(user).await.unwrap().unwrap();
        assert_eq!(stored.default_project_id.as_deref(), default, "{user}");
    }
    let (s, b) = app.admin_post("/v1/users/solo/tokens", json!({})).await;
    assert_eq!(s, 201, "{b}");
    let solo = b["secret"].as_str().unwrap().to_owned();
    assert_eq!(whoami(&app, &solo, None).await.1["project_id"], "p2");
}
both_backends!(migration_on, migration_keeps_what_the_header_meant);
