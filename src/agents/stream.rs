//! An agent's answer as it streams: whole lines go to the step's log (stored as every log line
//! is), and the line not finished yet goes to a [`LiveLine`] as each token arrives, so an
//! operator watches the answer being written. The unfinished line is never stored: a turn is
//! durable when it ends (see [`mod@super::act`]), not token by token.

use std::sync::Arc;

use crate::store::LogStream;

/// Where the line being written goes, live (the engine masks it and announces it).
pub trait LiveLine: Send + Sync {
    /// A line of the answer was finished and logged: the unfinished line starts afresh after
    /// it (a secret cut by the line break is masked on both sides, as in the log).
    fn line(&self, text: &str);
    /// The unfinished line is now `text`; empty when there is none any more.
    fn partial(&self, text: &str);
}

/// Turns streamed text into whole log lines, and shows the rest live. A restart discards the
/// unfinished line; dropping it (the step ended, was cancelled or timed out) takes the live
/// line off the screen.
pub struct AnswerLines {
    pending: String,
    live: Option<Arc<dyn LiveLine>>,
    /// Whether the live line shows something now.
    shown: bool,
}

impl AnswerLines {
    /// Lines for the log, and the unfinished one for `live` when given.
    pub fn new(live: Option<Arc<dyn LiveLine>>) -> AnswerLines {
        AnswerLines {
            pending: String::new(),
            live,
            shown: false,
        }
    }

    /// Takes streamed `text`: every line it finishes is logged, the rest is shown live.
    pub fn push(&mut self, text: &str, log: &dyn Fn(LogStream, &str)) {
        if text.is_empty() {
            return;
        }
        self.pending.push_str(text);
        // Only the new text can hold a line break: a long line is not searched again per token.
        if text.contains('\n') {
            while let Some(i) = self.pending.find('\n') {
                let line: String = self.pending.drain(..=i).collect();
                self.commit(line.trim_end_matches(['\n', '\r']), log);
            }
        }
        self.show();
    }

    /// The answer (or the turn) ended: what is left is logged as a line.
    pub fn finish(&mut self, log: &dyn Fn(LogStream, &str)) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.commit(&line, log);
        }
        self.show();
    }

    /// The provider failed after its answer began: the unfinished line is void.
    pub fn discard(&mut self) {
        self.pending.clear();
        self.show();
    }

    fn commit(&mut self, line: &str, log: &dyn Fn(LogStream, &str)) {
        log(LogStream::Stdout, line);
        if let Some(live) = &self.live {
            live.line(line);
        }
    }

    /// Tells `live` the unfinished line, unless it is empty and nothing is shown.
    fn show(&mut self) {
        let Some(live) = &self.live else { return };
        if self.pending.is_empty() && !self.shown {
            return;
        }
        live.partial(&self.pending);
        self.shown = !self.pending.is_empty();
    }
}

impl Drop for AnswerLines {
    fn drop(&mut self) {
        if self.shown
            && let Some(live) = &self.live
        {
            live.partial("");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// What a live line was told, in order: `line:…` and `partial:…`.
    #[derive(Default)]
    struct Told(Mutex<Vec<String>>);

    impl LiveLine for Told {
        fn line(&self, text: &str) {
            self.0.lock().unwrap().push(format!("line:{text}"));
        }
        fn partial(&self, text: &str) {
            self.0.lock().unwrap().push(format!("partial:{text}"));
        }
    }

    #[test]
    fn tokens_show_live_until_their_line_is_finished_and_logged() {
        let told = Arc::new(Told::default());
        let logged = Mutex::new(Vec::new());
        let log = |_: LogStream, t: &str| logged.lock().unwrap().push(t.to_string());
        let mut lines = AnswerLines::new(Some(told.clone()));
        lines.push("The disk", &log);
        lines.push(" is full", &log);
        lines.push(".\r\nLogs", &log);
        lines.push("\n", &log);
        lines.push("Done", &log);
        lines.finish(&log);
        assert_eq!(
            *logged.lock().unwrap(),
            ["The disk is full.", "Logs", "Done"]
        );
        assert_eq!(
            *told.0.lock().unwrap(),
            [
                "partial:The disk",
                "partial:The disk is full",
                "line:The disk is full.",
                "partial:Logs",
                "line:Logs",
                "partial:",
                "partial:Done",
                "line:Done",
                "partial:",
            ]
        );
    }

    #[test]
    fn a_restart_or_a_drop_takes_the_unfinished_line_off_the_screen() {
        let told = Arc::new(Told::default());
        let log = |_: LogStream, _: &str| {};
        let mut lines = AnswerLines::new(Some(told.clone()));
        lines.push("half an ans", &log);
        lines.discard();
        lines.push("again", &log);
        drop(lines);
        assert_eq!(
            *told.0.lock().unwrap(),
            [
                "partial:half an ans",
                "partial:",
                "partial:again",
                "partial:"
            ]
        );
    }
}
