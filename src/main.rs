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
    /// Write conversations of --user to standard output: one session (md, json or html) or
    /// all of them (md or json), streamed.
    Export {
        /// md, json or html (html only with --session).
        #[arg(long, default_value = "md")]
        format: String,
        /// Only this session.
        #[arg(long)]
        session: Option<String>,
        /// The whole instance (every account's data) as an archive for `opschat restore`.
        #[arg(long, conflicts_with_all = ["session", "format"])]
        all: bool,
        /// With --all: include password and API token hashes, so accounts and tokens keep
        /// working on the new instance.
        #[arg(long, requires = "all")]
        with_secrets: bool,
    },
    /// Load an archive written by `opschat export --all` into an empty database.
    Restore {
        /// The archive file.
        file: std::path::PathBuf,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage personal API tokens of the account given by --user (default: the only admin).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account (the first one is always an admin and gets the demo data).
    Add {
        name: String,
        /// Make the account an admin.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        display_name: Option<String>,
        /// IANA time zone, e.g. America/New_York.
        #[arg(long)]
        time_zone: Option<String>,
    },
    /// List accounts.
    List,
    /// Set an account's password (ends its browser sessions).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable an account: its sessions and tokens stop working at once.
    Disable { name: String },
    /// Enable a disabled account again.
    Enable { name: String },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once and stored only hashed.
    Create { name: String },
    /// List the account's tokens.
    List,
    /// Revoke a token by its id.
    Revoke { id: String },
}

/// A new password: the first line of stdin, or typed twice at a terminal prompt.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if !from_stdin && !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to prompt for a password: pass --password-stdin");
    }
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = rpassword::prompt_password("Password: ").context("reading the password")?;
    let again = rpassword::prompt_password("Again: ").context("reading the password")?;
    if first != again {
        anyhow::bail!("the two passwords differ");
    }
    Ok(first)
}

