//! Settings inside a transaction block, as PostgreSQL keeps them: a `SET`
//! made in a block lasts if the block commits and is undone if it rolls
//! back (or by a `ROLLBACK TO` a savepoint set before it); `SET LOCAL`
//! and `set_config(…, true)` last until the block ends, either way. A
//! local change outside a block does nothing (PostgreSQL warns).
//!
//! Nothing is copied for a block that changes no setting: the block's
//! [`BlockSettings`] are made at its first change.

use std::collections::BTreeMap;

use super::Session;

/// The session's settings, by lower-case name.
pub(super) type Settings = BTreeMap<String, String>;

/// What a block changed in the settings.
#[derive(Clone, Debug)]
pub(super) struct BlockSettings {
    /// The settings when the block began: what ROLLBACK restores.
    at_begin: Settings,
    /// What they will be if the block commits (its SETs without its SET
    /// LOCALs).
    committed: Settings,
}

/// What ROLLBACK TO a savepoint restores: the settings and their
/// committed form when it was set (none: as at the block's beginning).
pub(super) type SavedSettings = Option<(Settings, Settings)>;

impl Session {
    /// Applies `change` to the settings — until the block ends when
    /// `local` — and reads what they say again. False when a local change
    /// outside a block did nothing.
    pub(super) fn change_settings(&mut self, local: bool, change: impl Fn(&mut Settings)) -> bool {
        match &mut self.open {
            None if local => return false,
            None => {}
            Some(open) => {
                let block = open.settings.get_or_insert_with(|| BlockSettings {
                    at_begin: self.info.settings.clone(),
                    committed: self.info.settings.clone(),
                });
                if !local {
                    change(&mut block.committed);
                }
            }
        }
        change(&mut self.info.settings);
        self.read_defaults();
        true
    }

    /// The block that changed `block` ended, `committed` or not: its SETs
    /// stay or are undone, its SET LOCALs are undone.
    pub(super) fn block_settings_ended(&mut self, block: Option<BlockSettings>, committed: bool) {
        if let Some(b) = block {
            self.info.settings = if committed { b.committed } else { b.at_begin };
            self.read_defaults();
        }
    }

    /// What a savepoint set now keeps.
    pub(super) fn saved_settings(&self) -> SavedSettings {
        let block = self.open.as_ref()?.settings.as_ref()?;
        Some((self.info.settings.clone(), block.committed.clone()))
    }

    /// ROLLBACK TO a savepoint that kept `saved`: the settings go back to
    /// what they were when it was set.
    pub(super) fn restore_settings(&mut self, saved: SavedSettings) {
        let Some(block) = self.open.as_mut().and_then(|o| o.settings.as_mut()) else {
            return;
        };
        let (now, committed) =
            saved.unwrap_or_else(|| (block.at_begin.clone(), block.at_begin.clone()));
        block.committed = committed;
        self.info.settings = now;
        self.read_defaults();
    }
}
