//! A device for the go-live walk, where a volunteer would hold a phone: it enrols from the
//! enrolment link `sotay-server enrol-code` printed (pinning the certificate, as the app
//! does), records one signature session (no ID number, no name) in a hamlet for a
//! volunteer, syncs it, and prints what the server acknowledged. `scripts/go-live.sh` runs it.
//!
//! `device_sync DIR 'sotay://enrol?u=…&c=…&fp=…' HAMLET_ID VOLUNTEER_ID` prints `sent=1 rejected=0`.

use std::sync::Arc;

use sotay::domain::*;
use sotay::enrol_link::EnrolLink;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, link, hamlet, volunteer] = args.as_slice() else {
        eprintln!("usage: device_sync DIR ENROLMENT_LINK HAMLET_ID VOLUNTEER_ID");
        std::process::exit(2);
    };
    let link = EnrolLink::parse(link).expect("an enrolment link");
    std::fs::create_dir_all(dir).expect("the device's folder");
    let store = Arc::new(sotay::store::Store::open(std::path::Path::new(dir).join("sotay.db")).expect("the store"));
    sotay::sync::enrol_pinned(&store, &link.server, link.fingerprint, &link.code, "Máy thử go-live")
        .await
        .expect("enrolment");
    store.set_current_volunteer(volunteer).expect("the volunteer");
    let body = Body::SignatureHelp(SignatureHelp {
        consent: false,
        person: None,
        level_before: AccountLevel::Level1,
        level_after: AccountLevel::Level2,
        outcome: Outcome::DigitalSignature,
        failure_reason: None,
        provider: Some("VNPT-CA".into()),
        parent_id: None,
    });
    let now = chrono::Local::now().naive_local();
    store
        .create(NewRecord { hamlet_id: hamlet.clone(), volunteer_id: volunteer.clone(), occurred_at: now, body })
        .expect("the record");
    let report = sotay::sync::run_once(&store, &mut Default::default()).await.expect("the sync");
    println!("sent={} rejected={}", report.sent, report.rejected);
}
