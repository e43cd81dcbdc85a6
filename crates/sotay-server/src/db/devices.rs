//! Devices and their enrolment: one-time enrolment codes, the device a bearer token
//! belongs to, the office's device list and the volunteers assigned to each, revocation.

use super::*;

impl ServerDb {
    /// Makes a one-time enrolment code for `commune`, valid for `valid_for`, for a device
    /// no volunteer is assigned to yet (see [`ServerDb::new_enrol_code_for`]). Returns the
    /// code as a person types it (`ABCD-EFGH`); only its hash is stored.
    pub fn new_enrol_code(&self, commune: &str, valid_for: Duration, now: DateTime<Utc>) -> Result<String> {
        Ok(self.new_enrol_code_for(commune, valid_for, now, &[])?.code)
    }

    /// Spends an enrolment code: a new device with a fresh token. `None` when the code is
    /// unknown, used or expired (the caller does not say which).
    pub fn enrol(&self, code: &str, device_name: &str, now: DateTime<Utc>) -> Result<Option<Enrolled>> {
        let hash = code_hash(code);
        let find = |c: &Conn| -> Result<Option<(String, String, Option<String>)>> {
            c.query_opt("SELECT commune, expires_at, used_by FROM enrol_codes WHERE code_hash = ?", [&hash], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
        };
        // The commune is read first, to lock it for the transaction that reads the code again.
        let Some((commune, ..)) = self.read(find)? else { return Ok(None) };
        let device_id = Uuid::now_v7().to_string();
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = hex::encode(raw);
        let reference = self.write_in(&commune, |tx| {
            let Some((commune, expires_at, used_by)) = find(tx)? else { return Ok(None) };
            if used_by.is_some() || expires_at < now_ts(now) {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO devices (id, commune, name, token_hash, enrolled_at) VALUES (?, ?, ?, ?, ?)",
                params![device_id, commune, device_name, token_hash(&token), now_ts(now)],
            )?;
            tx.execute("UPDATE enrol_codes SET used_by = ? WHERE code_hash = ?", params![device_id, hash])?;
            super::assign::on_enrol(tx, &commune, &device_id, &hash)?;
            tx.one::<String>("SELECT reference FROM communes WHERE code = ?", [&commune]).map(Some)
        })?;
        let Some(reference) = reference else { return Ok(None) };
        let seal_key = self.keys().seal_key().to_hex();
        Ok(Some(Enrolled { device_id, token, seal_key, reference: serde_json::from_str(&reference)? }))
    }

    /// The device a bearer token belongs to, revoked or not.
    pub fn device_by_token(&self, token: &str) -> Result<Option<Device>> {
        self.read(|c| {
            c.query_opt(
                "SELECT id, commune, name, revoked_at IS NOT NULL, last_seen, queued FROM devices WHERE token_hash = ?",
                [token_hash(token)],
                read_device,
            )
        })
    }

    /// One device by its id, revoked or not.
    pub fn device(&self, id: &str) -> Result<Option<Device>> {
        self.read(|c| {
            c.query_opt(
                "SELECT id, commune, name, revoked_at IS NOT NULL, last_seen, queued FROM devices WHERE id = ?",
                [id],
                read_device,
            )
        })
    }

    pub fn devices(&self, commune: &str) -> Result<Vec<Device>> {
        self.read(|c| {
            c.query_map(
                "SELECT id, commune, name, revoked_at IS NOT NULL, last_seen, queued FROM devices
                 WHERE commune = ? ORDER BY enrolled_at",
                [commune],
                read_device,
            )
        })
    }

    /// The volunteers whose records each device sent: device id → volunteer ids.
    pub fn device_volunteers(&self, commune: &str) -> Result<std::collections::HashMap<String, Vec<String>>> {
        let mut out: std::collections::HashMap<String, Vec<String>> = Default::default();
        self.read(|c| {
            c.for_each(
                "SELECT DISTINCT device_id, volunteer_id FROM records WHERE commune = ?
                 ORDER BY device_id, volunteer_id",
                [commune],
                |r| {
                    out.entry(r.get(0)?).or_default().push(r.get(1)?);
                    Ok(())
                },
            )
        })?;
        Ok(out)
    }

    pub fn revoke(&self, device_id: &str, now: DateTime<Utc>) -> Result<()> {
        let n = self.write(|tx| {
            tx.execute(
                "UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                params![now_ts(now), device_id],
            )
        })?;
        if n == 0 {
            return Err(DbError::NoDevice);
        }
        Ok(())
    }
}

pub(super) fn read_device(r: &sql::Row) -> Result<Device> {
    Ok(Device {
        id: r.get(0)?,
        commune: r.get(1)?,
        name: r.get(2)?,
        revoked: r.get(3)?,
        last_seen: r.get(4)?,
        queued: r.get(5)?,
    })
}
