//! The `opschat` command: serve the API and UI, migrate, import, ask, list sessions.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use opschat::chat::{ChatError, TurnRequest};
use opschat::{App, BuildOptions, Config};
use std::io::IsTerminal;

#[derive(Parser)]
#[command(
    name = "opschat",
    version,
    about = "Self-hosted operations chat for a busy manager"
)]
struct Cli {
    #[command(flatten)]
    config: Config,

    /// Do not load the demo restaurant into an empty database.
    #[arg(long, env = "OPSCHAT_NO_DEMO", global = true)]
    no_demo: bool,

    /// Address `serve` listens on.
    #[arg(
        long,
        env = "OPSCHAT_BIND",
        default_value = "127.0.0.1:8002",
        global = true
    )]
    bind: String,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the JSON API and the web UI (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Import tasks, delegations and digests from a JSON file; all of it or nothing.
    Import { file: std::path::PathBuf },
    /// Ask one question (persisted like any turn) and print the answer.
    Ask {
        question: String,
        /// Continue this session instead of starting a new one.
        #[arg(long)]
        session: Option<String>,
        /// Model to ask (`opschat-local`, or any model of the OpenAI-compatible server).
        #[arg(long)]
        model: Option<String>,
    },
    /// List recent chat sessions.
    Sessions {
        #[arg(long, default_value_t = 20)]
        limit: i64,
        /// Include archived sessions.
        #[arg(long)]
        all: bool,
    },
}

fn main() -> std::process::ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OPSCHAT_LOG")
                .unwrap_or_else(|_| "opschat=info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let demo = !cli.no_demo;
    let cfg = cli.config;
    let bind = cli.bind;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = App::build(
                &cfg,
                BuildOptions {
                    migrate: true,
                    demo,
                },
            )
            .await?;
            let listener = tokio::net::TcpListener::bind(&bind)
                .await
                .with_context(|| format!("binding {bind}"))?;
            let addr = listener.local_addr().context("reading the bound address")?;
            tracing::info!(%addr, database = %opschat::store::redact(&cfg.database_url), "opschat listening on http://{addr}");
            app.serve(listener, shutdown_signal()).await?;
            tracing::info!("shut down cleanly");
        }
        Command::Migrate => {
            let store = opschat::store::connect(&cfg.database_url, 2).await?;
            store.migrate().await.context("migrating the database")?;
            println!(
                "migrations applied to {}",
                opschat::store::redact(&cfg.database_url)
            );
        }
        Command::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let batch = opschat::import::parse(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{} was not imported (nothing was written):\n  {}",
                    file.display(),
                    e.problems.join("\n  ")
                )
            })?;
            let app = App::build(
                &cfg,
                BuildOptions {
                    migrate: true,
                    demo: false,
                },
            )
            .await?;
            let total = (batch.tasks.len() + batch.delegations.len() + batch.digests.len()) as u64;
            let bar = if std::io::stderr().is_terminal() {
                ProgressBar::new(total)
            } else {
                ProgressBar::hidden()
            };
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} importing [{bar:40}] {pos}/{len} records ({eta})",
                )?
                .progress_chars("=> "),
            );
            let summary = app
                .chat
                .store()
                .import(&batch, app.chat.clock().now(), &|n| bar.set_position(n))
                .await?;
            bar.finish_and_clear();
            println!(
                "imported {}: tasks {} created, {} updated; delegations {} created, {} updated; digests {} created, {} updated",
                file.display(),
                summary.tasks.created,
                summary.tasks.updated,
                summary.delegations.created,
                summary.delegations.updated,
                summary.digests.created,
                summary.digests.updated
            );
        }
        Command::Ask {
            question,
            session,
            model,
        } => {
            let app = App::build(
                &cfg,
                BuildOptions {
                    migrate: true,
                    demo,
                },
            )
            .await?;
            let session_id = match session {
                Some(s) => Some(
                    uuid::Uuid::parse_str(s.trim())
                        .with_context(|| format!("--session {s:?} is not a UUID"))?,
                ),
                None => None,
            };
            match app
                .chat
                .turn(TurnRequest {
                    message: question,
                    session_id,
                    context: None,
                    model,
                })
                .await
            {
                Ok(reply) => {
                    println!("{}", reply.answer.content);
                    eprintln!(
                        "\nsession {} · {} · {} tokens",
                        reply.session.id,
                        reply.answer.model_used.as_deref().unwrap_or("?"),
                        reply.answer.tokens_used.unwrap_or(0)
                    );
                }
                Err(ChatError::ModelFailed {
                    session_id,
                    user_message_id,
                    error,
                }) => {
                    eprintln!(
                        "error: {error}\nyour question was saved as message {user_message_id} in session {session_id}"
                    );
                    return Ok(std::process::ExitCode::from(2));
                }
                Err(e) => anyhow::bail!(e),
            }
        }
        Command::Sessions { limit, all } => {
            let app = App::build(
                &cfg,
                BuildOptions {
                    migrate: true,
                    demo: false,
                },
            )
            .await?;
            let sessions = app
                .chat
                .store()
                .sessions(app.chat.user(), limit.clamp(1, 1000), all)
                .await?;
            if sessions.is_empty() {
                println!("no sessions yet");
            }
            for s in sessions {
                let local = app.chat.clock().local(s.last_message_at);
                println!(
                    "{}  {}  {:>4} msgs  {}{}",
                    s.id,
                    local.format("%Y-%m-%d %H:%M"),
                    s.message_count,
                    s.title,
                    if s.is_active { "" } else { "  (archived)" }
                );
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
