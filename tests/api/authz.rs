//! The authorization matrix, generated from the route table (`ragway::api::routes::table()`):
//! every route is called by every principal, and the answer must be the one the route's rule
//! gives — the route's success status, or 401/403/404 — never a 5xx, and never another
//! tenant's data. The meaning of each rule is written here, apart from the server's code
//! (`expected`), so the two check each other. A route without a request below fails the test
//! (and one without a rule does not compile). Runs on SQLite and PostgreSQL.
//!
//! Every request targets project A. The principals: the admin token; `owner`'s unscoped PAT
//! (owner of A and B); `owner`'s PATs scoped to A ("in") and to B ("out"); service keys of A
//! ("own") and B ("other"); `member`'s PAT (member of A); `outsider`'s PAT (owner of C only);
//! no token; a revoked PAT. Every project holds data marked `SECRET-<P>`: an answer to a
//! principal may carry the marks of the projects it reaches, and of no other.

use std::collections::BTreeSet;

use ragway::api::routes::{table, RouteRule};
use ragway::auth::policy::Rule;
use ragway::config::{BackendConfig, ModelConfig};
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::fake_openai::FakeOpenAi;
use crate::helpers::{spawn_with, test_config, Backend, TestApp, ADMIN_TOKEN};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    Owner,
    ScopedIn,
    ScopedOut,
    KeyOwn,
    KeyOther,
    Member,
    NonMember,
    NoToken,
    Revoked,
}

const EVERYONE: [Who; 10] = [
    Who::Admin,
    Who::Owner,
    Who::ScopedIn,
    Who::ScopedOut,
    Who::KeyOwn,
    Who::KeyOther,
    Who::Member,
    Who::NonMember,
    Who::NoToken,
    Who::Revoked,
];

impl Who {
    /// The projects whose data this principal may see.
    fn reaches(self) -> &'static [&'static str] {
        match self {
            Who::Admin => &["A", "B", "C"],
            Who::Owner => &["A", "B"],
            Who::ScopedIn | Who::KeyOwn | Who::Member => &["A"],
            Who::ScopedOut | Who::KeyOther => &["B"],
            Who::NonMember => &["C"],
            Who::NoToken | Who::Revoked => &[],
        }
    }

    /// A PAT (any user's, any scope)?
    fn is_pat(self) -> bool {
        matches!(
            self,
            Who::Owner | Who::ScopedIn | Who::ScopedOut | Who::Member | Who::NonMember
        )
    }
}

/// What a call should answer: the request's success status, or this error status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    Status(u16),
}

/// The rules' meaning, for a request on project A (path user `owner` for the user routes, a
/// token of `owner`'s or of A for the token route, another user for the member routes).
fn expected(rule: Rule, who: Who, method: &Method, path_user: bool) -> Expect {
    use Expect::{Ok, Status};
    if rule == Rule::Public {
        return Ok;
    }
    if matches!(who, Who::NoToken | Who::Revoked) {
        return Status(401);
    }
    let in_a = matches!(
        who,
        Who::Admin | Who::Owner | Who::ScopedIn | Who::KeyOwn | Who::Member
    );
    let owns_a = matches!(who, Who::Admin | Who::Owner | Who::ScopedIn);
    let pass = |yes: bool, deny: u16| if yes { Ok } else { Status(deny) };
    match rule {
        Rule::Public | Rule::Token => Ok,
        Rule::Admin => pass(who == Who::Admin, 403),
        Rule::Project | Rule::ProjectMember => pass(in_a, 403),
        // The member routes' `{user_id}` is never the caller: only owners pass.
        Rule::ProjectOwner | Rule::OwnerOrSelf => pass(owns_a, 403),
        // `{user_id}` is `owner`: their PATs; one scoped elsewhere only reads (filtered).
        Rule::User => pass(
            owns_a || (who == Who::ScopedOut && method == Method::GET),
            403,
        ),
        Rule::Account if path_user => pass(matches!(who, Who::Admin | Who::Owner), 403),
        Rule::Account => pass(
            who == Who::Admin || (who.is_pat() && !matches!(who, Who::ScopedIn | Who::ScopedOut)),
            403,
        ),
        Rule::TokenHolder => pass(owns_a, 404),
    }
}

