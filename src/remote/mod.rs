//! Steps on other hosts (`on: NAME`): which host a name means (`host.rs`), the system `ssh`
//! with one shared connection per host (`ssh.rs`), and the small POSIX-sh programs that run
//! there (`script.rs`). The executor of one remote attempt is `steps/remote.rs`.

pub mod host;
pub mod leftovers;
pub mod script;
pub mod ssh;

pub use host::{Host, HostFields, MaxSessions, SshSection};
pub use ssh::{ConnectError, Ssh};
