//! The built-in sample commune, so a new volunteer can practise before enrolment.
//!
//! Kon Braih (commune code 23497, Quảng Ngãi, province code 51) is real; the hamlets'
//! populations, baselines and the volunteers below are made up and marked as sample data.
//! Records made against it are practice records and never leave the device.

use super::reference::{Commune, Hamlet, ReferenceData, Volunteer};

pub fn sample_reference() -> ReferenceData {
    let hamlet = |id: &str, name: &str, adults: u32, baseline: u32| Hamlet {
        id: id.into(),
        name: name.into(),
        adult_population: adults,
        baseline_signed: baseline,
    };
    let volunteer = |id: &str, name: &str, hamlet: &str| Volunteer {
        id: id.into(),
        name: name.into(),
        hamlet_id: Some(hamlet.into()),
        lead: id == "v-thu",
    };
    ReferenceData {
        commune: Commune {
            code: "23497".into(),
            name: "Xã Kon Braih (mẫu)".into(),
            province: "Quảng Ngãi".into(),
            target_percent: 50,
            sample: true,
        },
        hamlets: vec![
            hamlet("h-dakpokong", "Thôn Đăk Pờ Kơng", 412, 96),
            hamlet("h-konbraih", "Làng Kon Braih", 538, 170),
            hamlet("h-hoabinh", "Thôn Hòa Bình", 655, 301),
            hamlet("h-plei", "Làng Plei Rơng", 297, 41),
            hamlet("h-tdp1", "Tổ dân phố 1", 720, 388),
        ],
        volunteers: vec![
            volunteer("v-lan", "Y Lan", "h-dakpokong"),
            volunteer("v-hung", "A Hưng", "h-konbraih"),
            volunteer("v-thu", "Nguyễn Thị Thu", "h-hoabinh"),
            volunteer("v-minh", "Trần Văn Minh", "h-tdp1"),
        ],
        providers: vec!["VNPT-CA".into(), "Viettel-CA".into(), "MISA eSign".into(), "FPT-CA".into(), "BKAV-CA".into()],
    }
}
