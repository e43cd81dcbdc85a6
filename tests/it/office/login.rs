//! Office sessions: every page, export and change behind a live session, login throttling
//! and locks (alike for names with and without an account), and logout.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_office_page_export_and_change_sends_a_visitor_without_a_live_session_to_the_login_page() {
    let server = start(&demo_reference()).await;
    let (device, _) = enrol(&server.db, "Máy tính bảng thôn Plei");
    // A session opened nine hours ago has expired (sessions last eight).
    let (expired, old) = server.db.login(USER, PASSWORD, Utc::now() - Duration::hours(9)).unwrap().unwrap();
    let before = server.snapshot();
    let record = Uuid::now_v7().to_string();
    let gets = [
        "/office".to_owned(),
        "/office/activity".into(),
        "/office/activity?preset=year".into(),
        "/office/activity?from=2026-11-01&to=2026-11-20".into(),
        "/office/hamlets".into(),
        "/office/devices".into(),
        "/office/audit".into(),
        "/office/records".into(),
        format!("/office/records/{record}"),
        "/office/erasure".into(),
        "/office/print".into(),
        "/office/export/coverage.xlsx".into(),
        "/office/export/coverage.csv".into(),
        "/office/export/activity.xlsx?from=2026-11-01&to=2026-11-20".into(),
        "/office/export/activity.csv".into(),
    ];
    let revoke = format!("/office/devices/{}/revoke", device.id);
    // Complete, well-formed changes, carrying even the expired session's own CSRF token.
    let csrf = old.csrf.as_str();
    let posts: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "/office/hamlets/h-plei",
            vec![("name", "Làng Plei Rơng"), ("adult_population", "900"), ("baseline_signed", "1")],
        ),
        ("/office/target", vec![("target_percent", "70")]),
        ("/office/volunteers", vec![("id", "v-moi"), ("name", "Y Moi"), ("hamlet_id", "h-plei")]),
        ("/office/providers", vec![("providers", "VNPT-CA")]),
        ("/office/devices/code", vec![]),
        (revoke.as_str(), vec![]),
        ("/office/erasure", vec![("name", "Y Hoa"), ("citizen_id", "")]),
        ("/office/erasure/erase", vec![("id", record.as_str())]),
        ("/office/logout", vec![]),
    ];
    let forged = format!("sotay_session={}", "ab".repeat(32));
    let expired = format!("sotay_session={expired}");
    for cookie in [None, Some(forged.as_str()), Some(expired.as_str()), Some("sotay_session="), Some("lang=en")] {
        for path in &gets {
            let res = server.get(path, cookie).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "GET {path} with {cookie:?}");
            assert_eq!(location(&res), "/office/login", "GET {path} with {cookie:?}");
        }
        for (path, fields) in &posts {
            let mut form = fields.clone();
            form.push(("csrf", csrf));
            let res = server.post(path, cookie, &form).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "POST {path} with {cookie:?}");
            assert_eq!(location(&res), "/office/login", "POST {path} with {cookie:?}");
        }
        let res = server.import(cookie, Some(csrf), "ma;ten;dan_so;da_co_chu_ky\nh-plei;Plei;900;1\n".as_bytes()).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "import with {cookie:?}");
        assert_eq!(location(&res), "/office/login");
    }
    assert_eq!(server.snapshot(), before, "nothing changed");
    // The login page itself is open to all.
    let res = server.get("/office/login", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Đăng nhập văn phòng xã"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_gets_401_and_the_third_locks_the_account_even_against_the_right_one() {
    let server = start(&demo_reference()).await;
    server.db.put_account("canbo.khac", "mat-khau-khac", COMMUNE, Utc::now()).unwrap();
    // A wrong password and an unknown name get the same answer, so names cannot be probed.
    for (user, password) in [(USER, "sai mat khau"), ("khong-co-ai", PASSWORD), (USER, "")] {
        let res = server.post_login(user, password).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{user}");
        assert_eq!(session_cookie(&res), None);
        let html = res.text().await.unwrap();
        assert!(html.contains(LOGIN_WRONG), "{html}");
    }
    // The third wrong password for the account locks it.
    let res = server.post_login(USER, "con sai nua").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains(LOGIN_LOCKED));
    // Locked: the right password is refused too, and opens no session.
    let res = server.post_login(USER, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(session_cookie(&res), None);
    assert!(res.text().await.unwrap().contains(LOGIN_LOCKED));
    // The lock is the account's, not the server's.
    let res = server.post_login("canbo.khac", "mat-khau-khac").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(session_cookie(&res).is_some());
}

/// A server database with the demo commune and its office account, created at `t0`.
fn office_with_account() -> (tempfile::TempDir, ServerDb, chrono::DateTime<Utc>) {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::it::stores::server_db(dir.path());
    db.put_commune(&demo_reference()).unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 1, 0, 0).unwrap();
    db.put_account(USER, PASSWORD, COMMUNE, t0).unwrap();
    (dir, db, t0)
}

