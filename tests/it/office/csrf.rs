//! The CSRF token on every office change: each POST route the router has, tried without
//! the session's token, is refused with 403 and changes nothing.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_without_the_sessions_csrf_token_is_refused_with_403_and_changes_nothing() {
    let server = start(&demo_reference()).await;
    let (device, _) = enrol(&server.db, "Máy tính bảng thôn Plei");
    let me = server.login().await;
    // Another live session's token is a real token, but not this session's.
    let other = server.login().await;
    assert_ne!(me.csrf, other.csrf);
    let users = format!("/office/devices/{}/users", device.id);
    let pin_code = format!("/office/devices/{}/pin-code", device.id);
    let revoke = format!("/office/devices/{}/revoke", device.id);
    let record = Uuid::now_v7().to_string();
    // Every form post the router has, in an order in which each goes through with the right
    // token; logout last: with the right token it ends the session.
    let changes: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "/office/hamlets/h-plei",
            vec![("name", "Làng Plei Rơng"), ("adult_population", "900"), ("baseline_signed", "50")],
        ),
        ("/office/target", vec![("target_percent", "70")]),
        ("/office/volunteers", vec![("id", "v-moi"), ("name", "Y Moi"), ("hamlet_id", "h-plei")]),
        ("/office/providers", vec![("providers", "VNPT-CA\nViettel-CA")]),
        ("/office/devices/code", vec![]),
        (users.as_str(), vec![("v", "v-lan")]),
        (pin_code.as_str(), vec![("volunteer", "v-lan")]),
        (revoke.as_str(), vec![]),
        ("/office/erasure", vec![("name", "Y Hoa"), ("citizen_id", "")]),
        ("/office/erasure/erase", vec![("id", record.as_str())]),
        ("/office/hamlets/h-tdp1/retire", vec![]),
        ("/office/logout", vec![]),
    ];
    let hamlets = "\u{feff}ma;ten;dan_so;da_co_chu_ky\nh-plei;Làng Plei Rơng;900;50\n".as_bytes();
    let volunteers = "\u{feff}ma;ho_ten;thon\nv-moi2;Y Moi Hai;h-plei\n".as_bytes();
    let uploads = [("/office/hamlets/import", hamlets), ("/office/volunteers/import", volunteers)];
    // The list above and the uploads, with the units' and plan's forms of the next test, are
    // every POST route of the office's routers (checked there).
    let before = server.snapshot();
    for csrf in wrong_tokens(&me, &other) {
        refused_with(&server, &me, &changes, csrf).await;
        for (path, csv) in uploads {
            let res = server.upload(path, Some(&me.cookie), csrf, csv).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path} with csrf {csrf:?}");
            assert!(res.text().await.unwrap().contains(BAD_FORM));
        }
    }
    assert_eq!(server.snapshot(), before, "reference data, devices, codes, records and audit log unchanged");
    // The refused logout did not end the session.
    assert_eq!(server.get("/office", Some(&me.cookie)).await.status(), StatusCode::OK);

    // The same forms with the right token go through, so only the token was wrong.
    for (path, csv) in uploads {
        let res = server.upload(path, Some(&me.cookie), Some(&me.csrf), csv).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    for (path, fields) in &changes {
        let mut form = fields.clone();
        form.push(("csrf", me.csrf.as_str()));
        let res = server.post(path, Some(&me.cookie), &form).await;
        assert!(res.status().is_success() || res.status() == StatusCode::SEE_OTHER, "POST {path}: {}", res.status());
    }
    let after = server.snapshot();
    assert_eq!(after.reference.commune.target_percent, 70);
    assert!(after.devices.iter().all(|d| d.revoked));
    assert_eq!(after.enrol_codes, before.enrol_codes + 1);
    let actions: Vec<&str> = after.audit.iter().rev().skip(before.audit.len()).map(|a| a.2.as_str()).collect();
    assert_eq!(
        actions,
        [
            "hamlet.import",
            "volunteer.import",
            "hamlet.update",
            "target.update",
            "volunteer.put",
            "providers.put",
            "device.code",
            "device.users",
            "device.pin_code",
            "device.revoke",
            "erasure.find",
            "erasure.erase",
            "hamlet.retire",
            "logout"
        ]
    );
    assert_eq!(server.get("/office", Some(&me.cookie)).await.status(), StatusCode::SEE_OTHER);
}

