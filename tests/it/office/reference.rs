//! Hamlets, the target and the hamlet CSV import: each edit checked, refused with its reason
//! or saved into coverage with an audit entry.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hamlet_edit_is_checked_refused_with_the_reason_or_saved_into_coverage_with_an_audit_entry() {
    let server = start(&demo_reference()).await;
    let (device, key) = enrol(&server.db, "Máy tính bảng thôn Plei");
    // Three successful sessions in Plei: one person twice, and one without an ID.
    let at = day(2026, 11, 19).and_hms_opt(8, 0, 0).unwrap();
    let hoa = || signature_body(Some(person("Y Hoa", Some("051203004567"), &key)), Outcome::DigitalSignature, None);
    let records = [
        wire(Uuid::now_v7(), "h-plei", "v-lan", at, hoa()),
        wire(Uuid::now_v7(), "h-plei", "v-lan", at + Duration::hours(1), hoa()),
        wire(Uuid::now_v7(), "h-plei", "v-lan", at, signature_body(None, Outcome::PersonalESignature, None)),
    ];
    assert_eq!(push(&server.db, &device, &records), [Applied::Applied; 3]);
    let plei = |r: &CoverageReport| r.rows.iter().find(|r| r.hamlet_id == "h-plei").unwrap().clone();
    let cov = plei(&server.db.coverage_report(COMMUNE).unwrap());
    assert_eq!((cov.adult_population, cov.baseline_signed, cov.helped_signed, cov.signed), (297, 41, 2, 43));

    let me = server.login().await;
    let before = server.snapshot();
    let refused = [
        ("Làng Plei Rơng", "40", "41", BELOW_BASELINE),
        ("Làng Plei Rơng", "ba trăm", "41", NOT_A_COUNT),
        ("Làng Plei Rơng", "297", "-1", NOT_A_COUNT),
        ("Làng Plei Rơng", "297,5", "41", NOT_A_COUNT),
        ("Làng Plei Rơng", "", "41", NOT_A_COUNT),
        ("Làng Plei Rơng", "99999999999", "41", NOT_A_COUNT),
        ("", "297", "41", NAME_REQUIRED),
        ("   ", "297", "41", NAME_REQUIRED),
    ];
    for (name, adults, baseline, message) in refused {
        let form =
            [("csrf", me.csrf.as_str()), ("name", name), ("adult_population", adults), ("baseline_signed", baseline)];
        let res = server.post("/office/hamlets/h-plei", Some(&me.cookie), &form).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name:?} {adults:?} {baseline:?}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{name:?} {adults:?} {baseline:?} should say {message}");
    }
    // A hamlet the commune does not have.
    let form = [("csrf", me.csrf.as_str()), ("name", "Thôn X"), ("adult_population", "10"), ("baseline_signed", "1")];
    assert_eq!(
        server.post("/office/hamlets/h-khong-co", Some(&me.cookie), &form).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.snapshot(), before, "nothing changed");

    // Numbers as an office writes them, with a thousands dot and spaces.
    let form = [
        ("csrf", me.csrf.as_str()),
        ("name", " Làng Plei Rơng "),
        ("adult_population", "1.200"),
        ("baseline_signed", " 150 "),
    ];
    let res = server.post("/office/hamlets/h-plei", Some(&me.cookie), &form).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Đã lưu."));
    let h = server.db.commune(COMMUNE).unwrap().hamlet("h-plei").cloned().unwrap();
    assert_eq!((h.name.as_str(), h.adult_population, h.baseline_signed), ("Làng Plei Rơng", 1200, 150));
    let report = server.db.coverage_report(COMMUNE).unwrap();
    let cov = plei(&report);
    assert_eq!((cov.adult_population, cov.baseline_signed, cov.helped_signed, cov.signed), (1200, 150, 2, 152));
    // More than 50% of 1,200 is 601: 449 still needed.
    assert_eq!((cov.still_needed, cov.reached), (449, false));
    assert_eq!(report.total.adult_population, 412 + 538 + 655 + 1200 + 720);
    assert_eq!(server.last_audit(), ("hamlet.update".into(), "h-plei: 1200 adults, 150 baseline".into()));
    // The coverage page shows the new figures.
    let html = server.get("/office", Some(&me.cookie)).await.text().await.unwrap();
    let row = coverage_row(&html, "h-plei");
    for cell in ["<td>1.200</td>", "<td>150</td>", "<td>2</td>", "<td>152</td>", "12,7%", "<td>449</td>"] {
        assert!(row.contains(cell), "{cell} in {row}");
    }
    assert!(html.contains(&vn_share(report.total.percent)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_accepts_one_to_a_hundred_percent_and_moves_what_is_still_needed() {
    let server = start(&demo_reference()).await;
    let me = server.login().await;
    let before = server.snapshot();
    for value in ["0", "101", "năm mươi", "", "-5", "50.5"] {
        let res = server
            .post("/office/target", Some(&me.cookie), &[("csrf", me.csrf.as_str()), ("target_percent", value)])
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{value:?}");
        assert!(res.text().await.unwrap().contains(TARGET_RANGE), "{value:?}");
    }
    assert_eq!(server.snapshot(), before);
    let res =
        server.post("/office/target", Some(&me.cookie), &[("csrf", me.csrf.as_str()), ("target_percent", "60")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let report = server.db.coverage_report(COMMUNE).unwrap();
    assert_eq!(report.target_percent, 60);
    // Hoà Bình: 655 adults, 301 signed; more than 60% is 394.
    let hoa_binh = report.rows.iter().find(|r| r.hamlet_id == "h-hoabinh").unwrap();
    assert_eq!(hoa_binh.still_needed, 394 - 301);
    assert_eq!(server.last_audit(), ("target.update".into(), "60%".into()));
    let html = server.get("/office", Some(&me.cookie)).await.text().await.unwrap();
    assert!(html.contains("<strong>60%</strong>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_hamlet_csv_from_excel_updates_and_adds_hamlets() {
    let server = start(&demo_reference()).await;
    let me = server.login().await;
    let mut expected = server.db.commune(COMMUNE).unwrap();
    // Excel's "CSV UTF-8" in a Vietnamese locale: a byte-order mark, `;`, CRLF, thousands dots.
    let csv = "\u{feff}ma;ten;dan_so;da_co_chu_ky\r\nh-plei;Làng Plei Rơng;1.250;60\r\nh-dakmoi;Thôn Đăk Mới;480;0\r\n";
    let res = server.import(Some(&me.cookie), Some(&me.csrf), csv.as_bytes()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Đã nhập thôn: 2"));
    let plei = expected.hamlets.iter_mut().find(|h| h.id == "h-plei").unwrap();
    (plei.adult_population, plei.baseline_signed) = (1250, 60);
    expected.hamlets.push(Hamlet {
        id: "h-dakmoi".into(),
        name: "Thôn Đăk Mới".into(),
        adult_population: 480,
        baseline_signed: 0,
    });
    assert_eq!(server.db.commune(COMMUNE).unwrap(), expected);
    assert_eq!(server.last_audit(), ("hamlet.import".into(), "2 rows".into()));
    let report = server.db.coverage_report(COMMUNE).unwrap();
    assert_eq!(report.rows.len(), 6);
    assert_eq!(report.total.adult_population, 412 + 538 + 655 + 1250 + 720 + 480);

    // Headers as typed with their diacritics, and the English names with `,`, no BOM.
    let csv = "Mã;Tên;Dân số;Đã có chữ ký\nh-tdp1;Tổ dân phố 1;730;390\n";
    let res = server.import(Some(&me.cookie), Some(&me.csrf), csv.as_bytes()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let csv = "id,name,adult_population,baseline_signed\nh-hoabinh,Thôn Hòa Bình,660,302\n";
    let res = server.import(Some(&me.cookie), Some(&me.csrf), csv.as_bytes()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let r = server.db.commune(COMMUNE).unwrap();
    assert_eq!(r.hamlet("h-tdp1").map(|h| (h.adult_population, h.baseline_signed)), Some((730, 390)));
    assert_eq!(r.hamlet("h-hoabinh").map(|h| (h.adult_population, h.baseline_signed)), Some((660, 302)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_hamlet_csv_is_refused_whole_with_every_bad_row_listed() {
    let server = start(&demo_reference()).await;
    let me = server.login().await;
    let before = server.snapshot();
    // Row 2 is good, row 3 has a word for a number, row 4 more signed than adults.
    let csv = "\u{feff}ma;ten;dan_so;da_co_chu_ky\r\nh-plei;Làng Plei Rơng;1.250;60\r\n\
               h-a;Thôn A;nhiều;10\r\nh-b;Thôn B;50;80\r\n";
    let res = server.import(Some(&me.cookie), Some(&me.csrf), csv.as_bytes()).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = res.text().await.unwrap();
    assert!(html.contains(IMPORT_FAILED), "{html}");
    assert!(html.contains(&format!("<li>Dòng 3: {NOT_A_COUNT}</li>")), "{html}");
    assert!(html.contains(&format!("<li>Dòng 4: {BELOW_BASELINE}</li>")), "{html}");
    assert!(!html.contains("Dòng 2"), "{html}");
    // Missing columns, an empty file; a file that is not UTF-8 says so instead.
    let bad: [(&[u8], &str); 4] = [
        ("\u{feff}ma;ten;dan_so\r\nh-plei;Làng Plei Rơng;1.250\r\n".as_bytes(), HEADER_MISSING),
        ("ten;dan_so;da_co_chu_ky\nLàng Plei Rơng;1250;60\n".as_bytes(), HEADER_MISSING),
        (b"", HEADER_MISSING),
        (b"ma;ten;dan_so;da_co_chu_ky\nh-plei;L\xe0ng;1250;60\n", "Tệp không phải UTF-8"),
    ];
    for (csv, says) in bad {
        let res = server.import(Some(&me.cookie), Some(&me.csrf), csv).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(csv));
        let html = res.text().await.unwrap();
        assert!(html.contains(IMPORT_FAILED) && html.contains(says), "{html}");
    }
    assert_eq!(server.snapshot(), before, "nothing imported, nothing logged");
}
