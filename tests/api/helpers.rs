//! `spawn_app()`: a real ragway on port 0 with a fresh data dir and a fresh database — SQLite
//! by default, PostgreSQL with `spawn_app_on(Backend::Postgres)` — and the real embedder.
//! The vector store is Qdrant Edge in the data dir, or, when `QDRANT_URL` names a Qdrant
//! server, that server for every app and `ragway` process the tests start (each data dir with
//! a collection prefix of its own), so the whole suite runs against either.

use std::path::PathBuf;
use std::sync::OnceLock;

use ragway::config::Config;
use ragway::startup::Application;
use ragway::state::AppState;
use ragway::vector::VectorStore;
use ragway_ingest::embed::Embedder;
use serde_json::{json, Value};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: actix_web::web::Data<AppState>,
    /// A pool of its own on the app's database, for checks of rows the API does not show.
    pub sql: sqlx::AnyPool,
    handle: actix_web::dev::ServerHandle,
    /// Removed when the app is dropped, after the state (fields drop in order); None: the
    /// test owns the data dir.
    pub _data_dir: Option<tempfile::TempDir>,
}

/// Where `scripts/setup` put ONNX Runtime and the model: `<repo>/data`, or
/// `RAGWAY_TEST_DATA_DIR`.
pub fn models_data_dir() -> PathBuf {
    let dir = std::env::var_os("RAGWAY_TEST_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data"));
    let model = dir.join("models/all-minilm-l6-v2/model.onnx");
    assert!(
        model.exists(),
        "{} is missing: run `scripts/setup` first",
        model.display()
    );
    dir
}

/// The real `ragway` binary on `data_dir`, with the test models and no config file; the
/// caller adds the subcommand and settings.
pub fn ragway_command(data_dir: &std::path::Path) -> std::process::Command {
    let models = models_data_dir();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ragway"));
    cmd.env("RAGWAY__DATA_DIR", data_dir)
        .env(
            "RAGWAY__EMBEDDING__MODEL_DIR",
            models.join("models/all-minilm-l6-v2"),
        )
        .env(
            "RAGWAY__EMBEDDING__ONNXRUNTIME_PATH",
            models.join("runtime/libonnxruntime.so"),
        )
        .env_remove("RAGWAY_CONFIG");
    if let Some(url) = qdrant_url() {
        cmd.env("RAGWAY__VECTOR_STORE__URL", url).env(
            "RAGWAY__VECTOR_STORE__COLLECTION_PREFIX",
            collection_prefix(data_dir),
        );
        if let Some(key) = qdrant_api_key() {
            cmd.env("RAGWAY__VECTOR_STORE__API_KEY", key);
        }
    }
    cmd
}

/// The Qdrant server the tests use instead of Qdrant Edge, if any (its gRPC URL).
pub fn qdrant_url() -> Option<String> {
    std::env::var("QDRANT_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

pub fn qdrant_api_key() -> Option<String> {
    std::env::var("QDRANT_API_KEY")
        .ok()
        .filter(|key| !key.is_empty())
}

/// The collection prefix of everything started on `data_dir`: the test process's id, so
/// leftovers of finished runs can be told from live ones, and a hash of the data dir, so an
/// app and the worker processes on its data dir share collections and no one else does.
pub fn collection_prefix(data_dir: &std::path::Path) -> String {
    use std::hash::{Hash, Hasher};
    sweep_dead_runs();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    format!("rt{}_{:08x}_", std::process::id(), hasher.finish() as u32)
}

/// Once per test process: drop the server collections of test processes that have ended
/// (`rt<pid>_…` with no such process), so runs do not pile up on the server.
fn sweep_dead_runs() {
    static SWEPT: OnceLock<()> = OnceLock::new();
    let Some(url) = qdrant_url() else { return };
    SWEPT.get_or_init(|| {
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let client = qdrant_client::Qdrant::from_url(&url)
                    .api_key(qdrant_api_key())
                    .skip_compatibility_check()
                    .build()
                    .unwrap();
                let Ok(list) = client.list_collections().await else {
                    return;
                };
                for c in list.collections {
                    let pid = c
                        .name
                        .strip_prefix("rt")
                        .and_then(|rest| rest.split_once('_'))
                        .and_then(|(pid, _)| pid.parse::<u32>().ok());
                    let dead = pid.is_some_and(|pid| {
                        pid != std::process::id()
                            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
                    });
                    if dead {
                        let _ = client.delete_collection(c.name).await;
                    }
                }
            })
        })
        .join()
        .unwrap();
    });
}

/// Point `config` (on data dir `config.data_dir`) at the tests' Qdrant server, if one is set.
pub fn use_vector_store_under_test(config: &mut Config) {
    if let Some(url) = qdrant_url() {
        config.vector_store.url = Some(url);
        config.vector_store.api_key = qdrant_api_key().map(Into::into);
        config.vector_store.collection_prefix = collection_prefix(&config.data_dir);
    }
}

