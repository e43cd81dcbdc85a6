//! The volunteer's app: Dioxus components, in Vietnamese (default) or English.
//!
//! Owns screens, navigation and what the volunteer sees; holds no SQL, no HTTP and no
//! wording of its own (every string comes from `i18n`). The store reaches components as an
//! [`Services`] context provided once at the root, and every store call runs off the UI
//! thread through [`call`]. Navigation is a stack of [`Screen`]s in a signal rather than URL
//! routes, so the same `App` behaves alike in a desktop window, on a phone and over
//! liveview in the browser tests.

mod components;
mod detail;
mod enrol;
mod form;
mod home;
mod list;
mod lock;
mod settings;
mod volunteers;
mod wording;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dioxus::prelude::*;
use uuid::Uuid;

use crate::domain::RecordKind;
use crate::i18n::{Lang, Strings};
use crate::store::{Store, StoreError};
use crate::sync::worker::SyncHandle;

/// The stylesheet, inlined so the desktop window, phones and liveview all get it.
pub const CSS: &str = include_str!("../../assets/main.css");

/// Where the app keeps its data; given to the root as context by each launcher.
#[derive(Clone, Debug, PartialEq)]
pub struct AppConfig {
    pub db_path: PathBuf,
    /// The screen to open on, above home (home itself by default; tests open others).
    pub start: Screen,
    /// Lock after this long without a tap or keystroke (and whenever the app is hidden);
    /// `None` turns the lock and PINs off (component tests only).
    pub lock_after: Option<Duration>,
}

/// How long the app stays open without a touch: a few minutes, as on the phone itself.
pub const DEFAULT_LOCK_AFTER: Duration = Duration::from_secs(180);

impl AppConfig {
    /// The app's configuration: locked at start, after [`DEFAULT_LOCK_AFTER`] idle (or
    /// `SOTAY_LOCK_AFTER_SECS` seconds, which the browser tests shorten) and when hidden.
    pub fn new(db_path: impl Into<PathBuf>) -> AppConfig {
        let lock_after = std::env::var("SOTAY_LOCK_AFTER_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_LOCK_AFTER);
        AppConfig { db_path: db_path.into(), start: Screen::Home, lock_after: Some(lock_after) }
    }
}

/// Shared handles for components. Compared by pointer so it can be a prop.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<Store>,
    /// The store file's sync worker (idle until the device is enrolled).
    pub sync: SyncHandle,
}

impl PartialEq for Services {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

/// One screen of the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Screen {
    Home,
    ChooseVolunteer,
    /// A new record of a kind, optionally hanging off a visit or meeting.
    New(RecordKind, Option<Uuid>),
    Edit(Uuid),
    /// The record list, optionally showing one sync state (the quarantine of rejected ones).
    List(Option<crate::domain::SyncState>),
    Detail(Uuid),
    Enrol,
    /// The app's settings: its language.
    Settings,
}

/// App-wide UI state, shared as a context of signals.
#[derive(Clone, Copy)]
pub struct Ui {
    pub lang: Signal<Lang>,
    pub nav: Signal<Vec<Screen>>,
    /// Bumped after every write so screens re-read what they show.
    pub revision: Signal<u64>,
    pub volunteer: Signal<Option<String>>,
    /// A short confirmation shown on the next screen ("Đã lưu").
    pub flash: Signal<Option<String>>,
    /// True while the lock screen is up.
    pub locked: Signal<bool>,
    /// False only when the configuration turns the lock off.
    pub lock_enabled: bool,
    /// Counts forms opened afresh in place of another of the same kind ("Lưu và thêm
    /// người tiếp"), so the new one is a new component with nothing of the last one.
    pub form_seq: Signal<u64>,
}

