//! Prints who the device's store says is using it and whether they have a PIN, reading the
//! encrypted store with its key file as the desktop app does. `scripts/desktop-smoke.sh`
//! uses it to check that clicks in the real window reached the store.
//!
//! `cargo run --example store_probe -- PATH/sotay.db` prints `volunteer=v-lan pin=set`.

fn main() {
    let path = std::env::args().nth(1).expect("usage: store_probe PATH/sotay.db");
    let store = sotay::store::Store::open(&path).expect("open the store");
    let volunteer = store.current_volunteer().expect("read settings").unwrap_or_default();
    let pin = match store.pin_state(&volunteer).expect("read PINs") {
        sotay::store::PinState::NotSet => "none",
        _ => "set",
    };
    println!("volunteer={volunteer} pin={pin}");
}
