//! The runtime API's commands that change something (HAProxy's `admin` level): which they
//! are, and what each does. `Cli::execute` checks the level once before any of them.

use super::{Cli, Outcome, server_config};
use crate::pool::Admin;

/// Whether `w` is a command of the admin level.
pub(super) fn is_admin(w: &[&str]) -> bool {
    matches!(
        w,
        ["set", "ssl", "tls-key", _, _]
            | ["disable" | "enable", "server", ..]
            | ["set", "weight", _, _]
            | ["add", "server", _, _, ..]
            | ["del", "server", _]
            | ["set", "server", _, _, ..]
    )
}

impl Cli {
    /// Runs an admin-level command (`is_admin`).
    pub(super) fn admin(&self, w: &[&str]) -> Result<Outcome, String> {
        let text = |s: String| Ok(Outcome::Text(s));
        match w {
            ["set", "ssl", "tls-key", id, key] => {
                crate::tls::show::set_ticket_key(&self.acceptors(), id, key).map(Outcome::Text)
            }
            ["disable" | "enable", "server", arg @ ..] => {
                let (b, s) = self.server(arg.first().copied())?;
                let to = if w[0] == "disable" { Admin::Maint } else { Admin::Ready };
                b.set_admin(s, to, "runtime API");
                text(String::new())
            }
            ["set", "weight", arg, v] => {
                let (_, s) = self.server(Some(arg))?;
                Self::set_weight(s, v)?;
                text(String::new())
            }
            ["add", "server", arg, addr, opts @ ..] => {
                let (b, name) = arg.split_once('/').ok_or("Require 'backend/server'.")?;
                let (bi, b) = self.backend(b).ok_or("No such backend.")?;
                if b.mirrored {
                    return Err(
                        "A mirroring backend's servers come from the configuration (each has its queue).".into(),
                    );
                }
                netpulse_config::haproxy_name("server", name)?;
                let cfg = server_config(name, addr, opts)?;
                let j = b.add_server(&cfg)?;
                if let Some(hc) = b.health_check.clone().filter(|_| b.servers[j].checked) {
                    crate::health::spawn_server_loop(self.state.pool.clone(), bi, j, hc, None);
                }
                tracing::warn!(backend = %b.name, server = %name, "server added on the runtime API (in maintenance until enabled)");
                text("New server registered.\n".into())
            }
            ["del", "server", arg] => {
                let (b, name) = arg.split_once('/').ok_or("Require 'backend/server'.")?;
                let (bi, b) = self.backend(b).ok_or("No such backend.")?;
                if b.mirrored {
                    // Its writer and queue would go on: refused, as `add server` is.
                    return Err(
                        "A mirroring backend's servers come from the configuration (each has its queue); they cannot be deleted at run time.".into(),
                    );
                }
                let j = b.remove_server(name)?;
                crate::express::lanes::forget_server((bi, j));
                tracing::warn!(backend = %b.name, server = %name, "server deleted on the runtime API");
                text("Server deleted.\n".into())
            }
            ["set", "server", arg, what, rest @ ..] => {
                let (b, s) = self.server(Some(arg))?;
                match (*what, rest.first().copied()) {
                    ("state", Some("ready")) => b.set_admin(s, Admin::Ready, "runtime API"),
                    ("state", Some("drain")) => b.set_admin(s, Admin::Drain, "runtime API"),
                    ("state", Some("maint")) => b.set_admin(s, Admin::Maint, "runtime API"),
                    ("state", _) => return Err("'set server <srv> state' expects 'ready', 'drain' and 'maint'.".into()),
                    ("weight", Some(v)) => Self::set_weight(s, v)?,
                    ("weight", None) => return Err("'set server <srv> weight' expects an integer argument.".into()),
                    _ => return Err("'set server <srv>' only supports 'state' and 'weight' here.".into()),
                }
                text(String::new())
            }
            _ => Err("not an admin command".into()),
        }
    }
}
