//! The unfinished line of an agent step's answer, announced live as the tokens arrive and
//! never stored ([`EventKind::Partial`]): the console (here, or attached over the control
//! socket) draws it under the step's log until the line is finished and logged as usual.
//! It is masked as the step's log is, secrets cut by a line break included.

use std::sync::{Arc, Mutex};

use crate::agents::stream::LiveLine;
use crate::secrets::{Redactor, StreamMask};
use crate::spec::StepId;
use crate::store::{Event, EventKind, RunId, Timestamp};

/// Most bytes of an unfinished line announced: its end, where the tokens arrive (the console
/// draws no more of a line than this).
pub const PARTIAL_SHOWN: usize = 4096;

/// One agent step's (or fan-out item's) unfinished line, for its run's subscribers.
pub struct PartialLine {
    run: RunId,
    step: StepId,
    events: super::events::Events,
    redactor: Arc<Redactor>,
    /// The masking state after the last finished line, as the step's stdout log has it.
    mask: Mutex<StreamMask>,
}

impl PartialLine {
    /// The unfinished line of `step` (an item's key for a fan-out item) of `run`.
    pub fn new(
        run: RunId,
        step: StepId,
        events: super::events::Events,
        redactor: Arc<Redactor>,
    ) -> PartialLine {
        PartialLine {
            run,
            step,
            events,
            redactor,
            mask: Mutex::new(StreamMask::default()),
        }
    }

    fn mask(&self) -> std::sync::MutexGuard<'_, StreamMask> {
        self.mask.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LiveLine for PartialLine {
    fn line(&self, text: &str) {
        let mut mask = self.mask();
        let _ = self.redactor.mask_line(&mut mask, text);
    }

    fn partial(&self, text: &str) {
        // Masked as if the line ended here, without moving the state on: the next token may
        // finish a secret this one began.
        let masked = {
            let mut mask = self.mask().clone();
            self.redactor.mask_line(&mut mask, text).into_owned()
        };
        self.events.send(Event {
            run: self.run.clone(),
            ts: Timestamp::now(),
            kind: EventKind::Partial {
                step: self.step.clone(),
                text: tail(&masked, PARTIAL_SHOWN).to_string(),
            },
        });
    }
}

/// The last `max` bytes of `text` at most, starting on a char boundary.
fn tail(text: &str, max: usize) -> &str {
    let mut from = text.len().saturating_sub(max);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    &text[from..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(e) = rx.try_recv() {
            if let EventKind::Partial { step, text } = e.kind {
                out.push(format!("{step}:{text}"));
            }
        }
        out
    }

    #[test]
    fn the_unfinished_line_is_announced_masked_even_across_a_line_break() {
        let tx = crate::engine::events::Events::new(16);
        let mut rx = tx.subscribe();
        let redactor = Arc::new(Redactor::new(["hunter2-secret".to_string()]));
        let live = PartialLine::new(RunId("r1".into()), StepId::from("look"), tx, redactor);
        live.partial("the key is hunt");
        live.partial("the key is hunter2-secret, ok");
        live.line("wrapped: hunter2-");
        live.partial("secret and more");
        assert_eq!(
            said(&mut rx),
            [
                "look:the key is ***",
                "look:the key is ***, ok",
                "look:*** and more"
            ]
        );
    }

    #[test]
    fn a_very_long_unfinished_line_is_announced_by_its_end() {
        let tx = crate::engine::events::Events::new(16);
        let mut rx = tx.subscribe();
        let live = PartialLine::new(
            RunId("r1".into()),
            StepId::from("s"),
            tx,
            Arc::new(Redactor::default()),
        );
        let long = format!("{}é{}", "a".repeat(PARTIAL_SHOWN), "z".repeat(10));
        live.partial(&long);
        let shown = said(&mut rx).remove(0);
        let text = shown.strip_prefix("s:").unwrap();
        assert!(
            text.len() <= PARTIAL_SHOWN && text.ends_with("zzzzzzzzzz"),
            "{text}"
        );
    }
}
