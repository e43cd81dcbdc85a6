//! Drafts: the raw form of every record being written or edited (never the ID number),
//! saved on every change so nothing typed is lost.

use super::*;

impl Store {
    /// Keeps a half-filled form so it survives leaving the screen or the app closing.
    pub fn save_draft(&self, key: &str, record_id: Option<Uuid>, form: &Form) -> Result<()> {
        let json = serde_json::to_string(form)?;
        self.conn().execute(
            "INSERT INTO drafts (key, kind, record_id, form, updated_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (key) DO UPDATE SET form = excluded.form, updated_at = excluded.updated_at",
            params![key, form.kind().code(), record_id.map(|u| u.to_string()), json, ts(self.now())],
        )?;
        Ok(())
    }

    pub fn draft(&self, key: &str) -> Result<Option<Draft>> {
        let conn = self.conn();
        conn.query_row("SELECT key, record_id, form, updated_at FROM drafts WHERE key = ?", [key], read_draft)
            .optional()?
            .transpose()
    }

    pub fn drafts(&self) -> Result<Vec<Draft>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT key, record_id, form, updated_at FROM drafts ORDER BY updated_at DESC")?;
        let rows = stmt.query_map([], read_draft)?;
        rows.map(|r| r?).collect()
    }

    pub fn discard_draft(&self, key: &str) -> Result<()> {
        self.conn().execute("DELETE FROM drafts WHERE key = ?", [key])?;
        Ok(())
    }
}

pub(super) fn read_draft(r: &rusqlite::Row) -> rusqlite::Result<Result<Draft>> {
    let key: String = r.get(0)?;
    let record_id: Option<String> = r.get(1)?;
    let form: String = r.get(2)?;
    let updated_at: String = r.get(3)?;
    Ok((|| {
        Ok(Draft {
            key,
            record_id: record_id.and_then(|s| Uuid::parse_str(&s).ok()),
            form: serde_json::from_str(&form)?,
            updated_at: parse_ts(&updated_at)?,
        })
    })())
}