/// The principals' tokens and headers, and the counter behind fresh names.
struct World {
    app: TestApp,
    _fake: FakeOpenAi,
    tokens: Vec<(Who, Option<String>)>,
    outsider: String,
    job: String,
    doc: String,
    n: std::sync::atomic::AtomicUsize,
}

/// One call of the matrix: where, with what body, and the status that means success.
struct Call {
    path: String,
    body: Option<Value>,
    ok: u16,
    /// The admin token's success status when it differs (it adds members directly).
    admin_ok: Option<u16>,
    /// The path names a user (for `Rule::Account`).
    path_user: bool,
}

fn call(path: impl Into<String>, body: Option<Value>, ok: u16) -> Call {
    Call {
        path: path.into(),
        body,
        ok,
        admin_ok: None,
        path_user: false,
    }
}

fn model(id: &str) -> ModelConfig {
    ModelConfig {
        id: id.into(),
        upstream_id: None,
        context_length: 4096,
        reasoning: false,
        unsupported_params: vec![],
    }
}

impl World {
    async fn build(backend: Backend) -> World {
        let fake = FakeOpenAi::start().await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), backend).await;
        // Jobs stay queued, so each can be read and canceled.
        config.jobs.workers = 0;
        config.generation.backends = vec![BackendConfig {
            name: "fake".into(),
            base_url: fake.base_url.clone(),
            api_key: None,
            models: vec![model("echo")],
        }];
        let app = spawn_with(config, Some(dir)).await;
        let mut w = World {
            app,
            _fake: fake,
            tokens: Vec::new(),
            outsider: String::new(),
            job: String::new(),
            doc: String::new(),
            n: Default::default(),
        };
        w.populate().await;
        w
    }

    fn fresh(&self, what: &str) -> String {
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{what}-{n}")
    }

    async fn admin(&self, method: Method, path: &str, project: &str, body: Option<Value>) -> Value {
        let headers = [("X-PROJECT-ID", project)];
        let (s, b) = self
            .app
            .call(method.clone(), path, Some(ADMIN_TOKEN), &headers, body)
            .await;
        assert!((200..300).contains(&s), "set-up {method} {path}: {s} {b}");
        b
    }

    async fn secret(&self, path: &str, body: Value) -> String {
        let b = self.admin(Method::POST, path, "proj-a", Some(body)).await;
        b["secret"].as_str().unwrap().to_owned()
    }

    /// Users, projects A, B, C with marked data, and every principal's token.
    async fn populate(&mut self) {
        for user in ["owner", "member", "outsider"] {
            self.admin(Method::POST, "/v1/users", "", Some(json!({"id": user})))
                .await;
        }
        for (p, owner) in [("a", "owner"), ("b", "owner"), ("c", "outsider")] {
            let name = format!("SECRET-{} project", p.to_uppercase());
            let body = json!({"id": format!("proj-{p}"), "name": name, "owner": owner});
            self.admin(Method::POST, "/v1/projects", "", Some(body))
                .await;
            self.marked_data(p).await;
        }
        let body = json!({"role": "member"});
        self.admin(
            Method::PUT,
            "/v1/projects/proj-a/members/member",
            "",
            Some(body),
        )
        .await;
        let pat = |user: &str, scope: Option<&str>, name: &str| {
            (
                format!("/v1/users/{user}/tokens"),
                json!({"project_id": scope, "name": name}),
            )
        };
        let mut tokens = Vec::new();
        for (who, (path, body)) in [
            (Who::Owner, pat("owner", None, "owner-unscoped")),
            (Who::ScopedIn, pat("owner", Some("proj-a"), "SECRET-A-pat")),
            (Who::ScopedOut, pat("owner", Some("proj-b"), "SECRET-B-pat")),
            (Who::Member, pat("member", None, "member-pat")),
            (Who::NonMember, pat("outsider", None, "outsider-pat")),
            (Who::Revoked, pat("owner", None, "revoked")),
        ] {
            tokens.push((who, Some(self.secret(&path, body).await)));
        }
        for (who, p) in [(Who::KeyOwn, "a"), (Who::KeyOther, "b")] {
            let path = format!("/v1/projects/proj-{p}/keys");
            let name = format!("SECRET-{}-key", p.to_uppercase());
            tokens.push((who, Some(self.secret(&path, json!({"name": name})).await)));
        }
        tokens.push((Who::Admin, Some(ADMIN_TOKEN.to_owned())));
        tokens.push((Who::NoToken, None));
        self.outsider = tokens[4].1.clone().unwrap();
        self.revoke_one(&tokens[5].1.clone().unwrap()).await;
        self.tokens = tokens;
        self.job = self.queued_job("kb-jobs").await;
        self.doc = self.doc_id("proj-a", "kb-a", "doc-a").await;
        let chat = json!({"model": "echo", "id": "chat-a",
            "messages": [{"role": "user", "content": "What do penguins do?"}],
            "rag_params": {"table_id": "kb-a", "k": 2}});
        let path = "/v1/chat/completions";
        self.admin(Method::POST, path, "proj-a", Some(chat)).await;
    }

    /// A knowledge base and a ready document of project `p`, both marked.
    async fn marked_data(&self, p: &str) {
        let (project, mark) = (format!("proj-{p}"), format!("SECRET-{}", p.to_uppercase()));
        let kb = json!({"id": format!("kb-{p}"), "name": format!("{mark} kb"),
            "description": format!("{mark} description")});
        self.admin(Method::POST, "/v1/knowledge_bases", &project, Some(kb))
            .await;
        let doc = json!({"text": format!("{mark} doc: penguins huddle to keep warm."),
            "title": format!("{mark} title"), "metadata": {"mark": mark}});
        let path = format!("/v1/knowledge_bases/kb-{p}/documents/doc-{p}?wait=true");
        let b = self.admin(Method::PUT, &path, &project, Some(doc)).await;
        assert_eq!(b["data"][0]["status"], "ready", "{b}");
    }

    async fn revoke_one(&self, secret: &str) {
        let (s, b) = self
            .app
            .call(
                Method::GET,
                "/v1/users/owner/tokens",
                Some(secret),
                &[],
                None,
            )
            .await;
        assert_eq!(s, 200, "{b}");
        let id = b["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "revoked")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.admin(Method::DELETE, &format!("/v1/tokens/{id}"), "", None)
            .await;
    }

    async fn doc_id(&self, project: &str, kb: &str, external_id: &str) -> String {
        let path = format!("/v1/knowledge_bases/{kb}/documents/{external_id}");
        let b = self.admin(Method::GET, &path, project, None).await;
        b["id"].as_str().unwrap().to_owned()
    }

    async fn new_kb(&self) -> String {
        let id = self.fresh("kb");
        let body = json!({"id": id});
        self.admin(Method::POST, "/v1/knowledge_bases", "proj-a", Some(body))
            .await;
        id
    }

    /// A queued re-index job of a new knowledge base `kb` of A (no job runner: it stays queued).
    async fn queued_job(&self, kb: &str) -> String {
        let body = json!({"id": kb});
        self.admin(Method::POST, "/v1/knowledge_bases", "proj-a", Some(body))
            .await;
        let path = format!("/v1/knowledge_bases/{kb}/reindex");
        let b = self.admin(Method::POST, &path, "proj-a", None).await;
        b["id"].as_str().unwrap().to_owned()
    }

    /// A document of kb-a whose parsing failed.
    async fn failed_doc(&self) -> String {
        let ext = self.fresh("broken");
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"%PDF-1.4 not a pdf".to_vec()).file_name("x.pdf"),
        );
        let url = self.app.url(&format!(
            "/v1/knowledge_bases/kb-a/documents/{ext}?wait=true"
        ));
        let res = self.app.client.put(url).bearer_auth(ADMIN_TOKEN);
        let res = res.header("X-PROJECT-ID", "proj-a").multipart(form);
        let b: Value = res.send().await.unwrap().json().await.unwrap();
        assert_eq!(b["data"][0]["status"], "failed", "{b}");
        b["data"][0]["id"].as_str().unwrap().to_owned()
    }

    /// A new user who is a member of A (added by the admin token).
    async fn new_member(&self) -> String {
        let user = self.new_user().await;
        let path = format!("/v1/projects/proj-a/members/{user}");
        let body = json!({"role": "member"});
        self.admin(Method::PUT, &path, "", Some(body)).await;
        user
    }

    async fn new_user(&self) -> String {
        let user = self.fresh("user");
        let body = json!({"id": user});
        self.admin(Method::POST, "/v1/users", "", Some(body)).await;
        user
    }

    /// A new project of `outsider`'s that `owner` is invited to.
    async fn invitation_for_owner(&self) -> String {
        let project = self.fresh("proj-d");
        let who = Some(self.outsider.as_str());
        let body = Some(json!({"id": project}));
        let (s, b) = self
            .app
            .call(Method::POST, "/v1/projects", who, &[], body)
            .await;
        assert_eq!(s, 201, "{b}");
        let path = format!("/v1/projects/{project}/members/owner");
        let body = Some(json!({"role": "member"}));
        let (s, b) = self.app.call(Method::PUT, &path, who, &[], body).await;
        assert_eq!(s, 202, "{b}");
        project
    }

    /// A new token of A: `owner`'s PAT scoped to A, or a service key.
    async fn new_token(&self, key: bool) -> String {
        let (path, body) = if key {
            ("/v1/projects/proj-a/keys", json!({"name": "doomed"}))
        } else {
            (
                "/v1/users/owner/tokens",
                json!({"name": "doomed", "project_id": "proj-a"}),
            )
        };
        let b = self.admin(Method::POST, path, "proj-a", Some(body)).await;
        b["token"]["id"].as_str().unwrap().to_owned()
    }
}

