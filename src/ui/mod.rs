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
mod volunteers;

use std::path::PathBuf;
use std::sync::Arc;

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
}

impl AppConfig {
    pub fn new(db_path: impl Into<PathBuf>) -> AppConfig {
        AppConfig { db_path: db_path.into(), start: Screen::Home }
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
                Store::open(path).map(|s| Arc::new(s.with_search_labels(crate::i18n::search_labels)))
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
    let start = use_context::<AppConfig>().start;
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
    let screen = if (ui.volunteer)().is_none() { Screen::ChooseVolunteer } else { screen };
    let can_go_back = ui.nav.read().len() > 1 && (ui.volunteer)().is_some();
    rsx! {
        div { class: "app", lang: (ui.lang)().code(),
            header { class: "topbar",
                if can_go_back {
                    button { class: "back", "data-testid": "back", "aria-label": t.back, onclick: move |_| ui.back(), "‹ {t.back}" }
                } else {
                    span { class: "brand", "{t.app_name}" }
                }
                components::LangSwitch {}
            }
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
                        Screen::New(kind, parent) => rsx! { form::FormScreen { key: "{kind:?}{parent:?}", kind: Some(kind), record_id: None, parent } },
                        Screen::Edit(id) => rsx! { form::FormScreen { key: "{id}", kind: None, record_id: Some(id), parent: None } },
                        Screen::List(state) => rsx! { list::RecordList { key: "{state:?}", preset: state } },
                        Screen::Enrol => rsx! { enrol::Enrol {} },
                        Screen::Detail(id) => rsx! { detail::Detail { key: "{id}", id } },
                    }
                }
            }
        }
    }
}
