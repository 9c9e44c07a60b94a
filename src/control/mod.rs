//! The control socket: while one baton owns the store, other invocations ask it.
//!
//! sled lets one process open the store. That process (a console, `baton serve`, `baton run`,
//! `resume`, `retry`) listens on `control.sock` in the store directory ([`server`]); every
//! other baton reaches it through [`Remote`] ([`client`]), which implements the same
//! `RunReader` and `RunControl` as the engine, one request per method ([`protocol`]), after a
//! hello that checks both sides speak the same protocol version. Events come as a stream of
//! lines on a connection of their own. Only the lock holder serves, so a socket file left by a
//! dead owner is replaced by the next one, and a client that finds nobody listening reports the
//! lock error it started from. The socket is readable and writable by its user only, and each
//! side checks the other's uid as the kernel gives it.

pub mod client;
pub mod protocol;
pub mod server;

use std::path::{Path, PathBuf};

pub use client::{Client, Remote};
pub use protocol::PROTOCOL_VERSION;
pub use server::{Role, Server, serve};

/// The socket of a store directory.
pub fn socket_path(store_dir: &Path) -> PathBuf {
    store_dir.join("control.sock")
}