/// The calls that exercise `route` (fresh resources for the ones that use theirs up); None
/// when the matrix does not know the route yet.
async fn calls(w: &World, route: &RouteRule) -> Option<Vec<Call>> {
    let (kb, doc) = ("/v1/knowledge_bases/kb-a", &w.doc);
    let one = |c: Call| Some(vec![c]);
    let m = route.method.as_str();
    match (m, route.path) {
        ("GET", "/healthz" | "/health" | "/readyz" | "/metrics" | "/openapi.json" | "/") => {
            one(call(route.path, None, 200))
        }
        ("GET", "/assets/{file:.*}") => one(call("/assets/nothing.js", None, 404)),
        (
            "GET",
            "/v1/models"
            | "/v1/models/ids"
            | "/v1/embedding_models"
            | "/v1/rerankers"
            | "/v1/whoami",
        ) => one(call(route.path, None, 200)),
        ("POST", "/v1/chat/completions") => one(call(
            route.path,
            Some(
                json!({"model": "echo", "messages": [{"role": "user", "content": "penguins?"}],
                "rag_params": {"table_id": "kb-a", "k": 2}}),
            ),
            200,
        )),
        ("GET", "/v1/chats/{chat_id}") => one(call("/v1/chats/chat-a", None, 200)),
        _ => match tenancy_calls(w, route).await {
            Some(calls) => Some(calls),
            None => kb_calls(w, route, kb, doc).await,
        },
    }
}

