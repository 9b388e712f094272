//! What the runtime API's commands that change something (HAProxy's `admin` level) do; the
//! table in `commands` names them, and `Cli::execute` checks the level once before any.

use super::{Cli, Outcome, server_config};
use crate::pool::Admin;

fn done(s: &str) -> Result<Outcome, String> {
    Ok(Outcome::Text(s.to_string()))
}

impl Cli {
    /// `disable server` / `enable server` (HAProxy's deprecated forms of `set server … state`).
    pub(super) fn set_state(&self, arg: Option<&str>, to: Admin) -> Result<Outcome, String> {
        let (b, s) = self.server(arg)?;
        b.set_admin(s, to, "runtime API");
        done("")
    }

    /// `set server B/S state ready|drain|maint` or `set server B/S weight N[%]`.
    pub(super) fn set_server(&self, arg: &str, what: &str, value: Option<&str>) -> Result<Outcome, String> {
        let (b, s) = self.server(Some(arg))?;
        match (what, value) {
            ("state", Some("ready")) => b.set_admin(s, Admin::Ready, "runtime API"),
            ("state", Some("drain")) => b.set_admin(s, Admin::Drain, "runtime API"),
            ("state", Some("maint")) => b.set_admin(s, Admin::Maint, "runtime API"),
            ("state", _) => return Err("'set server <srv> state' expects 'ready', 'drain' and 'maint'.".into()),
            ("weight", Some(v)) => Self::set_weight(s, v)?,
            ("weight", None) => return Err("'set server <srv> weight' expects an integer argument.".into()),
            _ => return Err("'set server <srv>' only supports 'state' and 'weight' here.".into()),
        }
        done("")
    }

    /// `add server B/S ADDR [opts]`: in maintenance until enabled, checked if asked.
    pub(super) fn add_server(&self, arg: &str, addr: &str, opts: &[&str]) -> Result<Outcome, String> {
        let (b, name) = arg.split_once('/').ok_or("Require 'backend/server'.")?;
        let (bi, b) = self.backend(b).ok_or("No such backend.")?;
        if b.mirrored {
            return Err("A mirroring backend's servers come from the configuration (each has its queue).".into());
        }
        netpulse_config::haproxy_name("server", name)?;
        let cfg = server_config(name, addr, opts)?;
        let j = b.add_server(&cfg)?;
        if let Some(hc) = b.health_check.clone().filter(|_| b.servers[j].checked) {
            crate::health::spawn_server_loop(self.state.pool.clone(), bi, j, hc, None);
        }
        tracing::warn!(backend = %b.name, server = %name, "server added on the runtime API (in maintenance until enabled)");
        done("New server registered.\n")
    }

    /// `del server B/S`: a server in maintenance without requests; its pooled connections close.
    pub(super) fn del_server(&self, arg: &str) -> Result<Outcome, String> {
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
        done("Server deleted.\n")
    }
}
