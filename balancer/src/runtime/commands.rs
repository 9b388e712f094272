//! The runtime API's commands as one table: the words that name each, how many arguments it
//! takes, whether it changes something (HAProxy's `admin` level, checked once in
//! `Cli::execute`), its help line, and what it runs. A line that fits no row is answered
//! with the help text, as HAProxy does.

use super::{Cli, Outcome};
use crate::pool::Admin;
use std::sync::atomic::Ordering;

#[derive(Clone, Copy)]
pub(super) enum Args {
    Exactly(usize),
    AtLeast(usize),
}

pub(super) struct Command {
    pub words: &'static [&'static str],
    pub args: Args,
    pub admin: bool,
    /// HAProxy's help line; `None` for commands it does not list.
    pub help: Option<&'static str>,
    pub run: fn(&Cli, &[&str]) -> Result<Outcome, String>,
}

use Args::{AtLeast, Exactly};

fn text(s: String) -> Result<Outcome, String> {
    Ok(Outcome::Text(s))
}

fn first<'a>(a: &[&'a str]) -> Option<&'a str> {
    a.first().copied()
}

/// In HAProxy's help order.
pub(super) const COMMANDS: &[Command] = &[
    Command {
        words: &["add", "server"],
        args: AtLeast(2),
        admin: true,
        help: Some("  add server <bk>/<srv>                   : create a new server"),
        run: |c, a| c.add_server(a[0], a[1], &a[2..]),
    },
    Command {
        words: &["del", "server"],
        args: Exactly(1),
        admin: true,
        help: Some("  del server <bk>/<srv>                   : remove a dynamically added server"),
        run: |c, a| c.del_server(a[0]),
    },
    Command {
        words: &["disable", "server"],
        args: AtLeast(0),
        admin: true,
        help: Some(
            "  disable server (DEPRECATED)             : disable a server for maintenance (use 'set server' instead)",
        ),
        run: |c, a| c.set_state(first(a), Admin::Maint),
    },
    Command {
        words: &["enable", "server"],
        args: AtLeast(0),
        admin: true,
        help: Some("  enable server  (DEPRECATED)             : enable a disabled server (use 'set server' instead)"),
        run: |c, a| c.set_state(first(a), Admin::Ready),
    },
    Command {
        words: &["get", "weight"],
        args: Exactly(1),
        admin: false,
        help: Some("  get weight <bk>/<srv>                   : report a server's current weight"),
        run: |c, a| {
            let (_, s) = c.server(Some(a[0]))?;
            text(format!(
                "{} (initial {})\n",
                s.weight.load(Ordering::Relaxed),
                s.initial_weight
            ))
        },
    },
    Command {
        words: &["set", "server"],
        args: AtLeast(2),
        admin: true,
        help: Some("  set server <bk>/<srv> [opts]            : change a server's state or weight"),
        run: |c, a| c.set_server(a[0], a[1], first(&a[2..])),
    },
    Command {
        words: &["set", "weight"],
        args: Exactly(2),
        admin: true,
        help: Some("  set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)"),
        run: |c, a| {
            let (_, s) = c.server(Some(a[0]))?;
            Cli::set_weight(s, a[1])?;
            text(String::new())
        },
    },
    Command {
        words: &["show", "backend"],
        args: Exactly(0),
        admin: false,
        help: Some("  show backend                            : list backends in the current running config"),
        run: |c, _| text(c.show_backend()),
    },
    Command {
        words: &["show", "info"],
        args: AtLeast(0),
        admin: false,
        help: Some("  show info                               : report information about the running process"),
        run: |c, _| text(c.info()),
    },
    Command {
        words: &["show", "mirror"],
        args: Exactly(0),
        admin: false,
        help: Some(
            "  show mirror                             : mirrored servers: queue, oldest write, written, dropped",
        ),
        run: |c, _| text(c.show_mirror()),
    },
    Command {
        words: &["show", "ssl", "cert"],
        args: AtLeast(0),
        admin: false,
        help: Some("  show ssl cert [<certfile>]              : certificates loaded (all, or one in detail)"),
        run: |c, a| crate::tls::show::certs(&c.acceptors(), first(a)).map(Outcome::Text),
    },
    Command {
        words: &["show", "tls-keys"],
        args: AtLeast(0),
        admin: false,
        help: Some(
            "  show tls-keys [<id>]                    : TLS ticket key files (all, or one file's keys by name)",
        ),
        run: |c, a| crate::tls::show::ticket_keys(&c.acceptors(), first(a)).map(Outcome::Text),
    },
    Command {
        words: &["set", "ssl", "tls-key"],
        args: Exactly(2),
        admin: true,
        help: Some(
            "  set ssl tls-key [id|file] <key>         : set the next TLS key for the <id> or <file> listener to <key>",
        ),
        run: |c, a| crate::tls::show::set_ticket_key(&c.acceptors(), a[0], a[1]).map(Outcome::Text),
    },
    Command {
        words: &["show", "servers", "state"],
        args: AtLeast(0),
        admin: false,
        help: Some(
            "  show servers state [<backend>]          : dump volatile server information (all or for a single backend)",
        ),
        run: |c, a| c.servers_state(first(a)),
    },
    Command {
        words: &["show", "stat"],
        args: AtLeast(0),
        admin: false,
        help: Some("  show stat [<iid> <type> <sid>]          : report counters for each proxy and server"),
        run: |c, a| c.show_stat(a),
    },
    Command {
        words: &["help"],
        args: AtLeast(0),
        admin: false,
        help: Some("  help [<command>]                        : list matching or all commands"),
        run: |_, _| text(format!("The following commands are valid at this level:\n{}\n", help())),
    },
    Command {
        words: &["prompt"],
        args: Exactly(0),
        admin: false,
        help: Some("  prompt                                  : toggle interactive mode with prompt"),
        run: |_, _| Ok(Outcome::Prompt),
    },
    Command {
        words: &["quit"],
        args: Exactly(0),
        admin: false,
        help: Some("  quit                                    : disconnect"),
        run: |_, _| Ok(Outcome::Quit),
    },
    // Accepted and ignored: connections here are not timed out by a CLI timeout.
    Command {
        words: &["set", "timeout", "cli"],
        args: Exactly(1),
        admin: false,
        help: None,
        run: |_, _| text(String::new()),
    },
];

/// The help lines, one per listed command.
pub(super) fn help() -> String {
    let lines: Vec<&str> = COMMANDS.iter().filter_map(|c| c.help).collect();
    lines.join("\n")
}

/// The command `w` names, with its arguments, when their number fits.
pub(super) fn find<'a, 'w>(w: &'a [&'w str]) -> Option<(&'static Command, &'a [&'w str])> {
    COMMANDS.iter().find_map(|c| {
        let args = w.strip_prefix(c.words)?;
        let fits = match c.args {
            Exactly(n) => args.len() == n,
            AtLeast(n) => args.len() >= n,
        };
        fits.then_some((c, args))
    })
}