async fn tenancy_calls(w: &World, route: &RouteRule) -> Option<Vec<Call>> {
    let one = |c: Call| Some(vec![c]);
    let user_call = |path: &str, body: Option<Value>, ok: u16| Call {
        path_user: true,
        ..call(path, body, ok)
    };
    match (route.method.as_str(), route.path) {
        ("POST", "/v1/users") => one(call(route.path, Some(json!({"id": w.fresh("u")})), 201)),
        ("GET", "/v1/users/{user_id}") => one(user_call("/v1/users/owner", None, 200)),
        ("PATCH", "/v1/users/{user_id}") => one(user_call(
            "/v1/users/owner",
            Some(json!({"default_project_id": "proj-a"})),
            200,
        )),
        ("GET", "/v1/users/{user_id}/tokens") => {
            one(user_call("/v1/users/owner/tokens", None, 200))
        }
        ("POST", "/v1/users/{user_id}/tokens") => one(user_call(
            "/v1/users/owner/tokens",
            Some(json!({"project_id": "proj-a", "name": "matrix"})),
            201,
        )),
        ("POST", "/v1/projects") => one(call(route.path, Some(json!({"id": w.fresh("p")})), 201)),
        ("GET", "/v1/projects") => one(call(route.path, None, 200)),
        ("GET", "/v1/projects/{project_id}") => one(call("/v1/projects/proj-a", None, 200)),
        ("GET", "/v1/projects/{project_id}/members") => {
            one(call("/v1/projects/proj-a/members", None, 200))
        }
        ("PUT", "/v1/projects/{project_id}/members/{user_id}") => {
            let path = format!("/v1/projects/proj-a/members/{}", w.new_user().await);
            let body = Some(json!({"role": "member"}));
            one(Call {
                admin_ok: Some(200),
                ..call(path, body, 202)
            })
        }
        ("DELETE", "/v1/projects/{project_id}/members/{user_id}") => {
            let path = format!("/v1/projects/proj-a/members/{}", w.new_member().await);
            one(call(path, None, 200))
        }
        ("POST", "/v1/projects/{project_id}/members/{user_id}/accept") => {
            let project = w.invitation_for_owner().await;
            let path = format!("/v1/projects/{project}/members/owner/accept");
            one(user_call(&path, None, 200))
        }
        ("POST", "/v1/projects/{project_id}/keys") => one(call(
            "/v1/projects/proj-a/keys",
            Some(json!({"name": "matrix"})),
            201,
        )),
        ("GET", "/v1/projects/{project_id}/keys") => {
            one(call("/v1/projects/proj-a/keys", None, 200))
        }
        ("DELETE", "/v1/tokens/{token_id}") => Some(vec![
            call(
                format!("/v1/tokens/{}", w.new_token(false).await),
                None,
                200,
            ),
            call(format!("/v1/tokens/{}", w.new_token(true).await), None, 200),
        ]),
        _ => None,
    }
}

