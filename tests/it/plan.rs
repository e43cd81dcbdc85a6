//! The commune's plan (`db::plan`, `office::plan`): targets per hamlet and unit set on the
//! plan page and shown against what was done there, on the coverage page (people helped)
//! and the activity page (trainings, outreach), each with its share; the timeline; the CSRF
//! token and the commune's own hamlets and units on every form.

use chrono::{Datelike, Utc};
use reqwest::StatusCode;
use sotay::protocol::DeviceReport;
use sotay_server::db::plan::{PlanFor, Target};
use uuid::Uuid;

use super::common::training;
use super::office::{enrol, start, wire};
use super::sync::{demo_reference, COMMUNE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_per_hamlet_and_unit_are_shown_against_what_was_done_with_a_share_and_the_timeline_keeps_its_tasks() {
    let server = start(&demo_reference()).await;
    let db = &server.db;
    let year = sotay_server::vn_time::vn_day(Utc::now()).year();
    let unit = db.put_unit(COMMUNE, "TCN", "Tổ công nghệ số thôn Plei Rơng", "team", Utc::now()).unwrap();
    db.set_volunteer_unit(COMMUNE, "v-lan", Some(unit)).unwrap();
    let (device, _) = enrol(db, "Máy tổ Plei");
    let at = |d: u32| chrono::NaiveDate::from_ymd_opt(year, 1, d).unwrap().and_hms_opt(9, 0, 0).unwrap();
    let records: Vec<_> = (1..=3).map(|d| wire(Uuid::now_v7(), "h-plei", "v-lan", at(d), training(10))).collect();
    db.apply_push(&device, &DeviceReport::default(), &records, Utc::now()).unwrap();

    let me = server.login().await;
    let c = Some(me.cookie.as_str());
    let y = year.to_string();
    let u = format!("u:{unit}");
    for (of, helped, trainings, outreach) in [("h:h-plei", "40", "4", "2"), (u.as_str(), "10", "12", "0")] {
        let form = [
            ("csrf", me.csrf.as_str()),
            ("year", &y),
            ("for", of),
            ("helped", helped),
            ("trainings", trainings),
            ("outreach", outreach),
        ];
        let res = server.post("/office/plan/target", c, &form).await;
        assert_eq!(res.status(), StatusCode::OK, "{of}");
    }
    // Refused, changing nothing: a wrong token, a hamlet or unit not the commune's, a bad number.
    let before = db.targets(COMMUNE, year).unwrap();
    let res = server
        .post(
            "/office/plan/target",
            c,
            &[
                ("csrf", "sai"),
                ("year", &y),
                ("for", "h:h-plei"),
                ("helped", "1"),
                ("trainings", "1"),
                ("outreach", "1"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    for (of, n) in [("h:h-khac", "1"), ("u:999", "1"), ("h:h-plei", "-1"), ("h:h-plei", "nhiều")] {
        let res = server
            .post(
                "/office/plan/target",
                c,
                &[("csrf", &me.csrf), ("year", &y), ("for", of), ("helped", n), ("trainings", "1"), ("outreach", "1")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{of} {n}");
    }
    assert_eq!(db.targets(COMMUNE, year).unwrap(), before);
    assert_eq!(before.hamlets["h-plei"], Target { helped: 40, trainings: 4, outreach: 2 });
    assert!(db
        .set_target("23500", year, &PlanFor::Unit(unit), Target { helped: 1, trainings: 0, outreach: 0 })
        .is_err());

    // The plan page: Plei Rơng's 3 trainings of 4 (75%), the team's 3 of 12 (25%).
    let html = server.get(&format!("/office/plan?year={year}"), c).await.text().await.unwrap();
    let hamlets = html.split("data-testid=\"plan-hamlets\"").nth(1).unwrap();
    assert!(hamlets.contains("<td>4</td><td>3</td><td>75,0%</td>"), "{hamlets}");
    let units = html.split("data-testid=\"plan-units\"").nth(1).unwrap();
    assert!(units.contains("<td>12</td><td>3</td><td>25,0%</td>"), "{units}");
    // The activity page for the year: the same, beside the activity.
    let html =
        server.get(&format!("/office/activity?from={year}-01-01&to={year}-12-31"), c).await.text().await.unwrap();
    let plan = html.split("data-testid=\"activity-plan\"").nth(1).expect("plan on the activity page");
    assert!(plan.contains("<td>4</td><td>3</td><td>75,0%</td><td>2</td><td>0</td><td>0,0%</td>"), "{plan}");
    // The coverage page: nobody helped yet of the 40 planned.
    let html = server.get("/office", c).await.text().await.unwrap();
    let plan = html.split("data-testid=\"coverage-plan\"").nth(1).expect("plan on the coverage page");
    assert!(plan.contains("<td>40</td><td>0</td><td>0,0%</td>"), "{plan}");

    // The timeline: a task added, shown, removed; a day outside the plan's year is refused.
    let form = [
        ("csrf", me.csrf.as_str()),
        ("year", &y),
        ("day", &format!("{year}-11-15")),
        ("task", "Các đơn vị gửi báo cáo"),
    ];
    assert_eq!(server.post("/office/plan/milestone", c, &form).await.status(), StatusCode::OK);
    let form = [("csrf", me.csrf.as_str()), ("year", &y), ("day", "1999-11-15"), ("task", "Sai năm")];
    assert_eq!(server.post("/office/plan/milestone", c, &form).await.status(), StatusCode::BAD_REQUEST);
    let tasks = db.milestones(COMMUNE, year).unwrap();
    assert_eq!(tasks.len(), 1);
    let html = server.get("/office/plan", c).await.text().await.unwrap();
    assert!(html.contains(&format!("15/11/{year}")) && html.contains("Các đơn vị gửi báo cáo"));
    let path = format!("/office/plan/milestone/{}/remove", tasks[0].id);
    assert_eq!(server.post(&path, c, &[("csrf", "sai"), ("year", &y)]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.post(&path, c, &[("csrf", &me.csrf), ("year", &y)]).await.status(), StatusCode::OK);
    assert!(db.milestones(COMMUNE, year).unwrap().is_empty());
    let log = db.audit_log(COMMUNE, 50).unwrap();
    assert!(["plan.target", "plan.milestone", "plan.milestone.remove"]
        .iter()
        .all(|a| log.iter().any(|(_, _, w, _)| w == a)));
}
