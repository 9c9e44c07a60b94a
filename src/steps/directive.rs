//! What the operator wants of a run right now, as every step executor and the engine's step
//! pipeline watch it, and the one way to wait for a cancel.

use tokio::sync::watch;

/// What the operator wants of a run right now; executors watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    /// Keep going.
    Running,
    /// Freeze (SIGSTOP processes, stop timeout clocks).
    Paused,
    /// Stop everything.
    Cancelled,
}

/// Resolves when the run is cancelled, or when its driver is gone (nobody is left to ask for
/// the result). A pause does not resolve it: a request in flight finishes and its result is held.
pub async fn wait_cancelled(control: &mut watch::Receiver<Directive>) {
    loop {
        if *control.borrow_and_update() == Directive::Cancelled {
            return;
        }
        if control.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `wait_cancelled` has resolved once everything ready has run.
    async fn resolved(rx: &mut watch::Receiver<Directive>) -> bool {
        let wait = wait_cancelled(rx);
        tokio::pin!(wait);
        tokio::select! {
            biased;
            _ = &mut wait => true,
            _ = tokio::task::yield_now() => false,
        }
    }

    #[tokio::test]
    async fn a_pause_does_not_end_the_wait_and_a_cancel_does() {
        let (tx, mut rx) = watch::channel(Directive::Running);
        assert!(!resolved(&mut rx).await);
        tx.send_replace(Directive::Paused);
        assert!(!resolved(&mut rx).await);
        tx.send_replace(Directive::Cancelled);
        assert!(resolved(&mut rx).await);
    }

    #[tokio::test]
    async fn a_cancel_sent_before_the_wait_began_is_seen() {
        let (tx, mut rx) = watch::channel(Directive::Running);
        tx.send_replace(Directive::Cancelled);
        // Already marked seen: the wait must read the current value, not only changes.
        rx.borrow_and_update();
        assert!(resolved(&mut rx).await);
    }

    #[tokio::test]
    async fn the_wait_ends_when_the_run_is_gone() {
        let (tx, mut rx) = watch::channel(Directive::Running);
        drop(tx);
        assert!(resolved(&mut rx).await);
    }
}
