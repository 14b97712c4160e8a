//! The real `ragway` binary as a child process: a data dir and database to run it on
//! ([`Site`]), `serve` on a free port, and the ways to end it (`kill -9`, SIGTERM).

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{fresh_postgres_database, ragway_command, test_config, Backend};
use ragway::config::Config;
use ragway::store::Db;

/// The data dir and database one crash test runs on, and a pool to watch its rows.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub config: Config,
    pub sql: sqlx::AnyPool,
}

impl Site {
    pub async fn new(backend: Backend) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path(), Backend::Sqlite).await;
        if backend == Backend::Postgres {
            config.database.url = Some(fresh_postgres_database().await);
        }
        // Creates the schema, so the watching pool can start before the first process.
        drop(Db::connect(&config).await.unwrap());
        let sql = crate::helpers::sql(&config).await;
        Site { dir, config, sql }
    }

    /// `ragway <args>` on this site, with short leases so a killed process's claims run out
    /// quickly, and `env` on top.
    pub fn spawn(&self, args: &[&str], env: &[(&str, String)]) -> Proc {
        let mut cmd = ragway_command(self.dir.path());
        cmd.args(args)
            .env("RAGWAY__INGEST__LEASE_SECS", "5")
            .env("RAGWAY__JOBS__LEASE_SECS", "2")
            .env("RAGWAY__AUTH__ADMIN_TOKEN", crate::helpers::ADMIN_TOKEN)
            .env("RAGWAY__LOG__LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(url) = &self.config.database.url {
            cmd.env("RAGWAY__DATABASE__URL", url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        Proc(Some(cmd.spawn().unwrap()))
    }

    /// `ragway serve` on a free port, up and answering; its base URL.
    pub async fn serve(&self, env: &[(&str, String)]) -> (Proc, String) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut env = env.to_vec();
        env.push(("RAGWAY__SERVER__BIND", format!("127.0.0.1:{port}")));
        let child = self.spawn(&["serve"], &env);
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::get(format!("{base}/healthz")).await.is_err() {
            assert!(Instant::now() < deadline, "ragway serve did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (child, base)
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dev-token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&self.sql).await.unwrap();
        n
    }

    /// Wait (up to `secs`) until `sql` counts at least `n`.
    pub async fn until(&self, sql: &str, n: i64, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let now = self.count(sql).await;
            if now >= n {
                return;
            }
            assert!(Instant::now() < deadline, "{sql}: {now} < {n}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A child process that is killed when dropped, so a failing test leaves none behind.
pub struct Proc(pub Option<Child>);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// SIGKILL: no cleanup at all; leases are left to run out.
pub fn kill9(mut proc: Proc) {
    let mut child = proc.0.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

/// SIGTERM, and wait for the process to exit (it releases the data dir).
pub async fn stop(mut proc: Proc) {
    let child = proc.0.take().unwrap();
    let pid = child.id().to_string();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = tokio::task::spawn_blocking(move || {
        let mut child = child;
        child.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
}
