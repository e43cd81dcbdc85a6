//! The official list of commune-level administrative units in force since 1 July 2025
//! (xã, phường, đặc khu, each with its province), shipped in the binary from
//! `data/units/units.csv` (source, date and licence in `data/units/README.md`).
//!
//! `sotay-server commune add 23497` names the new commune "Xã Kon Braih" in "Tỉnh Quảng
//! Ngãi" (province 51) from here; the province level groups communes by the province code
//! kept beside each commune. Pure lookups: no I/O, no database.

use std::sync::OnceLock;

const CSV: &str = include_str!("../../../data/units/units.csv");

/// One commune-level unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    /// Five digits (`23497`).
    pub code: &'static str,
    /// The full name (`Xã Kon Braih`).
    pub name: &'static str,
    /// `Xã`, `Phường` or `Đặc khu`.
    pub kind: &'static str,
    /// Two digits (`51`).
    pub province_code: &'static str,
    /// The full name (`Tỉnh Quảng Ngãi`).
    pub province_name: &'static str,
}

impl Unit {
    /// "Xã Kon Braih, tỉnh Quảng Ngãi".
    pub fn label(&self) -> String {
        format!("{}, {}", self.name, lower_first(self.province_name))
    }
}

/// "Tỉnh Quảng Ngãi" → "tỉnh Quảng Ngãi", as the name reads after a comma.
pub fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The province's name without "Tỉnh " or "Thành phố " ("Quảng Ngãi"), as the app shows it.
pub fn short_province(full: &str) -> &str {
    full.strip_prefix("Tỉnh ").or_else(|| full.strip_prefix("Thành phố ")).unwrap_or(full)
}

/// Every unit, sorted by code.
pub fn units() -> &'static [Unit] {
    static UNITS: OnceLock<Vec<Unit>> = OnceLock::new();
    UNITS.get_or_init(|| {
        CSV.lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|line| {
                let f: Vec<&'static str> = line.split(',').collect();
                Unit { code: f[0], name: f[1], kind: f[2], province_code: f[3], province_name: f[4] }
            })
            .collect()
    })
}

/// The unit with this code (five digits; `1234` is read as `01234`).
pub fn unit(code: &str) -> Option<&'static Unit> {
    let code = normal_code(code, 5)?;
    let all = units();
    all.binary_search_by(|u| u.code.cmp(code.as_str())).ok().map(|i| &all[i])
}

/// A province's full name by its code (two digits; `1` is read as `01`).
pub fn province(code: &str) -> Option<&'static str> {
    let code = normal_code(code, 2)?;
    units().iter().find(|u| u.province_code == code).map(|u| u.province_name)
}

/// Every province: (code, full name), by code.
pub fn provinces() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = units().iter().map(|u| (u.province_code, u.province_name)).collect();
    out.sort();
    out.dedup();
    out
}

/// A code of digits only, padded with zeros to `width`; `None` for anything else.
pub fn normal_code(code: &str, width: usize) -> Option<String> {
    let code = code.trim();
    if code.is_empty() || code.len() > width || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("{code:0>width$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_kon_braih_and_holds_every_unit_of_the_2025_reform() {
        let u = unit("23497").unwrap();
        assert_eq!(u.label(), "Xã Kon Braih, tỉnh Quảng Ngãi");
        assert_eq!((u.kind, u.province_code), ("Xã", "51"));
        assert_eq!(units().len(), 3321);
        assert_eq!(provinces().len(), 34);
        assert_eq!(units().iter().filter(|u| u.province_code == "51").count(), 96);
        assert!(units().windows(2).all(|w| w[0].code < w[1].code), "sorted by code, so lookups can bisect");
        assert_eq!(province("51"), Some("Tỉnh Quảng Ngãi"));
        assert_eq!(province("1"), Some("Thành phố Hà Nội"));
        assert_eq!(short_province("Tỉnh Quảng Ngãi"), "Quảng Ngãi");
        assert_eq!(unit("4").map(|u| u.name), Some("Phường Ba Đình"));
    }

    #[test]
    fn codes_that_are_not_in_the_list_or_not_digits_find_nothing() {
        for code in ["99999", "", "2349a", "234977", "-1", "23 497"] {
            assert!(unit(code).is_none(), "{code:?}");
        }
        assert!(province("99").is_none());
        assert!(province("051").is_none());
    }
}