impl Ui {
    pub fn t(&self) -> &'static Strings {
        (self.lang)().strings()
    }

    pub fn go(mut self, screen: Screen) {
        self.flash.set(None);
        self.nav.write().push(screen);
    }

    /// Replaces the current screen (after a save, so "back" skips the finished form). When
    /// the screen below is already `screen` (editing from a record), it is simply revealed.
    pub fn replace(mut self, screen: Screen) {
        let mut nav = self.nav.write();
        nav.pop();
        if nav.last() != Some(&screen) {
            nav.push(screen);
        }
    }

    /// Replaces the current form with a fresh one (which may be for the same kind and
    /// visit): the next person of a meeting.
    pub fn next_form(mut self, screen: Screen) {
        *self.form_seq.write() += 1;
        let mut nav = self.nav.write();
        nav.pop();
        nav.push(screen);
    }

    pub fn back(mut self) {
        self.flash.set(None);
        let mut nav = self.nav.write();
        if nav.len() > 1 {
            nav.pop();
        }
    }

    pub fn home(mut self) {
        self.flash.set(None);
        self.nav.set(vec![Screen::Home]);
    }

    pub fn changed(mut self) {
        *self.revision.write() += 1;
    }
}

/// Runs a store call on a blocking thread so the UI never waits on the disk.
pub async fn call<T, F>(store: &Arc<Store>, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::Other("store task stopped".into())),
    }
}

/// The root component. Opens the store named by [`AppConfig`], then shows the app, or a
/// clear message if the store cannot be used.
#[component]
pub fn App() -> Element {
    let config = use_context::<AppConfig>();
    let opened = use_resource(move || {
        let path = config.db_path.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let keys = crate::platform::key_store(&path);
                Store::open_with_keys(&path, keys.as_ref(), Arc::new(chrono::Utc::now))
                    .map(|s| Arc::new(s.with_search_labels(crate::i18n::search_labels)))
            })
            .await
            .unwrap_or_else(|_| Err(StoreError::Other("open task stopped".into())))
        }
    });
    let body = match &*opened.read() {
        None => rsx! { div { class: "loading", "…" } },
        Some(Ok(store)) => {
            let sync = crate::sync::worker::shared(store);
            rsx! { Shell { services: Services { store: store.clone(), sync } } }
        }
        Some(Err(e)) => {
            let t = Lang::Vi.strings();
            rsx! {
                div { class: "fatal", role: "alert",
                    h1 { "{t.store_unusable}" }
                    p { "{t.store_error(e)}" }
                    p { class: "hint", "{t.store_error_hint}" }
                }
            }
        }
    };
    rsx! {
        style { {CSS} }
        {body}
    }
}

