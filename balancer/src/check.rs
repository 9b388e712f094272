//! Loading and checking a configuration as `-c` does: the native TOML or an haproxy.cfg
//! (through haproxy-compat), server names resolved, every TLS certificate and ticket-key file
//! read as the running balancer would. Errors are HAProxy-style `[ALERT]` lines naming the file.

use netpulse_config::{BalancerConfig, Loader};
use std::path::Path;

/// The configuration from `--config` (native) or `-f` (haproxy.cfg), checked; warnings go to
/// stderr as `[WARNING]` lines.
pub fn load(config: Option<&Path>, haproxy: Option<&Path>) -> Result<BalancerConfig, String> {
    if let Some(h) = haproxy {
        if config.is_some() {
            return Err("give either --config (native) or -f (haproxy.cfg), not both".into());
        }
        return match netpulse_haproxy_compat::load(h) {
            Ok(t) => {
                for w in &t.warnings {
                    eprintln!("[WARNING] {w}");
                }
                resolvable(t.config, h)
            }
            Err(netpulse_haproxy_compat::Error::Invalid { errors, warnings }) => {
                for w in &warnings {
                    eprintln!("[WARNING] {w}");
                }
                Err(errors
                    .iter()
                    .map(|e| format!("[ALERT] {e}"))
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
            Err(e) => Err(e.to_string()),
        };
    }
    let Some(path) = config else {
        return Err("give a configuration with --config FILE".into());
    };
    let cfg = Loader::<BalancerConfig>::new()
        .file(path)
        .load()
        .map_err(|e| e.to_string())?;
    resolvable(cfg, path)
}

/// Like `haproxy -c`, the check resolves server names too: an unchecked server whose name does
/// not resolve is an invalid configuration; a checked one a warning (it starts DOWN).
fn resolvable(cfg: BalancerConfig, path: &Path) -> Result<BalancerConfig, String> {
    let (mut warnings, mut errors) = netpulse_config::resolve_servers(&cfg);
    certificates(&cfg, &mut warnings, &mut errors);
    for w in &warnings {
        eprintln!("[WARNING] {}: {w}", path.display());
    }
    if errors.is_empty() {
        return Ok(cfg);
    }
    let lines = errors.iter().map(|e| format!("[ALERT] {}: {e}", path.display()));
    Err(lines.collect::<Vec<_>>().join("\n"))
}

/// Every TLS frontend's certificates are read and checked as the running balancer would:
/// unreadable, unparsable, a key that does not match, expired or not yet valid — each an
/// error naming the file; one expiring within 30 days is a warning. Ticket-key files too.
fn certificates(cfg: &BalancerConfig, warnings: &mut Vec<String>, errors: &mut Vec<String>) {
    let now = crate::tls::certs::now();
    for (i, f) in cfg.frontends.iter().enumerate() {
        let Some(t) = &f.tls else { continue };
        let at = format!("frontends[{i}].tls.cert");
        match crate::tls::certs::load(&t.cert, t.key.as_deref()) {
            Err(e) => errors.push(format!("`{at}`: {e}")),
            Ok(loaded) => {
                for l in loaded {
                    if let Some(e) = l.invalid_at(now) {
                        errors.push(format!("`{at}`: {e}"));
                    } else if l.not_after < now + 30 * 86_400 {
                        let days = (l.not_after - now) / 86_400;
                        warnings.push(format!(
                            "`{at}`: {}: the certificate expires in {days} days ({})",
                            l.path.display(),
                            l.validity.1
                        ));
                    }
                }
            }
        }
        if let Some(keys) = &t.ticket_keys
            && let Err(e) = crate::tls::tickets::TicketKeys::load(keys)
        {
            errors.push(format!("`frontends[{i}].tls.ticket_keys`: {e}"));
        }
    }
}
