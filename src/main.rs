//! The `bosun` command line: run the bot, check a config, deploy or roll back from a script, read the journal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use bosun::bot::{self, BotOptions};
use bosun::chat::AnyAdapter;
use bosun::config::{self, Config};
use bosun::journal::{self, Journal};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

/// bosun: a chat-ops bot that deploys and announces.
///
/// In chat, people type `deploy APP to ENV`, `!rollback`, `status`, `help`; bosun checks that
/// they may, takes the environment's lock, tells the room what is about to roll, runs the
/// playbook on the hosts, and undoes everything if a step fails.
#[derive(Parser, Debug)]
#[command(name = "bosun", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the bot in the configured chat (on this terminal by default: commands from stdin).
    Run {
        #[arg(long, short, default_value = "bosun.toml", env = "BOSUN_CONFIG")]
        config: PathBuf,
        /// Who you type as on this terminal (default: $USER).
        #[arg(long = "as", value_name = "NAME")]
        as_user: Option<String>,
    },
    /// Validate the config and every playbook; exit non-zero on any problem.
    Check {
        #[arg(long, short, default_value = "bosun.toml", env = "BOSUN_CONFIG")]
        config: PathBuf,
    },
    /// Deploy APP (optionally APP/REF) to an environment, without chat: the same engine, for scripts.
    Deploy {
        /// APP or APP/REF (a branch, tag or sha).
        target: String,
        /// The environment.
        #[arg(long)]
        to: String,
        /// Deploy even if the revision is already live.
        #[arg(long)]
        force: bool,
        #[arg(long, short, default_value = "bosun.toml", env = "BOSUN_CONFIG")]
        config: PathBuf,
        /// Who the journal records as having asked (default: $USER).
        #[arg(long = "as", value_name = "NAME")]
        as_user: Option<String>,
    },
    /// Roll APP in an environment back to the release before the live one.
    Rollback {
        app: String,
        /// The environment.
        #[arg(long = "in")]
        env: String,
        #[arg(long, short, default_value = "bosun.toml", env = "BOSUN_CONFIG")]
        config: PathBuf,
        #[arg(long = "as", value_name = "NAME")]
        as_user: Option<String>,
    },
    /// Show the last deploys from the journal.
    History {
        /// Only this app.
        app: Option<String>,
        /// Only this environment.
        env: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, short, default_value = "bosun.toml", env = "BOSUN_CONFIG")]
        config: PathBuf,
    },
    /// Export one deploy's whole record (plan, every command and its output, files shipped) as a tar.gz.
    Export {
        journal_id: i64,
        /// Where to write the archive.
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, short, default_value = "bosun.toml", env = "BOSUN_CONFIG")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BOSUN_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bosun: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bosun: {e:#}");
            ExitCode::FAILURE
        }
    };
    // A read blocked on stdin must not hold the process after the bot has stopped
    // (e.g. on SIGTERM with the terminal still open).
    runtime.shutdown_background();
    code
}

fn load(path: &Path) -> anyhow::Result<Arc<Config>> {
    match config::load(path) {
        Ok(config) => Ok(Arc::new(config)),
        Err(e) => anyhow::bail!("the configuration has problems:\n{e}"),
    }
}

/// Cancels the returned token on Ctrl-C or SIGTERM. The caller owns the listening task and
/// aborts it when the bot has stopped.
fn shutdown_on_signal() -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let listener = tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
        cancel.cancel();
    });
    (token, listener)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Cmd::Check { config } => {
            let loaded = load(&config)?;
            let envs: usize = loaded.playbooks.iter().map(|p| p.environments.len()).sum();
            println!(
                "{}: ok ({} playbooks, {envs} environments, {} people)",
                config.display(),
                loaded.playbooks.len(),
                loaded.people.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run { config, as_user } => {
            let loaded = load(&config)?;
            let (shutdown, listener) = shutdown_on_signal();
            let options = BotOptions::default();
            let result = match AnyAdapter::from_config(&loaded, as_user) {
                Ok(adapter) => bot::run(loaded, adapter, options, shutdown).await,
                Err(e) => Err(e),
            };
            listener.abort();
            result?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Deploy {
            target,
            to,
            force,
            config,
            as_user,
        } => {
            let line = format!("deploy{} {target} to {to}", if force { "!" } else { "" });
            scripted(&config, as_user, line).await
        }
        Cmd::Rollback {
            app,
            env,
            config,
            as_user,
        } => scripted(&config, as_user, format!("rollback {app} in {env}")).await,
        Cmd::History {
            app,
            env,
            limit,
            config,
        } => {
            let loaded = load(&config)?;
            let journal = Journal::open(&loaded.journal.path).await?;
            let deploys = journal.history(app, env, limit).await?;
            if deploys.is_empty() {
                println!("no deploys yet");
            }
            for d in &deploys {
                println!("{}", bosun::announce::history_line(d));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Export {
            journal_id,
            output,
            config,
        } => {
            let loaded = load(&config)?;
            let journal = Journal::open(&loaded.journal.path).await?;
            journal::export(&journal, journal_id, &output)
                .await
                .with_context(|| format!("exporting journal #{journal_id}"))?;
            println!("wrote {}", output.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs one chat line through the bot, as typed on this terminal, and exits non-zero unless it
/// deployed or rolled back.
async fn scripted(
    config: &Path,
    as_user: Option<String>,
    line: String,
) -> anyhow::Result<ExitCode> {
    bosun::command::parse(&line).map_err(|e| anyhow::anyhow!("{e}"))?;
    let loaded = load(config)?;
    let adapter = AnyAdapter::one_line(&loaded, as_user, &line);
    let (shutdown, listener) = shutdown_on_signal();
    let report = bot::run(loaded, adapter, BotOptions::default(), shutdown).await;
    listener.abort();
    let report = report?;
    Ok(
        if report.deploys_succeeded == 1 && report.deploys_failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}