#[test]
fn a_locked_account_opens_again_when_the_lock_expires_and_each_further_failure_doubles_the_lock() {
    let (_dir, db, t0) = office_with_account();
    let secs = |s: i64| t0 + Duration::seconds(s);
    let login = |password: &str, at| db.login(USER, password, at).unwrap().map(|(_, s)| s);

    assert_eq!(login("sai", t0), Err(LoginError::Wrong));
    assert_eq!(login("sai", t0), Err(LoginError::Wrong));
    assert_eq!(login("sai", t0), Err(LoginError::Locked { until: secs(30) }));
    assert_eq!(login(PASSWORD, secs(29)), Err(LoginError::Locked { until: secs(30) }));
    let session = login(PASSWORD, secs(31)).expect("open again after 30 s");
    assert_eq!((session.username.as_str(), session.commune.as_str()), (USER, COMMUNE));
    // A success forgets the failures: two more wrong passwords do not lock.
    assert_eq!(login("sai", secs(40)), Err(LoginError::Wrong));
    assert_eq!(login("sai", secs(40)), Err(LoginError::Wrong));
    assert_eq!(login("sai", secs(40)), Err(LoginError::Locked { until: secs(70) }));
    // A wrong password after the lock ran out locks again, for twice as long.
    assert_eq!(login("sai", secs(71)), Err(LoginError::Locked { until: secs(131) }));
    assert_eq!(login(PASSWORD, secs(130)), Err(LoginError::Locked { until: secs(131) }));
    assert!(login(PASSWORD, secs(132)).is_ok());
}

#[test]
fn an_unknown_name_is_counted_and_locked_exactly_like_a_real_one_so_the_lock_out_tells_no_names() {
    let (_dir, db, t0) = office_with_account();
    let secs = |s: i64| t0 + Duration::seconds(s);
    // The same tries at the same times, for the real name and for a name nobody has: what a
    // guesser sees must not differ anywhere.
    let tries =
        [("sai", 0), ("sai", 0), ("sai", 0), ("sai", 29), ("sai", 31), ("sai", 60), ("sai", 200), ("sai", 30_000)];
    let answers = |user: &str| -> Vec<Result<(), LoginError>> {
        tries.iter().map(|(password, at)| db.login(user, password, secs(*at)).unwrap().map(|_| ())).collect()
    };
    let real = answers(USER);
    let unknown = answers("khong-co-ai");
    assert_eq!(unknown, real);
    assert_eq!(
        real[..6],
        [
            Err(LoginError::Wrong),
            Err(LoginError::Wrong),
            Err(LoginError::Locked { until: secs(30) }),
            Err(LoginError::Locked { until: secs(30) }),
            Err(LoginError::Locked { until: secs(91) }),
            Err(LoginError::Locked { until: secs(91) }),
        ]
    );
    // A day without failures forgets them, for both alike.
    let day_later = secs(30_000 + 24 * 3600 + 1);
    assert_eq!(db.login(USER, "sai", day_later).unwrap().map(|_| ()), Err(LoginError::Wrong));
    assert_eq!(db.login("khong-co-ai", "sai", day_later).unwrap().map(|_| ()), Err(LoginError::Wrong));
    // Names are counted each on its own, and an account made for a locked name starts clean.
    for _ in 0..3 {
        let _ = db.login("canbo.moi", "sai", day_later).unwrap();
    }
    assert!(matches!(db.login("canbo.moi", "mat-khau-moi!", day_later).unwrap(), Err(LoginError::Locked { .. })));
    db.put_account("canbo.moi", "mat-khau-moi!", COMMUNE, day_later).unwrap();
    assert!(db.login("canbo.moi", "mat-khau-moi!", day_later).unwrap().is_ok());
    assert!(db.login(USER, PASSWORD, day_later).unwrap().is_ok(), "the real account's own lock ran out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_an_unknown_name_gets_the_same_401s_and_then_the_same_429_as_a_real_name() {
    let server = start(&demo_reference()).await;
    let mut seen: Vec<Vec<(StatusCode, bool)>> = Vec::new();
    for user in [USER, "khong-co-ai"] {
        let mut answers = Vec::new();
        for _ in 0..4 {
            let res = server.post_login(user, "sai mat khau").await;
            assert_eq!(session_cookie(&res), None);
            let status = res.status();
            let html = res.text().await.unwrap();
            assert!(
                html.contains(if status == StatusCode::UNAUTHORIZED { LOGIN_WRONG } else { LOGIN_LOCKED }),
                "{html}"
            );
            answers.push((status, html.contains(&format!("value=\"{user}\""))));
        }
        seen.push(answers);
    }
    let expected = [
        StatusCode::UNAUTHORIZED,
        StatusCode::UNAUTHORIZED,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::TOO_MANY_REQUESTS,
    ];
    assert_eq!(seen[0].iter().map(|a| a.0).collect::<Vec<_>>(), expected);
    assert_eq!(seen[1], seen[0], "the unknown name is answered as the real one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_and_the_old_cookie_is_refused_afterwards() {
    let server = start(&demo_reference()).await;
    let me = server.login().await;
    let other = server.login().await;
    let res = server.post("/office/logout", Some(&me.cookie), &[("csrf", me.csrf.as_str())]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/office/login");
    assert_eq!(session_cookie(&res).as_deref(), Some(""), "the browser is told to drop the cookie");
    assert!(res.headers().get(SET_COOKIE).unwrap().to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(server.last_audit(), ("logout".into(), String::new()));
    let before = server.snapshot();
    // A browser that kept the cookie anyway gets nothing.
    for path in ["/office", "/office/hamlets", "/office/export/coverage.xlsx"] {
        let res = server.get(path, Some(&me.cookie)).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&res), "/office/login");
    }
    let res =
        server.post("/office/target", Some(&me.cookie), &[("csrf", me.csrf.as_str()), ("target_percent", "80")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(server.snapshot(), before);
    // Only that session ended.
    assert_eq!(server.get("/office", Some(&other.cookie)).await.status(), StatusCode::OK);
}
