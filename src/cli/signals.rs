//! The signals an owner answers without a console: Ctrl-C, and the hang-up or SIGTERM of a
//! dropped SSH session or a service manager. Handlers are installed before any run starts, so
//! none of them kills baton with its steps' processes still running.
//!
//! Exit codes after one of them stopped a headless run: 128 + the signal (130 for a second
//! Ctrl-C, 129 for SIGHUP, 143 for SIGTERM); the run is left interrupted and resumable.

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Which signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGHUP (the terminal or SSH session went away).
    HangUp,
    /// SIGTERM (asked to stop).
    Terminate,
}

impl Stop {
    /// The conventional exit code of a process ended by this signal.
    pub fn exit_code(self) -> i32 {
        128 + match self {
            Stop::Interrupt => libc::SIGINT,
            Stop::HangUp => libc::SIGHUP,
            Stop::Terminate => libc::SIGTERM,
        }
    }

    /// Its name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::HangUp => "SIGHUP",
            Stop::Terminate => "SIGTERM",
        }
    }
}

/// SIGINT, SIGHUP and SIGTERM, caught.
pub struct Signals {
    int: Signal,
    hup: Signal,
    term: Signal,
}

impl Signals {
    /// Catches the three signals (on `rt`, which delivers them).
    pub fn install(rt: &tokio::runtime::Runtime) -> anyhow::Result<Signals> {
        let _guard = rt.enter();
        let catch = |kind: SignalKind, name: &str| {
            signal(kind).with_context(|| format!("cannot install the {name} handler"))
        };
        Ok(Signals {
            int: catch(SignalKind::interrupt(), "SIGINT")?,
            hup: catch(SignalKind::hangup(), "SIGHUP")?,
            term: catch(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// The next signal.
    pub async fn next(&mut self) -> Stop {
        tokio::select! {
            _ = self.int.recv() => Stop::Interrupt,
            _ = self.hup.recv() => Stop::HangUp,
            _ = self.term.recv() => Stop::Terminate,
        }
    }
}
