//! The canonical text of a `Command`: what suggestions show, and what parses back to it.

use std::fmt;

use super::model::Command;

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bang = |force: &bool| if *force { "!" } else { "" };
        match self {
            Command::Deploy {
                app,
                reference,
                env,
                force,
                canary,
                when_free,
            } => {
                write!(f, "deploy{} {app}", bang(force))?;
                if let Some(reference) = reference {
                    write!(f, "/{reference}")?;
                }
                if let Some(env) = env {
                    write!(f, " to {env}")?;
                }
                if *canary {
                    f.write_str(" canary")?;
                }
                if *when_free {
                    f.write_str(" when free")?;
                }
                Ok(())
            }
            Command::Rollback {
                app,
                env,
                to,
                force,
            } => {
                write!(f, "rollback{}", bang(force))?;
                if let Some(app) = app {
                    write!(f, " {app}")?;
                }
                if let Some(env) = env {
                    write!(f, " in {env}")?;
                }
                if let Some(to) = to {
                    write!(f, " to {to}")?;
                }
                Ok(())
            }
            Command::Cancel => f.write_str("cancel"),
            Command::Continue => f.write_str("continue"),
            Command::Status => f.write_str("status"),
            Command::Repair { app: None, env } => write!(f, "repair {env}"),
            Command::Repair {
                app: Some(app),
                env,
            } => write!(f, "repair {app} in {env}"),
            Command::Lock { env, reason: None } => write!(f, "lock {env}"),
            Command::Lock {
                env,
                reason: Some(reason),
            } => write!(f, "lock {env} {reason}"),
            Command::Unlock { env, force } => write!(f, "unlock{} {env}", bang(force)),
            Command::Freeze { env, until, reason } => {
                write!(f, "freeze {env}")?;
                if let Some(until) = until {
                    write!(f, " {until}")?;
                }
                if let Some(reason) = reason {
                    write!(f, " {reason}")?;
                }
                Ok(())
            }
            Command::Unfreeze { env } => write!(f, "unfreeze {env}"),
            Command::History { app, env: None } => write!(f, "history {app}"),
            Command::History {
                app,
                env: Some(env),
            } => write!(f, "history {app} {env}"),
            Command::Releases { app, env: None } => write!(f, "releases {app}"),
            Command::Releases {
                app,
                env: Some(env),
            } => write!(f, "releases {app} in {env}"),
            Command::Export { id } => write!(f, "export {id}"),
            Command::Diff { app, env: None } => write!(f, "diff {app}"),
            Command::Diff {
                app,
                env: Some(env),
            } => write!(f, "diff {app} to {env}"),
            Command::Where { app } => write!(f, "where can I deploy {app}"),
            Command::Help { topic: None } => f.write_str("help"),
            Command::Help { topic: Some(topic) } => write!(f, "help {topic}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;

    #[test]
    fn canonical_text_parses_back_to_the_same_command() {
        let lines = [
            "deploy blog",
            "deploy! blog/v1.4.2 to live canary when free",
            "rollback",
            "rollback! blog in live to v1.4.1",
            "cancel",
            "continue",
            "status",
            "repair live",
            "repair blog in live",
            "lock live",
            "lock live db  upgrade; back at 15:00",
            "unlock! live",
            "freeze live",
            "freeze live until 17:00 release week",
            "freeze live for 2h incident",
            "freeze live big demo",
            "unfreeze live",
            "history blog",
            "history blog live",
            "releases blog",
            "releases blog in live",
            "export 12",
            "diff blog",
            "diff blog to live",
            "where can I deploy blog",
            "help",
            "help rollback",
        ];
        for line in lines {
            let command = parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
            assert_eq!(command.to_string(), line);
        }
    }

    #[test]
    fn canonical_text_normalises_case_spacing_and_order() {
        let cases = [
            (
                "  DEPLOY   blog   TO live  WHEN FREE CANARY ",
                "deploy blog to live canary when free",
            ),
            ("Rollback TO v1 IN live", "rollback in live to v1"),
            ("where CAN i DEPLOY blog ?", "where can I deploy blog"),
            ("help DEPLOY!", "help deploy"),
        ];
        for (line, canonical) in cases {
            assert_eq!(
                parse(line).map(|c| c.to_string()),
                Ok(canonical.to_string()),
                "{line:?}"
            );
        }
    }
}
