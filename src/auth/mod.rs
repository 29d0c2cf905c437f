//! Who may do what where: people known by their real chat identities, roles granting actions on APP:ENV patterns. Pure: no I/O.

use bosun_chat::Identity;

use crate::config::{Config, Pattern, Person, Role};

/// What a person may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read what is deployed where and what would ship (`status`, `history`, `diff`, `where`).
    Read,
    Deploy,
    Rollback,
    Force,
    Lock,
    UnlockOthers,
    Admin,
}

impl Action {
    pub fn verb(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Deploy => "deploy",
            Action::Rollback => "roll back",
            Action::Force => "force",
            Action::Lock => "lock",
            Action::UnlockOthers => "unlock others' locks on",
            Action::Admin => "administer",
        }
    }

    fn patterns(self, role: &Role) -> &[Pattern] {
        match self {
            Action::Read => &role.read,
            Action::Deploy => &role.deploy,
            Action::Rollback => &role.rollback,
            Action::Force => &role.force,
            Action::Lock => &role.lock,
            Action::UnlockOthers => &role.unlock_others,
            Action::Admin => &role.admin,
        }
    }
}

/// The people and roles of a config, as one value that answers questions.
#[derive(Clone, Debug)]
pub struct Policy {
    people: Vec<Person>,
    roles: std::collections::BTreeMap<String, Role>,
    /// Apps limited to some rooms: app → the rooms it may be deployed from.
    app_rooms: std::collections::BTreeMap<String, Vec<String>>,
}

impl Policy {
    pub fn new(config: &Config) -> Policy {
        Policy {
            people: config.people.clone(),
            roles: config.roles.clone(),
            app_rooms: config
                .playbooks
                .iter()
                .filter(|p| !p.app.rooms.is_empty())
                .map(|p| (p.app.name.clone(), p.app.rooms.clone()))
                .collect(),
        }
    }

    /// The person an identity belongs to. An exact id wins over a `*` entry.
    pub fn identify(&self, identity: &Identity) -> Option<&Person> {
        let id_of = |p: &Person| p.identities.get(&identity.network).cloned();
        self.people
            .iter()
            .find(|p| id_of(p).is_some_and(|id| id == identity.id))
            .or_else(|| {
                self.people
                    .iter()
                    .find(|p| id_of(p).is_some_and(|id| id == "*"))
            })
    }

    /// Whether `person` may do `action` to `app` in `env`; a refusal says what is missing.
    pub fn allows(
        &self,
        person: Option<&Person>,
        who: &str,
        action: Action,
        app: &str,
        env: &str,
    ) -> Result<(), String> {
        let Some(person) = person else {
            return Err(format!(
                "I don't know who {who} is, so I can't let them {} anything; ask an admin to add them to [[people]]",
                action.verb()
            ));
        };
        if self.granted(person, action, app, env) {
            return Ok(());
        }
        let elsewhere = self.where_allowed(person, action, app);
        if elsewhere.is_empty() {
            Err(format!("{who} may not {} {app}", action.verb()))
        } else {
            Err(format!(
                "{who} may {} {app} to {}, not {env}",
                action.verb(),
                elsewhere.join(", ")
            ))
        }
    }

    /// Whether `app` may be deployed or rolled back from `room`.
    pub fn room_allows(&self, app: &str, room: &str) -> Result<(), String> {
        match self.app_rooms.get(app) {
            Some(rooms) if !rooms.iter().any(|r| r == room) => Err(format!(
                "{app} is deployed from {} only, not from here",
                rooms.join(", ")
            )),
            _ => Ok(()),
        }
    }

    fn granted(&self, person: &Person, action: Action, app: &str, env: &str) -> bool {
        person
            .roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flat_map(|role| Self::granting(role, action))
            .any(|p| p.matches(app, env))
    }

    /// The patterns of `role` that grant `action`: its own, `admin`'s, and for reading every
    /// action's (who may act on something may read it).
    fn granting(role: &Role, action: Action) -> Vec<&Pattern> {
        let actions: &[Action] = match action {
            Action::Read => &[
                Action::Read,
                Action::Deploy,
                Action::Rollback,
                Action::Force,
                Action::Lock,
                Action::UnlockOthers,
            ],
            _ => std::slice::from_ref(&action),
        };
        actions
            .iter()
            .flat_map(|a| a.patterns(role))
            .chain(&role.admin)
            .collect()
    }

    /// Whether `person` may read `app` in at least one of `envs`.
    pub fn reads_any(&self, person: &Person, app: &str, envs: &[String]) -> bool {
        envs.iter()
            .any(|env| self.granted(person, Action::Read, app, env))
    }

    /// The environment names (from `envs`) where `person` may do `action` to `app`.
    pub fn environments_for(
        &self,
        person: &Person,
        action: Action,
        app: &str,
        envs: &[String],
    ) -> Vec<String> {
        envs.iter()
            .filter(|env| self.granted(person, action, app, env))
            .cloned()
            .collect()
    }

    fn where_allowed(&self, person: &Person, action: Action, app: &str) -> Vec<String> {
        let mut envs: Vec<String> = person
            .roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flat_map(|role| action.patterns(role).iter())
            .filter(|p| p.app == "*" || p.app == app)
            .map(|p| p.env.clone())
            .collect();
        envs.sort();
        envs.dedup();
        envs
    }
}

#[cfg(test)]
mod tests;
