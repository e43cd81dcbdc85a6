//! Volunteers' PINs on this device, and who may use it at all.
//!
//! The rules of a PIN (format, slow-down, blocking) are `domain::pin`; this module keeps the
//! hashes and the counts of wrong tries on disk, so restarting the app resets nothing.
//!
//! A found tablet must open for no one. Before enrolment (practice on the sample commune)
//! anyone picks a name and chooses a PIN: there is nothing real to protect. Once enrolled,
//! the device offers only the volunteers the office assigned to it ([`ASSIGNED`], from the
//! server's `Assignment` change), and a volunteer with no PIN here needs an authority to
//! choose one ([`Authority`]): a team lead's PIN, or the one-time code the office printed
//! for that volunteer and this device (its argon2id hash arrives as a `PinCode` change and is
//! spent on use). A team lead's unblock is such an authority too. Authorised but not yet
//! chosen is a `pins` row with an empty hash. PINs survive enrolment.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{get_setting, parse_ts, ts, Result, Store};
use crate::domain::pin;
use crate::domain::Volunteer;

/// Setting: the volunteers the office assigned to this device (JSON list of ids).
pub(super) const ASSIGNED: &str = "assigned_volunteers";

/// Setting key of the office's one-time PIN code for a volunteer.
pub(super) fn pin_code_key(volunteer_id: &str) -> String {
    format!("pin_code:{volunteer_id}")
}

/// An office PIN code as the device keeps it: only the slow hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct PinCode {
    pub hash: String,
    pub expires_at: DateTime<Utc>,
}

/// Where a volunteer's PIN stands before a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinState {
    /// No PIN yet, and the volunteer may choose one now.
    NotSet,
    /// No PIN yet on an enrolled device: choosing one needs a team lead's PIN or the
    /// office's one-time code ([`Store::authorise_first_pin`]).
    NeedsAuthority,
    /// The office has not assigned this volunteer to this device.
    NotHere,
    /// A try may be made now; `failures` wrong tries in a row so far.
    Ready { failures: u32 },
    /// Too many wrong tries: the next is possible in `secs` seconds.
    Wait { secs: u64, failures: u32 },
    /// Only the team lead can unblock.
    Blocked,
}

/// The answer to a PIN try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinCheck {
    Right,
    /// No PIN is set (or, for an unblock, the helper is not a team lead).
    NotSet,
    /// Wrong; the next try is possible after `wait_secs` (0: at once).
    Wrong {
        failures: u32,
        wait_secs: u64,
    },
    /// Not checked: too soon after the last wrong try.
    Wait {
        secs: u64,
    },
    Blocked,
    /// A first PIN here needs an authority first.
    NeedsAuthority,
    /// The office code is wrong, used or expired (said alike).
    CodeRefused,
    /// The volunteer is not assigned to this device.
    NotHere,
}

/// What lets a volunteer choose a first PIN on an enrolled device.
#[derive(Debug, Clone, Copy)]
pub enum Authority<'a> {
    /// A team lead of this device, with the lead's own PIN (wrong tries count against the lead).
    Lead { lead_id: &'a str, lead_pin: &'a str },
    /// The one-time code the office printed for this volunteer and this device.
    OfficeCode(&'a str),
}

impl Store {
    /// True once the device belongs to a real commune (not the sample).
    fn enrolled(&self) -> Result<bool> {
        Ok(!Store::sample_mode(&self.conn())?)
    }

    /// The volunteers this device offers: on an enrolled device those the office assigned
    /// to it (none until it has), in the commune's order; before enrolment all of them.
    pub fn volunteers_here(&self) -> Result<Vec<Volunteer>> {
        let reference = self.reference()?;
        if !self.enrolled()? {
            return Ok(reference.volunteers);
        }
        let assigned = self.assigned()?;
        Ok(reference.volunteers.into_iter().filter(|v| assigned.contains(&v.id)).collect())
    }

    fn assigned(&self) -> Result<Vec<String>> {
        let json = get_setting(&self.conn(), ASSIGNED)?;
        Ok(json.map(|j| serde_json::from_str(&j)).transpose()?.unwrap_or_default())
    }

    /// May this volunteer use the device at all?
    fn is_here(&self, volunteer_id: &str) -> Result<bool> {
        Ok(!self.enrolled()? || self.assigned()?.iter().any(|v| v == volunteer_id))
    }

    /// Where a volunteer's PIN stands.
    pub fn pin_state(&self, volunteer_id: &str) -> Result<PinState> {
        if !self.is_here(volunteer_id)? {
            return Ok(PinState::NotHere);
        }
        Ok(match self.pin_row(volunteer_id)? {
            None if self.enrolled()? => PinState::NeedsAuthority,
            None => PinState::NotSet,
            Some((hash, ..)) if hash.is_empty() => PinState::NotSet,
            Some((_, failures, last)) => self.pin_state_of(failures, last),
        })
    }

