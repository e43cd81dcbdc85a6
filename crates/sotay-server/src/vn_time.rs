//! Vietnam's time for the office: its days begin and end at UTC+7 whatever the server
//! machine's own time zone. Below `reports` and `asof`, which both count in its days.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// Vietnam's time (UTC+7 all year), in which the office's days begin and end whatever the
/// server machine's own time zone.
pub fn vietnam() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset")
}

/// The day in Vietnam at `t`.
pub fn vn_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&vietnam()).date_naive()
}

/// Today in Vietnam.
pub fn vn_today() -> NaiveDate {
    vn_day(Utc::now())
}

/// "dd/mm/yyyy HH:MM" in Vietnam's time, as the office's pages show a moment.
pub fn vn_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&vietnam()).format("%d/%m/%Y %H:%M").to_string()
}
