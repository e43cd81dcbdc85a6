//! What the sync reads and writes: the outbox and its settling from the server's answer, the
//! enrolment, a pulled page of changes with its cursor (in the store's terms, [`Pulled`]),
//! and the wipe when the server says the device is revoked.

use super::*;

impl Store {
    pub fn outbox_summary(&self) -> Result<OutboxSummary> {
        let conn = self.conn();
        // A real record is pending exactly while its outbox row exists (saved together,
        // settled together), so the queue's small table answers without reading records.
        let pending: i64 = conn.prepare_cached("SELECT COUNT(*) FROM outbox")?.query_row([], |r| r.get(0))?;
        let rejected: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM records WHERE sample = 0 AND sync_state = 'rejected'")?
            .query_row([], |r| r.get(0))?;
        Ok(OutboxSummary { pending: pending as u32, rejected: rejected as u32 })
    }

    /// How many practice records (made before the device was enrolled) are on the device.
    pub fn practice_count(&self) -> Result<u32> {
        let conn = self.conn();
        let n: i64 =
            conn.prepare_cached("SELECT COUNT(*) FROM records WHERE sample = 1")?.query_row([], |r| r.get(0))?;
        Ok(n as u32)
    }

    /// The outbox in queue order: (record id, version to send). Practice records never
    /// appear here.
    pub fn outbox(&self, limit: usize) -> Result<Vec<(Uuid, i64)>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT record_id, version FROM outbox ORDER BY queued_at, record_id LIMIT ?")?;
        let rows = stmt.query_map([limit as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        rows.map(|r| {
            let (id, v) = r?;
            Ok((Uuid::parse_str(&id).map_err(|e| StoreError::Decode(e.to_string()))?, v))
        })
        .collect()
    }

    /// The server acknowledged `version` of a record: its outbox row leaves, unless a newer
    /// version was queued meanwhile.
    pub fn mark_sent(&self, id: Uuid, version: i64) -> Result<()> {
        self.settle(id, version, SyncState::Sent, None)
    }

    /// The server refused `version` of a record with `reason`; it leaves the queue until
    /// the volunteer fixes it.
    pub fn mark_rejected(&self, id: Uuid, version: i64, reason: &str) -> Result<()> {
        self.settle(id, version, SyncState::Rejected, Some(reason))
    }

    pub(super) fn settle(&self, id: Uuid, version: i64, state: SyncState, reason: Option<&str>) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let removed =
            tx.execute("DELETE FROM outbox WHERE record_id = ? AND version = ?", params![id.to_string(), version])?;
        if removed == 1 {
            tx.execute(
                "UPDATE records SET sync_state = ?, reject_reason = ? WHERE id = ? AND version = ?",
                params![state.code(), reason, id.to_string(), version],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Where and as whom this device syncs, once enrolled.
    pub fn enrolment(&self) -> Result<Option<Enrolment>> {
        let conn = self.conn();
        let get = |k| get_setting(&conn, k);
        match (get("server_url")?, get("commune_code")?, get("server_token")?, get("server_device_id")?) {
            (Some(server_url), Some(commune), Some(token), Some(device_id)) => {
                Ok(Some(Enrolment { server_url, commune, token, device_id, cert_pin: get("server_cert_pin")? }))
            }
            _ => Ok(None),
        }
    }

    /// Becomes a device of a real commune: keeps the server's address, certificate pin,
    /// token and sealing key, and replaces the sample commune by the commune's reference
    /// data, all at once. Practice records stay on the device, hidden, and are never sent.
    /// Each volunteer keeps the PIN they chose.
    pub fn enrol(&self, enrolment: &Enrolment, seal_key: &SealKey, reference: &ReferenceData) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        set_setting(&tx, "server_url", &enrolment.server_url)?;
        set_setting(&tx, "commune_code", &enrolment.commune)?;
        set_setting(&tx, "server_token", &enrolment.token)?;
        set_setting(&tx, "server_device_id", &enrolment.device_id)?;
        match &enrolment.cert_pin {
            Some(pin) => set_setting(&tx, "server_cert_pin", pin)?,
            None => {
                tx.execute("DELETE FROM settings WHERE key = 'server_cert_pin'", [])?;
            }
        }
        set_setting(&tx, "seal_key", &seal_key.to_hex())?;
        set_setting(&tx, "pull_cursor", "0")?;
        // A revocation is over.
        tx.execute("DELETE FROM settings WHERE key = 'revoked'", [])?;
        let mut reference = reference.clone();
        reference.commune.sample = false;
        write_reference(&tx, &reference)?;
        // The practice volunteer list is gone; whoever holds the device chooses again.
        tx.execute("DELETE FROM settings WHERE key = 'current_volunteer'", [])?;
        tx.execute("DELETE FROM drafts", [])?;
        tx.commit()?;
        Ok(())
    }

    /// The oldest queued records, at their queued versions, for the next push.
    pub fn outbox_batch(&self, limit: usize) -> Result<Vec<Record>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM outbox o JOIN records r ON r.id = o.record_id AND r.version = o.version
             ORDER BY o.queued_at, o.record_id LIMIT ?",
            RECORD_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ")
        ))?;
        let rows = stmt.query_map([limit as i64], read_row)?;
        rows.map(|r| r?).collect()
    }

    /// Applies a push's answers in one transaction: acknowledged versions leave the outbox,
    /// rejected ones go to quarantine with the server's reason, the rest stay queued.
    pub fn settle_push(&self, settled: &[Settled]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for s in settled {
            let (id, version, state, reason) = match s {
                Settled::Sent { id, version } => (id, version, SyncState::Sent, None),
                Settled::Rejected { id, version, reason } => (id, version, SyncState::Rejected, Some(reason.as_str())),
            };
            let removed = tx
                .prepare_cached("DELETE FROM outbox WHERE record_id = ? AND version = ?")?
                .execute(params![id.to_string(), version])?;
            if removed == 1 {
                tx.prepare_cached("UPDATE records SET sync_state = ?, reject_reason = ? WHERE id = ? AND version = ?")?
                    .execute(params![state.code(), reason, id.to_string(), version])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Applies a page of the server's change log and advances the cursor, together.
    pub fn apply_pull(&self, changes: &[Pulled], cursor: i64) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for change in changes {
            match change {
                Pulled::Reference(reference) => {
                    let mut reference = reference.clone();
                    reference.commune.sample = false;
                    write_reference(&tx, &reference)?;
                }
                Pulled::Erase(id) => {
                    erase_personal(&tx, *id)?;
                }
                Pulled::Coverage { hamlet_id, helped_signed } => {
                    tx.execute(
                        "INSERT INTO server_coverage (hamlet_id, helped_signed) VALUES (?, ?)
                         ON CONFLICT (hamlet_id) DO UPDATE SET helped_signed = excluded.helped_signed",
                        params![hamlet_id, helped_signed],
                    )?;
                }
                Pulled::Assignment(volunteers) => {
                    set_setting(&tx, pins::ASSIGNED, &serde_json::to_string(volunteers)?)?;
                }
                Pulled::PinCode { volunteer_id, hash, expires_at } => {
                    let code = pins::PinCode { hash: hash.clone(), expires_at: *expires_at };
                    set_setting(&tx, &pins::pin_code_key(volunteer_id), &serde_json::to_string(&code)?)?;
                }
            }
        }
        set_setting(&tx, "pull_cursor", &cursor.to_string())?;
        tx.commit()?;
        if changes.iter().any(|c| matches!(c, Pulled::Erase(_))) {
            // Old page images of the erased details may still sit in the WAL: fold it in.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    pub fn pull_cursor(&self) -> Result<i64> {
        Ok(self.setting("pull_cursor")?.and_then(|s| s.parse().ok()).unwrap_or(0))
    }

    /// The server said this device is revoked: erases the personal details of every record
    /// the server already has (sent, nothing newer queued) and of every record it refused
    /// (quarantined: it can never be sent from here again), deletes every draft, keeps the
    /// unsent ones (in the encrypted store, to be handed over), and remembers what it did
    /// for the home screen. Running it again erases nothing more and keeps the first date.
    pub fn wipe_after_revocation(&self) -> Result<Wiped> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let erase_in = |state: &str| -> Result<u32> {
            let ids: Vec<String> = tx
                .prepare(
                    "SELECT id FROM records WHERE sample = 0 AND sync_state = ?
                     AND id NOT IN (SELECT record_id FROM outbox)",
                )?
                .query_map([state], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut erased = 0;
            for id in &ids {
                let id = Uuid::parse_str(id).map_err(|e| StoreError::Decode(e.to_string()))?;
                erased += erase_personal(&tx, id)? as u32;
            }
            Ok(erased)
        };
        let erased = erase_in(SyncState::Sent.code())?;
        let rejected_erased = erase_in(SyncState::Rejected.code())?;
        let drafts_deleted = tx.execute("DELETE FROM drafts", [])? as u32;
        let kept_unsent: u32 = tx.query_row(
            "SELECT count(*) FROM records WHERE sample = 0 AND id IN (SELECT record_id FROM outbox)",
            [],
            |r| r.get(0),
        )?;
        let previous: Option<Wiped> = get_setting(&tx, "revoked")?.and_then(|s| serde_json::from_str::<Wiped>(&s).ok());
        let wiped = Wiped {
            at: previous.as_ref().map(|p| p.at).unwrap_or_else(|| self.now()),
            erased: previous.as_ref().map(|p| p.erased).unwrap_or(0) + erased,
            rejected_erased: previous.as_ref().map(|p| p.rejected_erased).unwrap_or(0) + rejected_erased,
            drafts_deleted: previous.as_ref().map(|p| p.drafts_deleted).unwrap_or(0) + drafts_deleted,
            kept_unsent,
        };
        set_setting(&tx, "revoked", &serde_json::to_string(&wiped)?)?;
        tx.commit()?;
        // Old page images of the erased details may still sit in the WAL: fold it in.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(wiped)
    }

    /// What [`Store::wipe_after_revocation`] did, if the device was revoked.
    pub fn revocation(&self) -> Result<Option<Wiped>> {
        Ok(self.setting("revoked")?.and_then(|s| serde_json::from_str(&s).ok()))
    }
}

/// Drops a record's personal details everywhere on the device: the person helped and the
/// free text (`Body::erase_personal`), the void reason, every replaced version in its
/// history, and a draft of it. The record keeps its counts and is not re-queued (the server
/// erased its own copy first). True if the record had personal details.
pub(super) fn erase_personal(tx: &Connection, id: Uuid) -> Result<bool> {
    let strip = |body: &mut Body| body.erase_personal();
    let Some(mut record) = get_record(tx, id)? else { return Ok(false) };
    let had_person = strip(&mut record.body) || record.meta.void_reason.is_some();
    let search_text = own_search_text(&record.body);
    tx.execute(
        "UPDATE records SET body = ?, person_key = NULL, void_reason = NULL, search_text = ?, search_sig = ?
         WHERE id = ?",
        params![serde_json::to_string(&record.body)?, search_text, word_sketch(&search_text), id.to_string()],
    )?;
    let versions: Vec<(i64, String)> = tx
        .prepare("SELECT version, body FROM record_history WHERE record_id = ?")?
        .query_map([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (version, json) in versions {
        let mut body: Body = serde_json::from_str(&json)?;
        strip(&mut body);
        tx.execute(
            "UPDATE record_history SET body = ? WHERE record_id = ? AND version = ?",
            params![serde_json::to_string(&body)?, id.to_string(), version],
        )?;
    }
    tx.execute("DELETE FROM drafts WHERE key = ?", [format!("edit:{id}")])?;
    Ok(had_person)
}