/// Everything below the opened store: contexts, the header and the current screen.
#[component]
fn Shell(services: Services) -> Element {
    let config = use_context::<AppConfig>();
    let start = config.start.clone();
    let lock_after = config.lock_after;
    let store = services.store.clone();
    use_context_provider(|| services.clone());
    let lang = use_signal(|| Lang::Vi);
    let volunteer = use_signal(|| None::<String>);
    let ui = use_context_provider(|| Ui {
        lang,
        nav: Signal::new(if start == Screen::Home { vec![Screen::Home] } else { vec![Screen::Home, start] }),
        revision: Signal::new(0),
        volunteer,
        flash: Signal::new(None),
        locked: Signal::new(lock_after.is_some()),
        lock_enabled: lock_after.is_some(),
        form_seq: Signal::new(0),
    });
    // The idle lock: every tap or keystroke anywhere in the app counts as activity.
    let last_active = use_hook(|| std::rc::Rc::new(std::cell::Cell::new(std::time::Instant::now())));
    let touched = {
        let last_active = last_active.clone();
        move || last_active.set(std::time::Instant::now())
    };
    use_future({
        let last_active = last_active.clone();
        move || {
            let last_active = last_active.clone();
            async move {
                let Some(after) = lock_after else { return };
                let mut ui = ui;
                // Sleeps until the moment the app would be idle for `after`, not in a
                // polling loop: a phone's CPU stays asleep in between.
                loop {
                    let left = after.saturating_sub(last_active.get().elapsed());
                    if left.is_zero() && !*ui.locked.peek() {
                        ui.flash.set(None);
                        ui.locked.set(true);
                    }
                    tokio::time::sleep(if left.is_zero() { after } else { left }).await;
                }
            }
        }
    });
    // The background lock: the page is hidden when the app goes to the background (or the
    // window is minimised), and the webview says so.
    use_future(move || async move {
        if lock_after.is_none() {
            return;
        }
        let mut ui = ui;
        let mut hidden = document::eval(
            "document.addEventListener('visibilitychange', () => {
                 if (document.visibilityState === 'hidden') { dioxus.send('hidden'); }
             });",
        );
        while let Ok(what) = hidden.recv::<String>().await {
            if what == "hidden" {
                ui.flash.set(None);
                ui.locked.set(true);
            }
        }
    });
    // Every change of the sync worker's status (a record sent, rejected, pulled) refreshes
    // whatever screen is showing.
    let sync = services.sync.clone();
    use_future(move || {
        let mut rx = sync.subscribe();
        async move {
            while rx.changed().await.is_ok() {
                ui.changed();
            }
        }
    });
    // Language and volunteer are settings: read them once, write them on change.
    let loaded = use_resource(move || {
        let store = store.clone();
        let (mut lang, mut volunteer) = (lang, volunteer);
        async move {
            let (l, v) = call(&store, |s| Ok((s.setting("language")?, s.current_volunteer()?))).await?;
            lang.set(l.as_deref().and_then(Lang::from_code).unwrap_or(Lang::Vi));
            volunteer.set(v);
            Ok::<_, StoreError>(())
        }
    });
    if loaded.read().is_none() {
        return rsx! { div { class: "loading", "…" } };
    }
    let t = ui.t();
    let screen = ui.nav.read().last().cloned().unwrap_or(Screen::Home);
    let locked = (ui.locked)();
    let screen = if (ui.volunteer)().is_none() { Screen::ChooseVolunteer } else { screen };
    let can_go_back = ui.nav.read().len() > 1 && (ui.volunteer)().is_some() && !locked;
    let (t1, t2, t3) = (touched.clone(), touched.clone(), touched);
    rsx! {
        div { class: "app", lang: (ui.lang)().code(),
            onpointerdown: move |_| t1(), onkeydown: move |_| t2(), oninput: move |_| t3(),
            header { class: "topbar",
                if can_go_back {
                    button { class: "back", "data-testid": "back", "aria-label": t.back, onclick: move |_| ui.back(), "‹ {t.back}" }
                } else {
                    span { class: "brand", "{t.app_name}" }
                }
                if ui.lock_enabled && !locked && (ui.volunteer)().is_some() {
                    button { class: "lock-now", "data-testid": "lock-now", "aria-label": t.lock_now,
                        onclick: move |_| { let mut ui = ui; ui.locked.set(true); }, "🔒 {t.lock_now}" }
                }
            }
            if locked {
                main { lock::LockScreen {} }
            } else {
            if let Some(msg) = (ui.flash)() {
                div { class: "flash", role: "status", "{msg}" }
            }
            main {
                ErrorBoundary {
                    handle_error: move |_err: ErrorContext| {
                        let t = ui.t();
                        rsx! { div { class: "fatal", role: "alert", p { "{t.something_failed}" } } }
                    },
                    match screen {
                        Screen::Home => rsx! { home::Home {} },
                        Screen::ChooseVolunteer => rsx! { volunteers::ChooseVolunteer {} },
                        Screen::New(kind, parent) => rsx! { form::FormScreen { key: "{kind:?}{parent:?}{ui.form_seq}", kind: Some(kind), record_id: None, parent } },
                        Screen::Edit(id) => rsx! { form::FormScreen { key: "{id}", kind: None, record_id: Some(id), parent: None } },
                        Screen::List(state) => rsx! { list::RecordList { key: "{state:?}", preset: state } },
                        Screen::Enrol => rsx! { enrol::Enrol {} },
                        Screen::Settings => rsx! { settings::Settings {} },
                        Screen::Detail(id) => rsx! { detail::Detail { key: "{id}", id } },
                    }
                }
            }
            }
        }
    }
}
