//! The activity period (impossible and reversed dates, presets), then the reports against
//! the independent model on a generated commune, down to the cells of the XLSX exports.

use super::model::*;
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_with_impossible_or_reversed_dates_gets_400_with_the_message_and_presets_pick_their_period() {
    let server = start(&demo_reference()).await;
    let me = server.login().await;
    let cookie = Some(me.cookie.as_str());
    let bad = [
        "from=2026-13-01&to=2026-11-20",
        "from=2026-11-20&to=2026-11-01",
        "from=2026-02-30&to=2026-03-01",
        "from=20%2F11%2F2026&to=2026-11-20",
        "from=2000-01-01&to=2026-11-20",
    ];
    for query in bad {
        let res = server.get(&format!("/office/activity?{query}"), cookie).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        let html = res.text().await.unwrap();
        assert!(html.contains(BAD_DATES), "{query}");
        assert!(html.contains("data-testid=\"period-error\""));
        for path in ["/office/export/activity.xlsx", "/office/export/activity.csv", "/office/print"] {
            let res = server.get(&format!("{path}?{query}"), cookie).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}?{query}");
            assert!(res.text().await.unwrap().contains(BAD_DATES));
        }
    }
    let res = server.get("/office/activity?from=2026-11-01&to=2026-11-20", cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Kỳ báo cáo: 01/11/2026 – 20/11/2026"));

    // The office's days are Vietnam's (UTC+7), whatever the machine's time zone.
    let today = sotay_server::asof::vn_today();
    let jan1 = day(today.year(), 1, 1);
    let presets = [
        ("unit", jan1, day(today.year(), 11, 15)),
        ("commune", jan1, day(today.year(), 11, 20)),
        ("month", day(today.year(), today.month(), 1), today),
        ("year", jan1, today),
    ];
    for (preset, from, to) in presets {
        let res = server.get(&format!("/office/activity?preset={preset}"), cookie).await;
        assert_eq!(res.status(), StatusCode::OK, "{preset}");
        let html = res.text().await.unwrap();
        let lead = format!("Kỳ báo cáo: {} – {}", from.format("%d/%m/%Y"), to.format("%d/%m/%Y"));
        assert!(html.contains(&lead), "{preset}: {lead}");
        let export = format!("/office/export/activity.xlsx?from={}&amp;to={}", from, to);
        assert!(html.contains(&export), "{preset}: {export}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_and_their_xlsx_equal_an_independent_computation_of_the_counting_rule() {
    let mut rng = StdRng::seed_from_u64(0x50_7a_20_11);
    let mut reference = generated_reference(&mut rng);
    let server = start(&reference).await;
    let devices: Vec<(Device, TestKey)> = (1..=6).map(|i| enrol(&server.db, &format!("Máy tính bảng {i}"))).collect();
    let key = devices[0].1.clone();
    assert!(devices.iter().all(|(_, k)| k.seal == key.seal), "every device seals to the server's one key");
    let people = random_people(&mut rng, 1500);
    let mut gen = Generator::new(rng, people, &reference, key.clone());
    let mut model = Model::default();
    let mut pushed = 0usize;
    let mut run = |model: &mut Model, phase: Vec<(usize, WireRecord)>| {
        for (d, (device, _)) in devices.iter().enumerate() {
            let mine: Vec<WireRecord> = phase.iter().filter(|(x, _)| *x == d).map(|(_, r)| r.clone()).collect();
            for batch in mine.chunks(500) {
                let expected: Vec<Applied> = batch.iter().map(|r| model.apply(d, r)).collect();
                assert_eq!(push(&server.db, device, batch), expected, "device {d}");
                pushed += batch.len();
            }
        }
    };

    // 1. New records from the six devices.
    let mut originals: Vec<(usize, WireRecord)> = (0..3000).map(|_| (gen.rng.gen_range(0..6), gen.record())).collect();
    // The same person helped at the same minute in two hamlets on two devices: the id decides.
    for i in 0..40 {
        let at = gen.time();
        let who = gen.person(true);
        for d in [i % 6, (i + 1) % 6] {
            let body = signature_body(Some(who.clone()), Outcome::DigitalSignature, None);
            let (hamlet, volunteer) = (gen.hamlet(), gen.volunteer());
            originals.push((d, wire(gen.id(at), &hamlet, &volunteer, at, body)));
        }
    }
    // The edges of the periods checked below, to the second.
    for at in ["2026-01-31T23:59:59", "2026-02-01T00:00:00", "2026-11-15T23:59:59", "2026-11-16T00:00:00"] {
        let at: NaiveDateTime = at.parse().unwrap();
        let body = gen.signature();
        let id = gen.id(at);
        originals.push((0, wire(id, "h-01", "v-01", at, body)));
    }
    run(&mut model, originals.clone());

    // 2. Edits, voids, and edits of edits, each pushed by the device that owns the record.
    let mut edits = Vec::new();
    let mut later = Vec::new();
    for (d, r) in &originals {
        let roll = gen.rng.gen_range(0..100);
        if roll < 20 {
            let v2 = gen.edit(r);
            if roll < 6 {
                later.push((*d, gen.edit(&v2)));
            } else if roll < 9 {
                later.push((*d, gen.void(&v2)));
            }
            edits.push((*d, v2));
        } else if roll < 26 {
            let v2 = gen.void(r);
            // A later edit of a voided record must not bring it back.
            if roll == 25 {
                let mut v3 = gen.edit(&v2);
                (v3.voided, v3.void_reason) = (false, None);
                later.push((*d, v3));
            }
            edits.push((*d, v2));
        }
    }
    run(&mut model, edits.clone());
    run(&mut model, later.clone());

    // 3. Retries after lost replies (duplicates), old versions arriving late (stale), and a
    // device sending an id another device owns (rejected).
    let mut retries: Vec<(usize, WireRecord)> = originals.iter().take(700).cloned().collect();
    retries.extend(edits.iter().take(100).cloned());
    retries.extend(later.iter().map(|(d, r)| (*d, WireRecord { version: r.version - 1, ..r.clone() })));
    retries.extend(originals.iter().take(5).map(|(d, r)| ((d + 1) % 6, WireRecord { version: 9, ..r.clone() })));
    run(&mut model, retries);
    assert!(pushed > 4500, "{pushed} pushed");
    let stored: Vec<(Uuid, i64, bool)> = {
        let mut v: Vec<_> = model.records.iter().map(|(id, f)| (*id, f.record.version, f.voided)).collect();
        v.sort();
        v
    };
    assert_eq!(server.db.record_versions(COMMUNE).unwrap(), stored);
    assert_eq!(server.db.totals_mismatches(COMMUNE).unwrap(), Vec::<String>::new(), "running totals");

    // A volunteer leaves the team after their records are in: their records still count.
    reference.volunteers.retain(|v| v.id != "v-cu");
    server.db.put_commune(&reference).unwrap();

    // The mix is what it should be, so the comparison below means something.
    let live: Vec<&WireRecord> = model.live().collect();
    let signed_with_id: Vec<&str> =
        live.iter().filter(|r| succeeded(&r.body)).filter_map(|r| id_hash(&r.body)).collect();
    let distinct: HashSet<&str> = signed_with_id.iter().copied().collect();
    assert!(signed_with_id.len() > distinct.len() + 200, "people helped more than once");
    assert!(model.records.values().filter(|f| f.voided).count() > 150);
    let by_device: HashMap<Uuid, usize> = model.records.iter().map(|(id, f)| (*id, f.device)).collect();
    let mut places: HashMap<&str, (HashSet<&str>, HashSet<usize>)> = HashMap::new();
    for r in &live {
        if let Some(k) = id_hash(&r.body) {
            let e = places.entry(k).or_default();
            e.0.insert(&r.hamlet_id);
            e.1.insert(by_device[&r.id]);
        }
    }
    assert!(places.values().filter(|p| p.0.len() > 1).count() > 100, "the same person in several hamlets");
    assert!(places.values().filter(|p| p.1.len() > 1).count() > 100, "the same person on several devices");

    // The reports equal the model, whole.
    let coverage = server.db.coverage_report(COMMUNE).unwrap();
    assert_eq!(coverage, expected_coverage(&model, &reference));
    assert!(coverage.total.helped_signed > 800, "{}", coverage.total.helped_signed);
    let periods = [
        (day(2026, 2, 1), day(2026, 11, 15)),
        (day(2026, 6, 1), day(2026, 6, 30)),
        (day(2026, 1, 1), day(2026, 12, 31)),
        (day(2026, 11, 16), day(2026, 11, 16)),
        // The longest period drawn by day, and the shortest by week.
        (day(2026, 3, 1), day(2026, 5, 2)),
        (day(2026, 3, 1), day(2026, 5, 3)),
    ];
    for (from, to) in periods {
        let report = server.db.activity_report(COMMUNE, from, to).unwrap();
        let expected = expected_activity(&model, &reference, from, to);
        assert_eq!(report.totals, expected.totals, "totals {from}..{to}");
        assert_eq!(report.by_hamlet, expected.by_hamlet, "by hamlet {from}..{to}");
        assert_eq!(report.by_volunteer, expected.by_volunteer, "by volunteer {from}..{to}");
        assert_eq!(report, expected, "{from}..{to}");
    }
    let (from, to) = periods[0];
    let activity = server.db.activity_report(COMMUNE, from, to).unwrap();
    assert!(activity.weekly && activity.totals.signature_sessions > 1000);
    assert_eq!(activity.by_volunteer.last().map(|v| v.1.as_str()), Some("v-cu"), "a former volunteer by id");

    // Through HTTP: the pages and the files say the same.
    let me = server.login().await;
    let cookie = Some(me.cookie.as_str());
    let html = server.get("/office", cookie).await.text().await.unwrap();
    assert!(html.contains(&format!("data-testid=\"commune-percent\">{}</strong>", vn_share(coverage.total.percent))));
    for row in &coverage.rows {
        assert!(coverage_row(&html, &row.hamlet_id).contains(&vn_share(row.percent)));
    }
    let res = server.get("/office/export/coverage.xlsx", cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    check_coverage_xlsx(res.bytes().await.unwrap().to_vec(), &coverage);
    let res = server.get(&format!("/office/export/activity.xlsx?from={from}&to={to}"), cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    check_activity_xlsx(res.bytes().await.unwrap().to_vec(), &activity);
    let csv = server.get("/office/export/coverage.csv", cookie).await.bytes().await.unwrap();
    let csv = std::str::from_utf8(&csv).unwrap();
    assert!(csv.starts_with("\u{feff}Số liệu tính đến ngày "), "a BOM so Excel reads the diacritics, then the day");
    assert!(csv.contains("\nThôn;Dân số trưởng thành;"), "`;` between cells for Vietnamese Excel");
    let total = &coverage.total;
    assert!(csv.contains(&format!(
        "Toàn xã;{};{};{};{}",
        total.adult_population, total.baseline_signed, total.helped_signed, total.signed
    )));
}

type Book = Xlsx<Cursor<Vec<u8>>>;

fn sheet(book: &mut Book, name: &str) -> (Range<Data>, StyleRange) {
    let names = book.sheet_names();
    assert!(names.iter().any(|n| n == name), "sheet {name} in {names:?}");
    (book.worksheet_range(name).unwrap(), book.worksheet_style(name).unwrap())
}

fn text(cells: &Range<Data>, at: (u32, u32)) -> String {
    match cells.get_value(at) {
        Some(Data::String(s)) => s.clone(),
        other => panic!("text expected at {at:?}, found {other:?}"),
    }
}

fn number(cells: &Range<Data>, at: (u32, u32)) -> f64 {
    match cells.get_value(at) {
        Some(Data::Float(f)) => *f,
        Some(Data::Int(i)) => *i as f64,
        other => panic!("a number expected at {at:?}, found {other:?}"),
    }
}

fn number_format(styles: &StyleRange, at: (u32, u32)) -> String {
    styles.get(at).and_then(|s| s.number_format.as_ref()).map(|f| f.format_code.clone()).unwrap_or_default()
}

/// A count cell: the number, formatted with thousands separators.
fn assert_count(cells: &Range<Data>, styles: &StyleRange, at: (u32, u32), expected: u64) {
    assert_eq!(number(cells, at), expected as f64, "cell {at:?}");
    assert_eq!(number_format(styles, at), "#,##0", "cell {at:?}");
}

/// A percent cell: a fraction shown with a % format.
fn assert_percent(cells: &Range<Data>, styles: &StyleRange, at: (u32, u32), percent: f64) {
    let value = number(cells, at);
    assert!((value - percent / 100.0).abs() < 1e-12, "cell {at:?}: {value} for {percent}%");
    assert_eq!(number_format(styles, at), "0.0%", "cell {at:?}");
}

fn check_coverage_xlsx(bytes: Vec<u8>, r: &CoverageReport) {
    let mut book: Book = open_workbook_from_rs(Cursor::new(bytes)).expect("a workbook");
    let (cells, styles) = sheet(&mut book, "Do bao phu");
    assert_eq!(text(&cells, (0, 0)), format!("Tỷ lệ người trưởng thành có chữ ký số — {}", r.commune.name));
    assert_eq!(text(&cells, (1, 0)), format!("Mục tiêu: trên {}%", r.target_percent));
    let headers = [
        "Thôn",
        "Dân số trưởng thành",
        "Đã có chữ ký trước",
        "Được hỗ trợ thành công",
        "Có chữ ký số",
        "Tỷ lệ",
        "Còn thiếu để đạt mục tiêu",
    ];
    for (c, h) in headers.iter().enumerate() {
        assert_eq!(text(&cells, (3, c as u32)), *h);
    }
    for (i, line) in r.rows.iter().chain(std::iter::once(&r.total)).enumerate() {
        let row = 4 + i as u32;
        // The last line is the commune's, labelled as on the page.
        let label = if i == r.rows.len() { "Toàn xã" } else { line.name.as_str() };
        assert_eq!(text(&cells, (row, 0)), label);
        for (c, v) in [line.adult_population, line.baseline_signed, line.helped_signed, line.signed].iter().enumerate()
        {
            assert_count(&cells, &styles, (row, 1 + c as u32), *v as u64);
        }
        assert_percent(&cells, &styles, (row, 5), line.percent);
        assert_count(&cells, &styles, (row, 6), line.still_needed as u64);
    }
    assert_eq!(text(&cells, (4 + r.rows.len() as u32, 0)), "Toàn xã", "the commune's line last");
}

fn check_activity_xlsx(bytes: Vec<u8>, r: &ActivityReport) {
    let mut book: Book = open_workbook_from_rs(Cursor::new(bytes)).expect("a workbook");
    let period = format!("Kỳ báo cáo: {} – {}", r.from.format("%d/%m/%Y"), r.to.format("%d/%m/%Y"));
    let (cells, styles) = sheet(&mut book, "Hoat dong");
    assert_eq!(text(&cells, (0, 0)), format!("Kết quả hoạt động — {}", r.commune.name));
    assert_eq!(text(&cells, (1, 0)), period);
    let t = &r.totals;
    let totals = [
        ("Lượt thăm hộ", t.visits),
        ("Người được hỗ trợ tại hộ (lượt)", t.visit_people),
        ("Lượt hỗ trợ chữ ký số", t.signature_sessions),
        ("Số người được hỗ trợ chữ ký số", t.signature_people),
        ("Đăng ký thành công", t.signed),
        ("Chưa hoàn thành", t.not_completed),
        ("Buổi tập huấn, họp", t.trainings),
        ("Người tham dự", t.attendance),
        ("Trong đó nữ", t.women),
        ("Trong đó dân tộc thiểu số", t.minority),
        ("Hoạt động tuyên truyền", t.outreach),
        ("Tổng lượt người", t.person_times),
    ];
    for (i, (label, value)) in totals.iter().enumerate() {
        let row = 3 + i as u32;
        assert_eq!(text(&cells, (row, 0)), *label);
        assert_count(&cells, &styles, (row, 1), *value as u64);
    }
    // Outcomes at rows 16-19, reasons at 21-32, channels at 34-40 (a blank row between).
    assert_eq!(
        [text(&cells, (16, 0)), text(&cells, (16, 1)), text(&cells, (16, 2))],
        ["Kết quả hỗ trợ chữ ký số", "Số lượng", "Tỷ lệ"]
    );
    let outcomes = ["Đã đăng ký chữ ký số", "Đã đăng ký chữ ký điện tử cá nhân", "Chưa hoàn thành"];
    for (i, (_, n)) in r.outcomes.iter().enumerate() {
        let row = 17 + i as u32;
        assert_eq!(text(&cells, (row, 0)), outcomes[i]);
        assert_count(&cells, &styles, (row, 1), *n as u64);
        assert_percent(&cells, &styles, (row, 2), 100.0 * *n as f64 / t.signature_sessions as f64);
    }
    assert_eq!(text(&cells, (21, 0)), "Lý do chưa hoàn thành");
    assert_eq!(text(&cells, (22, 0)), "Không có điện thoại thông minh");
    assert_eq!(text(&cells, (32, 0)), "Lý do khác");
    for (i, (_, n)) in r.failure_reasons.iter().enumerate() {
        let row = 22 + i as u32;
        assert_count(&cells, &styles, (row, 1), *n as u64);
        assert_percent(&cells, &styles, (row, 2), 100.0 * *n as f64 / t.not_completed as f64);
    }
    let channel_headers = ["Hình thức", "Số hoạt động", "Số lượng", "Ước tính người tiếp cận"];
    for (c, h) in channel_headers.iter().enumerate() {
        assert_eq!(text(&cells, (34, c as u32)), *h);
    }
    assert_eq!(text(&cells, (35, 0)), "Loa truyền thanh");
    for (i, ch) in r.channels.iter().enumerate() {
        let row = 35 + i as u32;
        assert_count(&cells, &styles, (row, 1), ch.activities as u64);
        assert_count(&cells, &styles, (row, 2), ch.quantity);
        assert_count(&cells, &styles, (row, 3), ch.reach);
    }
    for (name, first, rows) in [("Theo thon", "Thôn", &r.by_hamlet), ("Theo TNV", "Tình nguyện viên", &r.by_volunteer)]
    {
        let (cells, styles) = sheet(&mut book, name);
        assert_eq!(text(&cells, (0, 0)), period);
        assert_eq!(text(&cells, (2, 0)), first);
        assert_eq!(text(&cells, (2, 1)), "Lượt thăm hộ");
        assert_eq!(text(&cells, (2, 12)), "Tổng lượt người");
        for (i, (_, label, c)) in rows.iter().enumerate() {
            let row = 3 + i as u32;
            assert_eq!(text(&cells, (row, 0)), *label);
            let values = [c.visits, c.signature_people, c.signed, c.person_times];
            for (col, v) in [1u32, 4, 5, 12].into_iter().zip(values) {
                assert_count(&cells, &styles, (row, col), v as u64);
            }
        }
        // One row each, then the commune's total; the code last on each row.
        let total = 3 + rows.len() as u32;
        assert_eq!(text(&cells, (total, 0)), "Toàn xã");
        assert_count(&cells, &styles, (total, 1), r.totals.visits as u64);
        assert_count(&cells, &styles, (total, 12), r.totals.person_times as u64);
        assert_eq!(text(&cells, (2, 13)), "Mã");
        assert_eq!(text(&cells, (3, 13)), rows[0].0, "{name}: the code of the first row");
        assert_eq!(cells.end().map(|(r, _)| r), Some(total), "{name}: one row each and the total");
    }
}