/// The units' and the plan's forms (their routers live beside their pages) are refused the
/// same way without this session's token, and change no unit, report, deadline, target or task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_units_or_plan_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing() {
    let server = start(&demo_reference()).await;
    let me = server.login().await;
    let other = server.login().await;
    let unit = server.db.put_unit(COMMUNE, "CA", "Công an xã", "police", chrono::Utc::now()).unwrap();
    let year = chrono::Datelike::year(&chrono::Utc::now().date_naive());
    let task = server
        .db
        .add_milestone(COMMUNE, year, chrono::NaiveDate::from_ymd_opt(year, 11, 15).unwrap(), "Báo cáo")
        .unwrap();
    let (u, y) = (unit.to_string(), year.to_string());
    let (ret, acc, remove) = (
        format!("/office/units/{u}/return"),
        format!("/office/units/{u}/accept"),
        format!("/office/plan/milestone/{task}/remove"),
    );
    let changes: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/office/units", vec![("code", "X"), ("name", "Tổ X"), ("kind", "other")]),
        ("/office/units/volunteer", vec![("volunteer", "v-lan"), ("unit", &u)]),
        ("/office/units/device", vec![("device", "x"), ("unit", &u)]),
        ("/office/units/account", vec![("username", "to.x"), ("password", "mot-mat-khau-dai"), ("unit", &u)]),
        ("/office/units/deadline", vec![("year", &y), ("deadline", "2026-11-20")]),
        (ret.as_str(), vec![("year", &y), ("reason", "Sai số")]),
        (acc.as_str(), vec![("year", &y)]),
        (
            "/office/plan/target",
            vec![("year", &y), ("for", "h:h-plei"), ("helped", "9"), ("trainings", "1"), ("outreach", "1")],
        ),
        ("/office/plan/milestone", vec![("year", &y), ("day", "2026-11-10"), ("task", "Tập huấn")]),
        (remove.as_str(), vec![("year", &y)]),
    ];
    // With the list of the first test, every POST route of every office router is tried; the
    // unit lead's own form (`/office/unit`) takes a unit account's session and is tried in
    // `units::every_units_form_refuses_a_wrong_csrf_token_…`.
    let first = [
        "/office/hamlets/h",
        "/office/target",
        "/office/volunteers",
        "/office/providers",
        "/office/devices/code",
        "/office/devices/d/users",
        "/office/devices/d/pin-code",
        "/office/devices/d/revoke",
        "/office/erasure",
        "/office/erasure/erase",
        "/office/hamlets/h/retire",
        "/office/logout",
        "/office/hamlets/import",
        "/office/volunteers/import",
        "/office/unit",
    ];
    let tried: Vec<&str> = changes.iter().map(|c| c.0).chain(first).collect();
    for route in office_post_routes() {
        assert!(tried.iter().any(|p| route_matches(&route, p)), "POST {route} is not tried without a token");
    }
    let state = || {
        let db = &server.db;
        format!(
            "{:?}{:?}{:?}{:?}{:?}{:?}{}",
            db.units(COMMUNE).unwrap(),
            db.unit_report(unit, year).unwrap(),
            db.volunteer_units(COMMUNE).unwrap(),
            db.unit_deadline(COMMUNE, year).unwrap(),
            db.targets(COMMUNE, year).unwrap(),
            db.milestones(COMMUNE, year).unwrap(),
            db.accounts().unwrap().len(),
        )
    };
    let before = state();
    for csrf in wrong_tokens(&me, &other) {
        refused_with(&server, &me, &changes, csrf).await;
    }
    assert_eq!(state(), before, "units, reports, deadline, targets, tasks and accounts unchanged");
    // The same forms with the right token go through, so only the token was wrong.
    let res = server.post(&remove, Some(&me.cookie), &[("year", &y), ("csrf", me.csrf.as_str())]).await;
    assert!(res.status().is_success() || res.status() == StatusCode::SEE_OTHER, "{}", res.status());
    assert!(server.db.milestones(COMMUNE, year).unwrap().is_empty());
}

/// No token, an empty one, another live session's, this one's cut short, and a guess.
fn wrong_tokens<'a>(me: &'a Browser, other: &'a Browser) -> [Option<&'a str>; 5] {
    [None, Some(""), Some(other.csrf.as_str()), Some(&me.csrf[..63]), Some("0")]
}

/// Posts each form with `csrf` as its token (none when `None`): each is refused with 403 and
/// the office's message.
async fn refused_with(server: &Server, me: &Browser, changes: &[(&str, Vec<(&str, &str)>)], csrf: Option<&str>) {
    for (path, fields) in changes {
        let mut form = fields.clone();
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        let res = server.post(path, Some(&me.cookie), &form).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "POST {path} with csrf {csrf:?}");
        assert!(res.text().await.unwrap().contains(BAD_FORM), "POST {path}");
    }
}

/// The paths the office router answers POSTs on other than the login form (which has its own
/// token, before there is a session), read from the sources of the office's routers: a route
/// added there and not to the CSRF tests above fails them.
fn office_post_routes() -> Vec<String> {
    let sources = [
        include_str!("../../../crates/sotay-server/src/office/mod.rs"),
        include_str!("../../../crates/sotay-server/src/office/units.rs"),
        include_str!("../../../crates/sotay-server/src/office/plan.rs"),
        include_str!("../../../crates/sotay-server/src/office/unit_lead.rs"),
    ];
    let routes: Vec<String> = sources
        .iter()
        .flat_map(|s| s.lines())
        .map(str::trim)
        .filter(|l| l.starts_with(".route(\"") && l.contains("post("))
        .filter_map(|l| l.split('"').nth(1).map(str::to_owned))
        .filter(|p| p != "/office/login")
        .collect();
    assert!(routes.len() >= 24, "the router's POST routes were not found: {routes:?}");
    routes
}

/// Whether a path fits a route (`{id}` matches any one segment).
fn route_matches(route: &str, path: &str) -> bool {
    let (r, p): (Vec<&str>, Vec<&str>) = (route.split('/').collect(), path.split('/').collect());
    r.len() == p.len() && r.iter().zip(&p).all(|(r, p)| r.starts_with('{') || r == p)
}