/// The vector store `config` names, opened afresh (tests that inspect what workers wrote).
pub async fn open_vector_store(config: &Config) -> std::sync::Arc<dyn VectorStore> {
    ragway::state::open_vector_store(config).await.unwrap()
}

/// A raw SQL pool on `config`'s database, for tests that inspect or poke rows the API does
/// not show (ragway's own pool is private to its store).
pub async fn sql(config: &Config) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&config.database_url())
        .await
        .expect("opening a test pool on the app's database")
}

/// The PostgreSQL server the tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("RAGWAY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// One embedder for the whole test binary: loading it per test would dominate the run time.
pub fn shared_embedder(config: &Config) -> Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let config = config.clone();
            std::thread::spawn(move || {
                tokio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(ragway::state::load_embedder(&config))
                    .expect("loading the embedder")
            })
            .join()
            .unwrap()
        })
        .clone()
}

/// A fresh, empty PostgreSQL database; returns its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is not reachable ({e}); start it or set RAGWAY_TEST_POSTGRES_URL"));
    // Databases of earlier runs are dropped once per test binary, so they do not pile up.
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let mut conn = sqlx::PgConnection::connect(&postgres_admin_url())
                .await
                .unwrap();
            let old: Vec<(String,)> =
                // `_` is LIKE's any-character: escaped, so only our own names match (not,
                // say, a `ragway_topology_…` database of a bench run).
                sqlx::query_as(
                    r"SELECT datname FROM pg_database WHERE datname LIKE 'ragway\_t\_%'",
                )
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            for (db,) in old {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
                    .execute(&mut conn)
                    .await;
            }
        })
        .await;
    let name = format!("ragway_t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin);
    format!("{base}/{name}")
}

/// A config for a fresh app in `dir`: port 0, the given backend, the admin token set.
pub async fn test_config(dir: &std::path::Path, backend: Backend) -> Config {
    let models = models_data_dir();
    let mut config = Config::from_figment(figment::Figment::new()).unwrap();
    config.server.bind = "127.0.0.1:0".into();
    config.server.workers = 2;
    config.data_dir = dir.to_path_buf();
    config.embedding.model_dir = Some(models.join("models/all-minilm-l6-v2"));
    config.embedding.onnxruntime_path = Some(models.join("runtime/libonnxruntime.so"));
    config.auth.admin_token = Some(ADMIN_TOKEN.to_owned().into());
    // Documents parse in `ragway parse` children, as in production (the test binary itself
    // has no `parse` command).
    config.ingest.parser_program = Some(env!("CARGO_BIN_EXE_ragway").into());
    if backend == Backend::Postgres {
        config.database.url = Some(fresh_postgres_database().await);
    }
    use_vector_store_under_test(&mut config);
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(Backend::Sqlite).await
}

pub async fn spawn_app_on(backend: Backend) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let config = test_config(data_dir.path(), backend).await;
    spawn_with(config, Some(data_dir)).await
}

pub async fn spawn_with(config: Config, data_dir: Option<tempfile::TempDir>) -> TestApp {
    ragway::telemetry::init(&ragway::config::LogConfig {
        level: "warn".into(),
        ..Default::default()
    });
    let embedder = shared_embedder(&config);
    let app = Application::build_with(config, Some(embedder))
        .await
        .expect("building the app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    let sql = sql(&state.config).await;
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        _data_dir: data_dir,
        state,
        sql,
        handle,
    }
}

impl TestApp {
    /// Stop the server gracefully, and wait until everything holding the app's state (HTTP
    /// workers, ingest workers) has let go of it, so its stores can be reopened.
    pub async fn shutdown(self) {
        self.handle.stop(true).await;
        let state = self.state.into_inner();
        for _ in 0..200 {
            if std::sync::Arc::strong_count(&state) == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the app's state is still held 5 s after shutdown");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Send `method path` with a bearer token, optional extra headers and JSON body; return
    /// the status and the parsed JSON answer (Null when the body is not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request failed");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            path,
            Some(ADMIN_TOKEN),
            &[],
            Some(body),
        )
        .await
    }

    /// Create a user who owns a new project, and a PAT for them; returns the PAT.
    pub async fn user_with_project(&self, user: &str, project: &str) -> String {
        let (s, b) = self.admin_post("/v1/users", json!({"id": user})).await;
        assert_eq!(s, 201, "{b}");
        let (s, b) = self
            .admin_post("/v1/projects", json!({"id": project, "owner": user}))
            .await;
        assert_eq!(s, 201, "{b}");
        let (s, b) = self
            .admin_post(&format!("/v1/users/{user}/tokens"), json!({}))
            .await;
        assert_eq!(s, 201, "{b}");
        b["secret"].as_str().unwrap().to_owned()
    }
}

/// Run an async test body once per database backend.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body($crate::helpers::Backend::Postgres).await
            }
        }
    };
}