async fn kb_calls(w: &World, route: &RouteRule, kb: &str, doc: &str) -> Option<Vec<Call>> {
    let one = |c: Call| Some(vec![c]);
    let text = |t: &str| Some(json!({"text": t}));
    match (route.method.as_str(), route.path) {
        ("POST", "/v1/knowledge_bases") => {
            one(call(route.path, Some(json!({"id": w.fresh("kb")})), 201))
        }
        ("GET", "/v1/knowledge_bases") => one(call(route.path, None, 200)),
        ("GET", "/v1/knowledge_bases/{kb_id}") => one(call(kb, None, 200)),
        ("PATCH", "/v1/knowledge_bases/{kb_id}") => one(call(
            kb,
            Some(json!({"description": "SECRET-A description"})),
            200,
        )),
        ("DELETE", "/v1/knowledge_bases/{kb_id}") => {
            let path = format!("/v1/knowledge_bases/{}", w.new_kb().await);
            one(call(path, None, 200))
        }
        ("POST", "/v1/knowledge_bases/{kb_id}/search") => one(call(
            format!("{kb}/search"),
            Some(json!({"query": "penguins", "k": 2})),
            200,
        )),
        ("POST", "/v1/knowledge_bases/{kb_id}/reindex") => {
            let path = format!("/v1/knowledge_bases/{}/reindex", w.new_kb().await);
            one(call(path, None, 202))
        }
        ("POST", "/v1/knowledge_bases/{kb_id}/documents") => {
            one(call(format!("{kb}/documents"), text("a new note"), 202))
        }
        ("GET", "/v1/knowledge_bases/{kb_id}/documents") => {
            one(call(format!("{kb}/documents"), None, 200))
        }
        ("PUT", "/v1/knowledge_bases/{kb_id}/documents/{doc}") => {
            let path = format!("{kb}/documents/{}", w.fresh("put"));
            one(call(path, text("another note"), 202))
        }
        ("GET", "/v1/knowledge_bases/{kb_id}/documents/{doc}") => {
            one(call(format!("{kb}/documents/{doc}"), None, 200))
        }
        ("DELETE", "/v1/knowledge_bases/{kb_id}/documents/{doc}") => one(call(
            format!("{kb}/documents/{}", w.failed_doc().await),
            None,
            200,
        )),
        ("GET", "/v1/knowledge_bases/{kb_id}/documents/{doc}/chunks") => {
            one(call(format!("{kb}/documents/{doc}/chunks"), None, 200))
        }
        ("GET", "/v1/knowledge_bases/{kb_id}/documents/{doc}/text") => {
            one(call(format!("{kb}/documents/{doc}/text"), None, 200))
        }
        ("POST", "/v1/knowledge_bases/{kb_id}/documents/{doc}/retry") => {
            let path = format!("{kb}/documents/{}/retry", w.failed_doc().await);
            one(call(path, None, 202))
        }
        ("GET", "/v1/jobs") => one(call(route.path, None, 200)),
        ("GET", "/v1/jobs/{job_id}") => one(call(format!("/v1/jobs/{}", w.job), None, 200)),
        ("POST", "/v1/jobs/{job_id}/cancel") => {
            let job = w.queued_job(&w.fresh("kb")).await;
            one(call(format!("/v1/jobs/{job}/cancel"), None, 200))
        }
        _ => None,
    }
}

