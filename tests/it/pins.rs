//! A found tablet opens for no one: on an enrolled device only the volunteers the office
//! assigned are offered, and a first PIN needs the office's one-time code or a team lead's
//! PIN. PINs survive enrolment.

use std::sync::Arc;

use chrono::{Duration, Utc};
use sotay::store::{Authority, PinCheck, PinState, Store};
use sotay::sync::engine::BatchSize;
use sotay::sync::run_once;

use super::common::*;
use super::sync::{start_server, TestServer, COMMUNE};

const LAN_PIN: &str = "240681";
const THU_PIN: &str = "573920";

/// A fresh store enrolled with a code that assigns `volunteers`; gives the PIN codes.
async fn enrol_with(
    server: &TestServer,
    volunteers: &[&str],
) -> (Arc<Store>, tempfile::TempDir, Vec<(String, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("sotay.db")).unwrap());
    let ids: Vec<String> = volunteers.iter().map(|v| v.to_string()).collect();
    let code = server.db.new_enrol_code_for(COMMUNE, Duration::hours(1), Utc::now(), &ids).unwrap();
    sotay::sync::enrol(&store, &server.url, &code.code, "máy tìm thấy").await.unwrap();
    run_once(&store, &mut BatchSize::default()).await.unwrap();
    (store, dir, code.pin_codes)
}