/// glibc raises its mmap threshold to the size of the largest block freed (up to 32 MiB), so
/// after the first password hash (argon2id's 19 MiB block) every later one came from the hashing
/// thread's heap arena and stayed there: ~19 MiB of RSS kept per blocking thread that ever
/// hashed (six sign-ins took an idle server from 25 to 145 MiB). A fixed threshold keeps blocks
/// of 1 MiB and more in their own mappings, given back to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fixed_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator parameter; it is called before the runtime starts
    // any thread, and 1 MiB is within the range glibc accepts.
    let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20) };
    if set != 1 {
        tracing::warn!(
            "could not fix the allocator's mmap threshold; memory may grow with sign-ins"
        );
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fixed_mmap_threshold() {}

fn main() -> std::process::ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("OPSCHAT_LOG")
            .unwrap_or_else(|_| "opschat=info,tower_http=warn".into())
    };
    // `OPSCHAT_LOG_FORMAT=json`: one JSON object per line, for log collectors.
    match std::env::var("OPSCHAT_LOG_FORMAT")
        .as_deref()
        .map(str::trim)
    {
        Ok("json") => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init(),
        Ok("text") | Ok("") | Err(_) => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        Ok(other) => {
            eprintln!("error: OPSCHAT_LOG_FORMAT={other:?} is not text or json");
            return std::process::ExitCode::FAILURE;
        }
    }
    fixed_mmap_threshold();
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
            let app = migrated(&cfg, demo).await?;
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
            let app = migrated(&cfg, false).await?;
            let user = app.accounts.cli_user(cfg.user.as_deref()).await?;
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
                .workspace
                .store()
                .import(
                    &user.owner_key(),
                    &batch,
                    &opschat::workspace::actor(&user, "cli"),
                    app.chat.clock().now(),
                    &|n| bar.set_position(n),
                )
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
            let app = migrated(&cfg, demo).await?;
            let session_id = match session {
                Some(s) => Some(
                    uuid::Uuid::parse_str(s.trim())
                        .with_context(|| format!("--session {s:?} is not a UUID"))?,
                ),
                None => None,
            };
            let user = app.accounts.cli_user(cfg.user.as_deref()).await?;
            match app
                .chat
                .turn(
                    &user,
                    TurnRequest {
                        message: question,
                        session_id,
                        context: None,
                        model,
                        history: None,
                    },
                )
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
        Command::Export {
            all: true,
            with_secrets,
            ..
        } => {
            let app = migrated(&cfg, false).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            let bar = if std::io::stderr().is_terminal() {
                ProgressBar::new_spinner()
            } else {
                ProgressBar::hidden()
            };
            bar.set_style(ProgressStyle::with_template(
                "{spinner} archiving: {pos} rows",
            )?);
            let rows = opschat::archive::write(
                app.chat.store().as_ref(),
                with_secrets,
                app.chat.clock().now(),
                &mut out,
                &|n| bar.set_position(n),
            )
            .await?;
            bar.finish_and_clear();
            eprintln!("archived {rows} rows");
        }
        Command::Restore { file } => {
            let app = migrated(&cfg, false).await?;
            let f = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let mut input = std::io::BufReader::new(f);
            let bar = if std::io::stderr().is_terminal() {
                ProgressBar::new_spinner()
            } else {
                ProgressBar::hidden()
            };
            bar.set_style(ProgressStyle::with_template(
                "{spinner} restoring: {pos} rows",
            )?);
            let rows = opschat::archive::restore(app.chat.store().as_ref(), &mut input, &|n| {
                bar.set_position(n)
            })
            .await?;
            bar.finish_and_clear();
            println!("restored {rows} rows from {}", file.display());
        }
        Command::Export {
            format, session, ..
        } => {
            use std::io::Write as _;
            let fmt = opschat::chat::export::Format::parse(&format)
                .ok_or_else(|| anyhow::anyhow!("--format {format:?}: use md, json or html"))?;
            let app = migrated(&cfg, false).await?;
            let user = app.accounts.cli_user(cfg.user.as_deref()).await?;
            let mut out = std::io::stdout().lock();
            match session {
                Some(id) => {
                    let id = uuid::Uuid::parse_str(id.trim())
                        .map_err(|_| anyhow::anyhow!("--session {id:?} is not a session id"))?;
                    let (_, body) = app.chat.export_session(&user, id, fmt).await?;
                    out.write_all(body.as_bytes())?;
                }
                None => {
                    if fmt == opschat::chat::export::Format::Html {
                        anyhow::bail!("--format html exports one session: add --session ID");
                    }
                    let mut rx = app.chat.export_all(user, fmt, None, None);
                    while let Some(chunk) = rx.recv().await {
                        out.write_all(&chunk?)?;
                    }
                }
            }
            out.flush()?;
        }
        Command::Sessions { limit, all } => {
            let app = migrated(&cfg, false).await?;
            let user = app.accounts.cli_user(cfg.user.as_deref()).await?;
            let sessions = app.chat.sessions(&user, limit.clamp(1, 1000), all).await?;
            if sessions.is_empty() {
                println!("no sessions yet");
            }
            for s in sessions {
                let local = app.chat.clock().local_in(s.last_message_at, user.tz());
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
        Command::User { command } => {
            let app = migrated(&cfg, demo).await?;
            let accounts = &app.accounts;
            match command {
                UserCommand::Add {
                    name,
                    admin,
                    password_stdin,
                    display_name,
                    time_zone,
                } => {
                    let password = read_password(password_stdin)?;
                    let (user, _) = accounts
                        .create_account(opschat::accounts::AccountInput {
                            username: name,
                            password: Some(password),
                            display_name,
                            time_zone,
                            role: Some(if admin {
                                opschat::domain::UserRole::Admin
                            } else {
                                opschat::domain::UserRole::Manager
                            }),
                        })
                        .await?;
                    println!("created {} ({}) {}", user.username, user.role, user.id);
                }
                UserCommand::List => {
                    for a in accounts.accounts().await? {
                        let u = a.user;
                        println!(
                            "{}  {:<24} {:<8} {}{}",
                            u.id,
                            u.username,
                            u.role,
                            u.time_zone.as_deref().unwrap_or("(default time zone)"),
                            if u.disabled { "  (disabled)" } else { "" }
                        );
                    }
                }
                UserCommand::Passwd {
                    name,
                    password_stdin,
                } => {
                    let user = accounts.user_named(&name).await?;
                    let password = read_password(password_stdin)?;
                    accounts
                        .admin_reset_password(None, user.id, Some(&password))
                        .await?;
                    println!(
                        "password of {} set; its browser sessions ended",
                        user.username
                    );
                }
                UserCommand::Disable { name } => set_disabled(accounts, &name, true).await?,
                UserCommand::Enable { name } => set_disabled(accounts, &name, false).await?,
            }
        }
        Command::Token { command } => {
            let app = migrated(&cfg, false).await?;
            let user = app.accounts.cli_user(cfg.user.as_deref()).await?;
            // The command line acts as the account directly; how it "signed in" does not matter here.
            let me = opschat::accounts::Principal {
                user: user.clone(),
                credential: opschat::accounts::Credential::TrustedHeader,
            };
            match command {
                TokenCommand::Create { name } => {
                    let (token, secret) = app.accounts.create_token(&me, &name).await?;
                    eprintln!(
                        "token {:?} ({}) for {}; it is shown once, keep it safe:",
                        token.name, token.id, user.username
                    );
                    println!("{secret}");
                }
                TokenCommand::List => {
                    let tokens = app.accounts.tokens(&me).await?;
                    if tokens.is_empty() {
                        println!("no tokens");
                    }
                    for t in tokens {
                        println!(
                            "{}  {:<12} {:<30} created {}  last used {}",
                            t.id,
                            format!("{}…", t.prefix),
                            t.name,
                            t.created_at.format("%Y-%m-%d %H:%M"),
                            t.last_used_at.map_or("never".to_string(), |u| u
                                .format("%Y-%m-%d %H:%M")
                                .to_string())
                        );
                    }
                }
                TokenCommand::Revoke { id } => {
                    let id = uuid::Uuid::parse_str(id.trim())
                        .with_context(|| format!("{id:?} is not a token id"))?;
                    app.accounts.revoke_token(&me, id).await?;
                    println!("revoked {id}");
                }
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The app on a migrated database; `demo` loads the demo restaurant for a first account.
async fn migrated(cfg: &Config, demo: bool) -> anyhow::Result<App> {
    App::build(
        cfg,
        BuildOptions {
            migrate: true,
            demo,
        },
    )
    .await
}

async fn set_disabled(
    accounts: &opschat::accounts::Accounts,
    name: &str,
    disabled: bool,
) -> anyhow::Result<()> {
    let user = accounts.user_named(name).await?;
    accounts
        .admin_update(None, user.id, None, Some(disabled), None)
        .await?;
    println!(
        "{} {}",
        user.username,
        if disabled {
            "disabled: its sessions and tokens no longer work"
        } else {
            "enabled"
        }
    );
    Ok(())
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