impl World {
    /// Call as `who`; problems found, one line each.
    async fn check(&self, route: &RouteRule, who: Who, c: &Call) -> Vec<String> {
        let token = self
            .tokens
            .iter()
            .find(|(w, _)| *w == who)
            .unwrap()
            .1
            .clone();
        let mut headers = vec![("X-PROJECT-ID", "proj-a")];
        if matches!(who, Who::KeyOwn | Who::KeyOther) {
            headers.push(("X-USER-ID", "end-user"));
        }
        let method = route.method.as_str().parse::<Method>().unwrap();
        let (status, body) = self
            .app
            .call(
                method.clone(),
                &c.path,
                token.as_deref(),
                &headers,
                c.body.clone(),
            )
            .await;
        let want = match expected(route.rule, who, &method, c.path_user) {
            Expect::Ok if who == Who::Admin => c.admin_ok.unwrap_or(c.ok),
            Expect::Ok => c.ok,
            Expect::Status(s) => s,
        };
        let what = format!(
            "{} {} ({}) as {who:?}",
            route.method,
            c.path,
            route.rule.as_str()
        );
        let mut problems = Vec::new();
        if status != want {
            problems.push(format!("{what}: {status}, expected {want}: {body}"));
        }
        let text = body.to_string();
        for p in ["A", "B", "C"]
            .iter()
            .filter(|p| !who.reaches().contains(p))
        {
            if text.contains(&format!("SECRET-{p}")) {
                problems.push(format!("{what}: project {p}'s data leaked: {text}"));
            }
        }
        problems
    }
}

async fn authorization_matrix(backend: Backend) {
    let w = World::build(backend).await;
    let routes = table();
    let mut problems = Vec::new();
    let mut covered = std::collections::HashSet::new();
    let mut calls_made = 0;
    for route in &routes {
        let Some(first) = calls(&w, route).await else {
            problems.push(format!(
                "{} {} has no request in the authorization matrix (tests/api/authz.rs): add one",
                route.method, route.path
            ));
            continue;
        };
        for variant in 0..first.len() {
            for who in EVERYONE {
                // Each principal gets fresh resources, as the allowed ones use theirs up.
                let mut fresh = calls(&w, route).await.unwrap();
                let c = fresh.swap_remove(variant);
                problems.extend(w.check(route, who, &c).await);
                calls_made += 1;
            }
        }
        covered.insert(route.rule);
    }
    assert!(
        routes.len() >= 45,
        "the route table has {} routes",
        routes.len()
    );
    let unused: Vec<_> = Rule::ALL.iter().filter(|r| !covered.contains(r)).collect();
    assert!(unused.is_empty(), "rules no route uses: {unused:?}");
    assert!(
        problems.is_empty(),
        "{} of {calls_made} calls went wrong:\n{}",
        problems.len(),
        problems.join("\n")
    );
    eprintln!(
        "authorization matrix ({backend:?}): {} routes, {calls_made} calls",
        routes.len()
    );
    // Stop the server before its data dir goes, so the vector store's shards close cleanly.
    w.app.shutdown().await;
}
both_backends!(authorization_matrix_on, authorization_matrix);

/// The docs' table (docs/API.md, "Who may call what") names every route with its rule.
#[test]
fn the_documented_rules_are_the_route_table() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md")).unwrap();
    // Only section 5 ("Tenancy and who may call what"): other tables name routes too.
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("5. "))
        .expect("docs/API.md has a section 5 with the rule table");
    let documented: BTreeSet<(String, String)> = section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let route = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let rule = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            let (method, path) = route.split_once(' ')?;
            matches!(method, "GET" | "POST" | "PUT" | "PATCH" | "DELETE")
                .then(|| (format!("{method} {path}"), rule.to_owned()))
        })
        .collect();
    let actual: BTreeSet<(String, String)> = table()
        .iter()
        .map(|r| {
            (
                format!("{} {}", r.method, r.path),
                r.rule.as_str().to_owned(),
            )
        })
        .collect();
    let missing: Vec<_> = actual.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&actual).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/API.md's rule table differs from the route table:\n missing or wrong: {missing:?}\n stale: {stale:?}"
    );
}