fn code_for<'a>(codes: &'a [(String, String)], volunteer: &str) -> &'a str {
    &codes.iter().find(|(v, _)| v == volunteer).unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_found_tablet_offers_only_its_volunteers_and_a_first_pin_needs_the_office_or_a_team_lead() {
    let server = start_server().await;
    let (store, _dir, codes) = enrol_with(&server, &["v-lan", "v-thu"]).await;
    let here: Vec<String> = store.volunteers_here().unwrap().into_iter().map(|v| v.id).collect();
    assert_eq!(here, vec!["v-lan", "v-thu"], "only the assigned volunteers, in the commune's order");

    // Someone not assigned gets nowhere, whatever they try.
    assert_eq!(store.pin_state("v-hung").unwrap(), PinState::NotHere);
    assert_eq!(store.set_pin("v-hung", "918273").unwrap(), PinCheck::NotHere);
    assert_eq!(store.check_pin("v-hung", "918273").unwrap(), PinCheck::NotHere);

    // An assigned volunteer cannot simply choose a PIN: it needs an authority.
    assert_eq!(store.pin_state("v-lan").unwrap(), PinState::NeedsAuthority);
    assert_eq!(store.set_pin("v-lan", LAN_PIN).unwrap(), PinCheck::NeedsAuthority);
    assert_eq!(store.pin_state("v-lan").unwrap(), PinState::NeedsAuthority, "nothing was stored");
    // A wrong code, or another volunteer's code, is refused.
    assert_eq!(store.authorise_first_pin("v-lan", Authority::OfficeCode("ABCD-EFGH")).unwrap(), PinCheck::CodeRefused);
    let thu_code = code_for(&codes, "v-thu").to_owned();
    assert_eq!(store.authorise_first_pin("v-lan", Authority::OfficeCode(&thu_code)).unwrap(), PinCheck::CodeRefused);
    // The office's code for her, typed in lower case with spaces, lets her choose one, once.
    let lan_code = code_for(&codes, "v-lan").to_lowercase().replace('-', " ");
    assert_eq!(store.authorise_first_pin("v-lan", Authority::OfficeCode(&lan_code)).unwrap(), PinCheck::Right);
    assert_eq!(store.pin_state("v-lan").unwrap(), PinState::NotSet);
    assert_eq!(store.set_pin("v-lan", LAN_PIN).unwrap(), PinCheck::Right);
    assert_eq!(store.check_pin("v-lan", LAN_PIN).unwrap(), PinCheck::Right);
    let settings: Vec<String> = raw_conn(&_dir.path().join("sotay.db"))
        .prepare("SELECT key FROM settings")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!settings.contains(&"pin_code:v-lan".to_owned()), "a code is spent when used");
    assert!(settings.contains(&"pin_code:v-thu".to_owned()));

    // The team lead sets hers with her code; then her PIN lets a newly assigned volunteer
    // choose one (after the office assigns him and the device syncs).
    assert_eq!(store.authorise_first_pin("v-thu", Authority::OfficeCode(&thu_code)).unwrap(), PinCheck::Right);
    assert_eq!(store.set_pin("v-thu", THU_PIN).unwrap(), PinCheck::Right);
    let device = store.enrolment().unwrap().unwrap().device_id;
    server.db.assign(COMMUNE, &device, &["v-lan".into(), "v-thu".into(), "v-minh".into()]).unwrap();
    run_once(&store, &mut BatchSize::default()).await.unwrap();
    assert_eq!(store.pin_state("v-minh").unwrap(), PinState::NeedsAuthority);
    let wrong = store.authorise_first_pin("v-minh", Authority::Lead { lead_id: "v-thu", lead_pin: "000000" }).unwrap();
    assert!(matches!(wrong, PinCheck::Wrong { .. }), "{wrong:?}");
    let not_a_lead = Authority::Lead { lead_id: "v-lan", lead_pin: LAN_PIN };
    assert_eq!(store.authorise_first_pin("v-minh", not_a_lead).unwrap(), PinCheck::NotSet);
    let lead = Authority::Lead { lead_id: "v-thu", lead_pin: THU_PIN };
    assert_eq!(store.authorise_first_pin("v-minh", lead).unwrap(), PinCheck::Right);
    assert_eq!(store.set_pin("v-minh", "864209").unwrap(), PinCheck::Right);

    // Taken off the device by the office: offered no more, and the PIN no longer opens it.
    server.db.assign(COMMUNE, &device, &["v-thu".into(), "v-minh".into()]).unwrap();
    run_once(&store, &mut BatchSize::default()).await.unwrap();
    assert_eq!(store.pin_state("v-lan").unwrap(), PinState::NotHere);
    assert_eq!(store.check_pin("v-lan", LAN_PIN).unwrap(), PinCheck::NotHere);

    // A code the office gives later for this device works; assigned again, v-lan still has
    // the PIN she chose.
    let fresh = server.db.new_pin_code(COMMUNE, &device, "v-hung", Utc::now()).unwrap();
    server.db.assign(COMMUNE, &device, &["v-thu".into(), "v-minh".into(), "v-hung".into(), "v-lan".into()]).unwrap();
    run_once(&store, &mut BatchSize::default()).await.unwrap();
    assert_eq!(store.authorise_first_pin("v-hung", Authority::OfficeCode(&fresh)).unwrap(), PinCheck::Right);
    assert!(matches!(store.pin_state("v-lan").unwrap(), PinState::Ready { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_codes_reach_only_their_device_and_an_expired_one_is_refused() {
    let server = start_server().await;
    let (a, _a_dir, _) = enrol_with(&server, &["v-lan"]).await;
    let (b, _b_dir, _) = enrol_with(&server, &["v-lan"]).await;
    let device_a = a.enrolment().unwrap().unwrap().device_id;
    let code = server.db.new_pin_code(COMMUNE, &device_a, "v-lan", Utc::now()).unwrap();
    for s in [&a, &b] {
        run_once(s, &mut BatchSize::default()).await.unwrap();
    }
    assert_eq!(b.authorise_first_pin("v-lan", Authority::OfficeCode(&code)).unwrap(), PinCheck::CodeRefused);
    assert_eq!(a.authorise_first_pin("v-lan", Authority::OfficeCode(&code)).unwrap(), PinCheck::Right);
    // A code made eight days ago has expired.
    let device_b = b.enrolment().unwrap().unwrap().device_id;
    let old = server.db.new_pin_code(COMMUNE, &device_b, "v-lan", Utc::now() - Duration::days(8)).unwrap();
    run_once(&b, &mut BatchSize::default()).await.unwrap();
    assert_eq!(b.authorise_first_pin("v-lan", Authority::OfficeCode(&old)).unwrap(), PinCheck::CodeRefused);
    // The office cannot make codes or assignments for another commune's device, or for
    // someone who is not a volunteer.
    assert!(server.db.new_pin_code("99999", &device_b, "v-lan", Utc::now()).is_err());
    assert!(server.db.new_pin_code(COMMUNE, &device_b, "v-nobody", Utc::now()).is_err());
    assert!(server.db.assign(COMMUNE, "not-a-device", &["v-lan".into()]).is_err());
}

#[test]
fn pins_survive_enrolment_and_practice_needs_no_authority() {
    let t = sample_store();
    // Practice (not enrolled): anyone chooses a PIN.
    assert_eq!(t.store.pin_state("v-lan").unwrap(), PinState::NotSet);
    assert_eq!(t.store.set_pin("v-lan", LAN_PIN).unwrap(), PinCheck::Right);
    let enrolment = sotay::store::Enrolment {
        server_url: "http://127.0.0.1:9".into(),
        commune: COMMUNE.into(),
        token: "t".into(),
        device_id: "d".into(),
        cert_pin: None,
    };
    let key = sotay::domain::citizen_id::OpenKey::generate().seal_key().clone();
    let mut reference = sotay::domain::sample::sample_reference();
    reference.commune.sample = false;
    t.store.enrol(&enrolment, &key, &reference).unwrap();
    // Enrolled, before any assignment arrived: nobody is offered.
    assert!(t.store.volunteers_here().unwrap().is_empty());
    let change = sotay::protocol::Change::Assignment { volunteers: vec!["v-lan".into()] };
    t.store.apply_pull(&[sotay::sync::pulled(change)], 1).unwrap();
    assert!(matches!(t.store.pin_state("v-lan").unwrap(), PinState::Ready { .. }), "her PIN survived enrolment");
    assert_eq!(t.store.check_pin("v-lan", LAN_PIN).unwrap(), PinCheck::Right);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_chooses_a_devices_users_and_gives_a_pin_code_that_opens_it_for_one_of_them() {
    use super::consent::OfficeClient;
    const USER: &str = "canbo.thietbi";
    const PASSWORD: &str = "Kon Braih 01/12!";
    let server = start_server().await;
    server.db.put_account(USER, PASSWORD, COMMUNE, Utc::now()).unwrap();
    let office = OfficeClient::login(&server.url, USER, PASSWORD).await;

    // A code from the devices page for A Hưng's tablet gives his first-PIN code with it.
    let (status, page) = office.post("/office/devices/code", &[("v", "v-hung")]).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{page}");
    let code_at = page.find("data-testid=\"enrol-code\"").unwrap();
    let enrol_code = page[code_at..].split("<p class=\"code\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let pin_code = page.split("data-volunteer=\"v-hung\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("sotay.db")).unwrap());
    sotay::sync::enrol(&store, &server.url, &enrol_code, "máy A Hưng").await.unwrap();
    let here: Vec<String> = store.volunteers_here().unwrap().into_iter().map(|v| v.id).collect();
    assert_eq!(here, vec!["v-hung"], "assigned at enrolment, pulled at once");
    assert_eq!(store.authorise_first_pin("v-hung", Authority::OfficeCode(&pin_code)).unwrap(), PinCheck::Right);

    // The device's page: add Y Lan, and give her a code there.
    let device = store.enrolment().unwrap().unwrap().device_id;
    let (status, page) = office.get(&format!("/office/devices/{device}")).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(page.contains("value=\"v-lan\"") && page.contains("checked"));
    let (status, _) = office.post(&format!("/office/devices/{device}/users"), &[("v", "v-hung"), ("v", "v-lan")]).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let (status, page) = office.post(&format!("/office/devices/{device}/pin-code"), &[("volunteer", "v-lan")]).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let lan_code = page.split("data-volunteer=\"v-lan\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    run_once(&store, &mut BatchSize::default()).await.unwrap();
    assert_eq!(store.authorise_first_pin("v-lan", Authority::OfficeCode(&lan_code)).unwrap(), PinCheck::Right);

    // Someone not on the commune's list, a device of nobody's, a volunteer not on the device,
    // or a form without its token: refused, nothing changes.
    let (status, _) = office.post(&format!("/office/devices/{device}/users"), &[("v", "v-nobody")]).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    let (status, _) = office.post("/office/devices/not-a-device/users", &[("v", "v-lan")]).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    let (status, _) = office.post(&format!("/office/devices/{device}/pin-code"), &[("volunteer", "v-minh")]).await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    let forged = office
        .http
        .post(format!("{}/office/devices/{device}/users", server.url))
        .header(reqwest::header::COOKIE, &office.cookie)
        .form(&[("v", "v-minh")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), reqwest::StatusCode::FORBIDDEN);
    assert_eq!(server.db.assignments(COMMUNE).unwrap()[&device], vec!["v-hung", "v-lan"]);
    // Each change is in the audit log, with no code in it.
    let audit = server.db.audit_log(COMMUNE, 50).unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.2.as_str()).collect();
    for action in ["device.code", "device.users", "device.pin_code"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(audit.iter().all(|e| !e.3.contains(&lan_code) && !e.3.contains(&pin_code)));
}
