//! opschat: a self-hosted operations chat. `App::build` wires storage, providers and the chat
//! service; `App::router` is the whole HTTP surface. Used by the binary and by the tests.

pub mod accounts;
pub mod analytics;
pub mod archive;
pub mod assistant;
pub mod chat;
pub mod config;
pub mod context;
pub mod demo;
pub mod domain;
pub mod http;
pub mod import;
pub mod markdown;
pub mod memory;
pub mod metrics;
pub mod pricing;
pub mod store;
pub mod web;
pub mod workspace;

use anyhow::Context as _;
use std::sync::Arc;

pub use config::Config;

/// Installs ring as rustls' crypto provider once (reqwest is built without a default one).
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A wired application.
pub struct App {
    pub chat: Arc<chat::ChatService>,
    pub accounts: Arc<accounts::Accounts>,
    pub workspace: Arc<workspace::WorkspaceService>,
    stream_stale: std::time::Duration,
    metrics_token: Option<Arc<str>>,
    metrics_bind: Option<String>,
}

/// What `App::build` does besides connecting.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions {
    /// Apply the embedded migrations.
    pub migrate: bool,
    /// Load the demo restaurant for the first account created.
    pub demo: bool,
}

impl App {
    /// Connects to the configured database and wires the services.
    pub async fn build(cfg: &Config, opts: BuildOptions) -> anyhow::Result<Self> {
        let clock = cfg.clock()?;
        // Installed before anything is counted.
        metrics::handle();
        let pool = cfg
            .db_pool
            .unwrap_or_else(|| store::default_pool(&cfg.database_url));
        let store = store::connect(&cfg.database_url, pool).await?;
        if opts.migrate {
            store.migrate().await.context("migrating the database")?;
        }
        let stream_stale = std::time::Duration::from_secs(cfg.stream_stale_secs);
        if opts.migrate {
            interrupt_stale_streams(store.as_ref(), stream_stale).await;
        }
        let accounts = Arc::new(accounts::Accounts::new(
            store.clone(),
            clock,
            accounts::AuthSettings::from_config(cfg, opts.demo)?,
        ));
        if opts.migrate {
            accounts
                .claim_legacy_rows()
                .await
                .context("handing rows from before accounts to their account")?;
        }
        let providers = Arc::new(assistant::Providers::from_config(cfg)?);
        tracing::info!(
            default_model = providers.default_model(),
            "model providers ready"
        );
        let workspace = Arc::new(workspace::WorkspaceService::new(store.clone(), clock));
        let actions = Arc::new(chat::actions::ActionService::new(
            store.clone(),
            workspace.clone(),
            clock,
        ));
        let chat = Arc::new(chat::ChatService::new(
            store,
            providers,
            clock,
            cfg.history_tokens,
            actions,
        ));
        Ok(Self {
            chat,
            accounts,
            workspace,
            stream_stale,
            metrics_token: cfg
                .metrics_token
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(Arc::from),
            metrics_bind: cfg.metrics_bind.clone(),
        })
    }

    /// The HTTP router over this app.
    pub fn router(&self) -> axum::Router {
        http::router(self.state())
    }

    fn state(&self) -> http::AppState {
        http::AppState {
            chat: self.chat.clone(),
            accounts: self.accounts.clone(),
            workspace: self.workspace.clone(),
            metrics_token: self.metrics_token.clone(),
        }
    }

    /// Serves HTTP on `listener` until `shutdown` resolves.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        assistant::tokens::warm_up();
        if let Some(h) = metrics::handle() {
            // Histograms are kept in buffers that upkeep folds in; without it they grow.
            let h = h.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
                loop {
                    every.tick().await;
                    h.run_upkeep();
                }
            });
        }
        let metrics_server = match &self.metrics_bind {
            Some(bind) => {
                let listener = tokio::net::TcpListener::bind(bind)
                    .await
                    .with_context(|| format!("binding OPSCHAT_METRICS_BIND {bind}"))?;
                let addr = listener
                    .local_addr()
                    .context("reading the metrics address")?;
                tracing::info!(%addr, "metrics on http://{addr}/metrics");
                let app = http::metrics_router(self.state());
                Some(tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app).await {
                        tracing::error!(error = %e, "the metrics listener stopped");
                    }
                }))
            }
            None => None,
        };
        let trimmer = memory::return_freed_memory();
        let store = self.chat.store().clone();
        let keyer = tokio::spawn(async move { key_questions(store.as_ref()).await });
        let store = self.chat.store().clone();
        let stale = self.stream_stale;
        let sweeper = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            every.tick().await;
            loop {
                every.tick().await;
                interrupt_stale_streams(store.as_ref(), stale).await;
                match store.delete_expired_web_sessions(chrono::Utc::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(sessions = n, "deleted expired browser sessions"),
                    Err(e) => tracing::warn!(error = %e, "deleting expired browser sessions"),
                }
            }
        });
        // Small SSE writes (one per token) must not wait for Nagle's algorithm.
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!(error = %e, "could not set TCP_NODELAY");
            }
        });
        // The peer address: sign-in throttling per client, and the trusted-proxy check.
        let app = self
            .router()
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP");
        sweeper.abort();
        keyer.abort();
        if let Some(t) = trimmer {
            t.abort();
        }
        if let Some(m) = metrics_server {
            m.abort();
        }
        served
    }
}

/// Stores the grouping key of every question that has none (questions written before keys
/// were, after an upgrade), so that common questions read keys only.
async fn key_questions(store: &dyn store::Store) {
    use chrono::TimeZone;
    let (from, to) = (
        chrono::Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0),
        chrono::Utc.with_ymd_and_hms(9999, 1, 1, 0, 0, 0),
    );
    let (chrono::LocalResult::Single(from), chrono::LocalResult::Single(to)) = (from, to) else {
        return;
    };
    match store.key_questions(None, from, to).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(questions = n, "stored the grouping key of questions"),
        Err(e) => tracing::warn!(error = %e, "storing the grouping key of questions"),
    }
}

/// Marks streaming replies left behind by a dead instance as interrupted. The heartbeat is
/// wall-clock time (not `OPSCHAT_NOW`): it is about processes, not the manager's day.
async fn interrupt_stale_streams(store: &dyn store::Store, stale: std::time::Duration) {
    let cutoff = chrono::Utc::now() - chrono::TimeDelta::from_std(stale).unwrap_or_default();
    match store.interrupt_stale_streams(cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            replies = n,
            "marked replies interrupted: their server stopped mid-stream"
        ),
        Err(e) => tracing::error!(error = %e, "sweeping interrupted streams"),
    }
}
