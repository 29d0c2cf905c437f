//! The `bosun` command line: run the bot, check a config, deploy or roll back from a script, read the journal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

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
#[command(name = "bosun", version, about, long_about, after_help = EXIT_CODES)]
struct Cli {
    /// How log lines are written to stderr: `text` (coloured only on a terminal) or `json`
    /// (one object per line). BOSUN_LOG sets the level (e.g. `debug`, `bosun=trace`); the
    /// default is `info` for `bosun run`, `warn` for the other commands.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Cmd,
}

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// What the exit status says (also in `bosun --help` and the README).
const EXIT_CODES: &str = "Exit codes:
  0  done (deployed, rolled back, checked, exported)
  1  an error stopped bosun (the journal or a host could not be used, …)
  2  invalid: the command line, the configuration or the request is wrong (no such app, ref, …)
  3  refused: nothing was changed (permissions, a lock or freeze, a failed check, already live)
  4  failed, and everything it did was undone: the hosts are where they were
  5  failed, and an undo failed too: the hosts need a look";

/// The exit codes, by name.
mod exit {
    pub const ERROR: u8 = 1;
    pub const INVALID: u8 = 2;
    pub const REFUSED: u8 = 3;
    pub const UNDONE: u8 = 4;
    pub const NEEDS_A_LOOK: u8 = 5;
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
    /// Copy a SQLite journal into an empty PostgreSQL one, then compare every row of both.
    ///
    /// The password is read from the environment variable named by --password-env (or the
    /// file --password-file), never from the command line. Refuses a target that already has
    /// deploys, steps, locks, freezes or chat records.
    MigrateJournal {
        /// The SQLite journal (e.g. var/journal.sqlite).
        from: PathBuf,
        /// The PostgreSQL journal: postgres://USER@HOST:PORT/DATABASE.
        to: String,
        #[arg(long, value_name = "VARIABLE")]
        password_env: Option<String>,
        #[arg(long, value_name = "PATH")]
        password_file: Option<PathBuf>,
        /// "disable" or "require" (TLS through rustls).
        #[arg(long, default_value = "disable")]
        tls: String,
        /// The CA of the server's certificate (PEM), with --tls require.
        #[arg(long, value_name = "PATH")]
        ca_file: Option<PathBuf>,
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
    /// Export one deploy's whole record as a tar.gz.
    ///
    /// Inside `deploy-ID/`: README.txt (who, what, where, when, how it ended), plan.json (the
    /// plan as journaled), steps.txt (every step with its command, outcome, timing and output,
    /// undos included), chat.txt (every message the bot sent about the deploy), files.txt
    /// (every file shipped with its SHA-256 and size) and archive.tar (the exact archive shipped,
    /// while the bot still keeps it in its state directory). Configured secrets are hidden.
    /// The page offers the same archive at /deploys/ID/export.
    Export {
        journal_id: i64,
        /// Where to write the archive.
        #[arg(short, long)]
        output: PathBuf,
        #[arg(long, short, default_value = "bosun.toml", env = "BOSUN_CONFIG")]
        config: PathBuf,
    },
}

/// The bot's own crates log at `info` when it runs as a service.
fn run_log() -> String {
    format!(
        "warn,bosun=info,bosun_chat=info,{}",
        bosun::chat::LOG_TARGETS
    )
}

fn init_logging(format: LogFormat, default: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("BOSUN_LOG").unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// The most threads the runtime starts for blocking work.
const BLOCKING_THREADS: usize = 8;

fn main() -> ExitCode {
    bosun::malloc::settle();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.use_stderr() {
                true => ExitCode::from(exit::INVALID),
                false => ExitCode::SUCCESS,
            };
        }
    };
    let default_log = match cli.command {
        Cmd::Run { .. } => run_log(),
        _ => "warn".to_string(),
    };
    init_logging(cli.log_format, &default_log);
    // Blocking work (journal writes behind one SQLite connection, files, git) is short; a
    // bounded pool queues it instead of starting a thread per waiting call, which at hundreds
    // of hosts made memory grow with the fleet.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
    {
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
            match e.downcast_ref::<Invalid>() {
                Some(_) => ExitCode::from(exit::INVALID),
                None => ExitCode::from(exit::ERROR),
            }
        }
    };
    // A read blocked on stdin must not hold the process after the bot has stopped
    // (e.g. on SIGTERM with the terminal still open).
    runtime.shutdown_background();
    code
}

/// An error that makes the exit status "invalid" (2): the configuration or the request is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Invalid(String);

