//! Wiring only: the state (`state::AppState::load`), the queue workers and the HTTP server
//! from a `Config`. The one module that mounts `api`. Tests call `Application::build` with
//! port 0 and a fresh data dir; `ragway serve` calls it with the configured address.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use ragway_ingest::embed::Embedder;

use crate::config::Config;
use crate::state::AppState;
use crate::{api, error, telemetry};

/// A bound, not yet running, HTTP server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

/// How often the embedded store looks for collections written since their last optimisation.
const OPTIMIZE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Self::build_with(config, None).await
    }

    /// Like `build`, reusing an already loaded embedder.
    pub async fn build_with(
        config: Config,
        embedder: Option<Embedder>,
    ) -> anyhow::Result<Application> {
        let addr = config.bind_addr()?;
        let listener =
            TcpListener::bind(addr).with_context(|| format!("binding {addr} (server.bind)"))?;
        let port = listener.local_addr()?.port();
        let shutdown = config.server.shutdown_timeout_secs;
        let http_workers = config.server.workers;
        let ingest_workers = config.ingest.workers;
        let job_workers = config.jobs.workers;
        let state = Arc::new(AppState::load(config, embedder).await?);
        let mut workers = crate::documents::worker::spawn(state.clone(), ingest_workers);
        workers.extend(crate::jobs::worker::spawn(state.clone(), job_workers));
        workers.push(crate::vector::spawn_optimizer(
            state.vectors.clone(),
            OPTIMIZE_EVERY,
        ));
        let models = state.clone();
        workers.push(tokio::spawn(async move {
            models.generation.keep_models_fresh().await
        }));
        let state = web::Data::from(state);
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(32 << 20)
                        .error_handler(error::json_error_handler),
                )
                .app_data(web::QueryConfig::default().error_handler(error::query_error_handler))
                .wrap(from_fn(api::dialect::statuses))
                .wrap(from_fn(telemetry::request_span))
                .configure(api::configure)
                .default_service(web::to(api::not_found))
        })
        .listen(listener)?
        .shutdown_timeout(shutdown);
        if http_workers > 0 {
            server = server.workers(http_workers);
        }
        Ok(Application {
            port,
            server: server.run(),
            state,
            workers,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serve until SIGINT/SIGTERM, then let in-flight requests finish (`shutdown_timeout_secs`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        // Claimed documents keep their lease and are picked up again after it runs out.
        for w in self.workers {
            w.abort();
        }
        result
    }

    /// A handle that stops the server (gracefully) and with it the ingest workers.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}
