//! The long-running daemon.