fn load(path: &Path) -> anyhow::Result<Arc<Config>> {
    match config::load(path) {
        Ok(config) => Ok(Arc::new(config)),
        Err(e) => Err(Invalid(format!("the configuration has problems:\n{e}")).into()),
    }
}

/// The journal of `config`, hiding its configured secrets.
async fn open_journal(config: &Config) -> anyhow::Result<Journal> {
    let location = config.journal.location().map_err(anyhow::Error::msg)?;
    Ok(Journal::connect(&location)
        .await?
        .with_redactor(bosun::redact::Redactor::from_config(config)))
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
            let journal = match loaded.journal.location() {
                Ok(location) => journal::Journal::check(&location).await,
                Err(e) => Err(journal::JournalError::Settings(e)),
            };
            let journal = match journal {
                Ok(line) => line,
                Err(e) => {
                    let e = e.to_string();
                    let e = e.strip_prefix("journal: ").unwrap_or(&e);
                    return Err(Invalid(format!(
                        "{}: the journal cannot be used: {e}",
                        config.display()
                    ))
                    .into());
                }
            };
            let envs: usize = loaded.playbooks.iter().map(|p| p.environments.len()).sum();
            println!(
                "{}: ok ({} playbooks, {envs} environments, {} people)",
                config.display(),
                loaded.playbooks.len(),
                loaded.people.len()
            );
            println!("{journal}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::MigrateJournal {
            from,
            to,
            password_env,
            password_file,
            tls,
            ca_file,
        } => {
            let invalid = |m: String| anyhow::Error::from(Invalid(m));
            let tls = journal::PgTls::parse(&tls)
                .ok_or_else(|| invalid(format!("--tls {tls}: \"disable\" or \"require\"")))?;
            let password = match (password_env, password_file) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "give --password-env or --password-file, not both".into(),
                    ));
                }
                (Some(name), None) => Some(
                    std::env::var(&name)
                        .map_err(|e| invalid(format!("--password-env {name}: {e}")))?,
                ),
                (None, Some(path)) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| invalid(format!("--password-file {}: {e}", path.display())))?
                        .trim_end_matches(['\r', '\n'])
                        .to_string(),
                ),
                (None, None) => None,
            };
            let settings = journal::PgSettings {
                url: to,
                password,
                tls,
                ca_file,
            };
            match journal::copy_sqlite_to_postgres(&from, &settings).await {
                Ok(report) => {
                    println!(
                        "copied {} into {}: {report}; every row compared equal",
                        from.display(),
                        journal::location::without_password(&settings.url)
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e @ journal::CopyError::NotEmpty(_)) => {
                    eprintln!("bosun: {e}");
                    Ok(ExitCode::from(exit::REFUSED))
                }
                Err(e) => Err(e.into()),
            }
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
            let journal = open_journal(&loaded).await?;
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
            let journal = open_journal(&loaded).await?;
            match journal::export(&journal, journal_id, &output, Some(&loaded.bot.state_dir)).await
            {
                Ok(()) => {}
                Err(e @ journal::JournalError::NoSuchDeploy(_)) => {
                    return Err(Invalid(format!("exporting journal #{journal_id}: {e}")).into());
                }
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("exporting journal #{journal_id}"))
                    );
                }
            }
            println!("wrote {}", output.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs one chat line through the bot, as typed on this terminal, and exits non-zero unless it
/// deployed or rolled back: refused, invalid, undone and not fully undone each have their code.
async fn scripted(
    config: &Path,
    as_user: Option<String>,
    line: String,
) -> anyhow::Result<ExitCode> {
    bosun::command::parse(&line).map_err(|e| Invalid(e.to_string()))?;
    let loaded = load(config)?;
    let adapter = AnyAdapter::one_line(&loaded, as_user, &line);
    let (shutdown, listener) = shutdown_on_signal();
    let options = BotOptions {
        serve_page: false,
        reconcile: false,
        ..BotOptions::default()
    };
    let report = bot::run(loaded, adapter, options, shutdown).await;
    listener.abort();
    let report = report?;
    Ok(exit_code(&report))
}

/// The exit status of a scripted deploy or rollback.
fn exit_code(report: &bot::BotReport) -> ExitCode {
    if report.deploys_succeeded == 1 && report.deploys_failed == 0 {
        ExitCode::SUCCESS
    } else if report.invalid > 0 {
        ExitCode::from(exit::INVALID)
    } else if report.deploys_need_a_look > 0 {
        ExitCode::from(exit::NEEDS_A_LOOK)
    } else if report.deploys_undone > 0 {
        ExitCode::from(exit::UNDONE)
    } else if report.refused > 0 {
        ExitCode::from(exit::REFUSED)
    } else {
        ExitCode::from(exit::ERROR)
    }
}