    fn pin_row(&self, volunteer_id: &str) -> Result<Option<(String, u32, Option<String>)>> {
        Ok(self
            .conn()
            .query_row("SELECT hash, failures, last_failure_at FROM pins WHERE volunteer_id = ?", [volunteer_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?)
    }

    fn pin_state_of(&self, failures: u32, last_failure_at: Option<String>) -> PinState {
        if pin::is_blocked(failures) {
            return PinState::Blocked;
        }
        let since = last_failure_at
            .and_then(|t| parse_ts(&t).ok())
            .map(|t| (self.now() - t).num_seconds().max(0) as u64)
            .unwrap_or(u64::MAX);
        match pin::wait_secs(failures).checked_sub(since) {
            Some(left) if left > 0 => PinState::Wait { secs: left, failures },
            _ => PinState::Ready { failures },
        }
    }

    /// Sets a volunteer's first (or, after a team lead's unblock, new) PIN, checked with
    /// [`pin::check_new`] by the caller. Only when [`Store::pin_state`] is `NotSet`:
    /// otherwise nothing changes and the answer says why. Hashing takes a few hundred
    /// milliseconds: call it off the UI thread.
    pub fn set_pin(&self, volunteer_id: &str, new_pin: &str) -> Result<PinCheck> {
        match self.pin_state(volunteer_id)? {
            PinState::NotSet => {}
            PinState::NotHere => return Ok(PinCheck::NotHere),
            _ => return Ok(PinCheck::NeedsAuthority),
        }
        let hash = pin::hash(new_pin);
        self.conn().execute(
            "INSERT INTO pins (volunteer_id, hash, failures, last_failure_at) VALUES (?, ?, 0, NULL)
             ON CONFLICT (volunteer_id) DO UPDATE SET hash = excluded.hash, failures = 0, last_failure_at = NULL",
            params![volunteer_id, hash],
        )?;
        Ok(PinCheck::Right)
    }

    /// Lets a volunteer with no PIN on this enrolled device choose one, on a team lead's
    /// PIN or the office's one-time code for them (spent when right). `Right` when they may
    /// now choose ([`Store::set_pin`]).
    pub fn authorise_first_pin(&self, volunteer_id: &str, authority: Authority) -> Result<PinCheck> {
        match self.pin_state(volunteer_id)? {
            PinState::NeedsAuthority => {}
            PinState::NotSet => return Ok(PinCheck::Right),
            PinState::NotHere => return Ok(PinCheck::NotHere),
            _ => return Ok(PinCheck::NeedsAuthority),
        }
        let check = match authority {
            Authority::Lead { lead_id, lead_pin } => {
                let is_lead = self.reference()?.volunteer(lead_id).is_some_and(|v| v.lead);
                if !is_lead || lead_id == volunteer_id || !self.is_here(lead_id)? {
                    return Ok(PinCheck::NotSet);
                }
                self.check_pin(lead_id, lead_pin)?
            }
            Authority::OfficeCode(code) => {
                let key = pin_code_key(volunteer_id);
                let stored: Option<PinCode> =
                    get_setting(&self.conn(), &key)?.map(|j| serde_json::from_str(&j)).transpose()?;
                let normal: String =
                    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
                match stored {
                    Some(c) if c.expires_at > self.now() && pin::verify(&c.hash, &normal) => {
                        self.conn().execute("DELETE FROM settings WHERE key = ?", [&key])?;
                        PinCheck::Right
                    }
                    _ => PinCheck::CodeRefused,
                }
            }
        };
        if check == PinCheck::Right {
            self.conn().execute(
                "INSERT INTO pins (volunteer_id, hash, failures, last_failure_at) VALUES (?, '', 0, NULL)
                 ON CONFLICT (volunteer_id) DO NOTHING",
                [volunteer_id],
            )?;
        }
        Ok(check)
    }

    /// Tries a volunteer's PIN. A try while the volunteer must wait, or is blocked, is not
    /// checked at all (so guessing gains nothing); a wrong PIN counts, a right one clears
    /// the count. The count is on disk: restarting the app does not reset it.
    pub fn check_pin(&self, volunteer_id: &str, given: &str) -> Result<PinCheck> {
        if !self.is_here(volunteer_id)? {
            return Ok(PinCheck::NotHere);
        }
        let Some((hash, failures, last)) = self.pin_row(volunteer_id)? else { return Ok(PinCheck::NotSet) };
        if hash.is_empty() {
            return Ok(PinCheck::NotSet);
        }
        match self.pin_state_of(failures, last) {
            PinState::Blocked => return Ok(PinCheck::Blocked),
            PinState::Wait { secs, .. } => return Ok(PinCheck::Wait { secs }),
            _ => {}
        }
        if pin::verify(&hash, given) {
            self.conn().execute(
                "UPDATE pins SET failures = 0, last_failure_at = NULL WHERE volunteer_id = ?",
                [volunteer_id],
            )?;
            return Ok(PinCheck::Right);
        }
        let failures = failures + 1;
        self.conn().execute(
            "UPDATE pins SET failures = ?, last_failure_at = ? WHERE volunteer_id = ?",
            params![failures, ts(self.now()), volunteer_id],
        )?;
        Ok(if pin::is_blocked(failures) {
            PinCheck::Blocked
        } else {
            PinCheck::Wrong { failures, wait_secs: pin::wait_secs(failures) }
        })
    }

    /// A team lead unblocks a volunteer with the lead's own PIN: the volunteer's PIN is
    /// cleared, so they choose a new one (the lead's PIN is the authority for it). The
    /// lead's wrong tries count against the lead.
    pub fn unblock_pin(&self, volunteer_id: &str, lead_id: &str, lead_pin: &str) -> Result<PinCheck> {
        let is_lead = self.reference()?.volunteer(lead_id).is_some_and(|v| v.lead);
        if !is_lead || lead_id == volunteer_id || !self.is_here(lead_id)? {
            return Ok(PinCheck::NotSet);
        }
        let check = self.check_pin(lead_id, lead_pin)?;
        if check == PinCheck::Right {
            self.conn().execute(
                "UPDATE pins SET hash = '', failures = 0, last_failure_at = NULL WHERE volunteer_id = ?",
                [volunteer_id],
            )?;
        }
        Ok(check)
    }
}
