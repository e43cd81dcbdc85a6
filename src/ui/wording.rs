//! The store's and the sync's outcomes worded for the volunteer, with the words of the
//! current language ([`Strings`]): here, above the store and the sync, so that `i18n`
//! knows neither.

use crate::i18n::{fill, Strings};
use crate::store::{StoreError, Wiped};
use crate::sync::SyncError;

impl Strings {
    /// Words a store error for the volunteer; never includes SQLite's own message.
    pub fn store_error(&self, e: &StoreError) -> String {
        let i = match e {
            StoreError::CannotOpen => 0,
            StoreError::Locked => 1,
            StoreError::DiskFull => 2,
            StoreError::Corrupt => 3,
            StoreError::ReadOnly => 4,
            StoreError::TooNew(_) => 5,
            StoreError::NotFound => 6,
            StoreError::Conflict => 7,
            StoreError::Decode(_) => 8,
            StoreError::Other(_) => 9,
            StoreError::WrongKey => 10,
            StoreError::KeyUnavailable(_) => 11,
        };
        self.store_errors[i].to_owned()
    }

    /// Words a sync failure in this language. Only a refusal the app has no words of its
    /// own for shows the server's message (which is in Vietnamese).
    pub fn sync_error(&self, e: &SyncError) -> String {
        match e {
            SyncError::Refused(_, m) if !m.is_empty() => m.clone(),
            _ => self.sync_errors[e.index()].to_owned(),
        }
    }

    /// What the app did when the server revoked the device.
    pub fn revoked_wiped(&self, w: &Wiped) -> String {
        let date = w.at.with_timezone(&chrono::Local).format("%d/%m/%Y").to_string();
        fill(self.revoked_wiped, w.erased)
            .replace("{rejected}", &w.rejected_erased.to_string())
            .replace("{drafts}", &w.drafts_deleted.to_string())
            .replace("{kept}", &w.kept_unsent.to_string())
            .replace("{date}", &date)
    }
}
