//! Keys of the Conversation tab: move between turns, calls and results (past the last item
//! it follows the newest again), fold and unfold a call's result, copy what is selected.

use super::app::App;
use super::conversation::{Item, Turn, items};
use super::model::{Detail, Pane, Screen, Tab};

impl App {
    /// Whether the keys move the Conversation tab.
    pub(crate) fn in_conversation(&self) -> bool {
        self.model.screen == Screen::Detail
            && self
                .model
                .detail
                .as_ref()
                .is_some_and(|d| (d.pane, d.tab) == (Pane::Tab, Tab::Conversation))
    }

    /// Moves the selection `delta` items; past the last one the tab follows the newest.
    pub(crate) fn talk_move(&mut self, delta: isize) {
        let Some(d) = self.model.detail.as_mut() else {
            return;
        };
        let Some((key, turns)) = d.selected_turns() else {
            return;
        };
        let len = items(&turns).len();
        let from = d.selected_talk_item(&key, &items(&turns)).unwrap_or(len);
        let to = (from as isize).saturating_add(delta).clamp(0, len as isize) as usize;
        d.talk.step = Some(key);
        d.talk.selected = (to < len).then_some(to);
    }

    /// Folds (`Some(true)`), unfolds (`Some(false)`) or toggles (`None`) the result of the
    /// selected call (or of the call whose result is selected).
    pub(crate) fn talk_fold(&mut self, folded: Option<bool>) {
        let Some(d) = self.model.detail.as_mut() else {
            return;
        };
        let Some(id) = selected(d).and_then(|(turns, item)| match item {
            Item::Call(t, c) | Item::Result(t, c) => Some(turns[t].calls[c].id.clone()),
            Item::Turn(_) => None,
        }) else {
            return;
        };
        let unfold = match folded {
            Some(folded) => !folded,
            None => !d.talk.unfolded.contains(&id),
        };
        if unfold {
            d.talk.unfolded.insert(id);
        } else {
            d.talk.unfolded.remove(&id);
        }
    }
}

/// What `y` copies in the Conversation tab: the selected turn's text, call's arguments (as
/// run, when edited) or result.
pub(crate) fn talk_copy(d: &Detail) -> Option<String> {
    let (turns, item) = selected(d)?;
    Some(match item {
        Item::Turn(t) => turns[t].text.clone(),
        Item::Call(t, c) => {
            let call = &turns[t].calls[c];
            let args = call.edited.as_ref().map_or(&call.arguments, |(a, _)| a);
            serde_json::to_string_pretty(args).unwrap_or_else(|_| args.to_string())
        }
        Item::Result(t, c) => turns[t].calls[c].result.as_ref()?.0.clone(),
    })
}

/// The selected step's turns and the selected item among them.
fn selected(d: &Detail) -> Option<(Vec<Turn>, Item)> {
    let (key, turns) = d.selected_turns()?;
    let items = items(&turns);
    let item = *items.get(d.selected_talk_item(&key, &items)?)?;
    Some((turns, item))
}
