//! The architecture's invariants, checked on the source: dependencies point one way and
//! every module says what it owns.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn sources(sub: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(sub);
    let mut files = Vec::new();
    if root.is_dir() {
        rust_files(&root, &mut files);
    } else {
        files.push(root.with_extension("rs"));
    }
    files.into_iter().map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap())).collect()
}

fn assert_absent(layer: &str, words: &[&str]) {
    for (file, text) in sources(layer) {
        for w in words {
            assert!(!text.contains(w), "{file} mentions `{w}`, which layer `{layer}` must not know");
        }
    }
}

#[test]
fn the_ui_never_touches_sql_or_the_network() {
    assert_absent("ui", &["rusqlite", "reqwest", "axum", "SELECT ", "INSERT "]);
}

#[test]
fn the_store_knows_nothing_of_the_ui_or_the_network() {
    assert_absent("store", &["dioxus", "crate::ui", "reqwest", "axum", "crate::i18n"]);
}

#[test]
fn the_domain_depends_on_nothing_of_ours() {
    assert_absent("domain", &["rusqlite", "dioxus", "reqwest", "axum", "crate::store", "crate::ui", "crate::i18n"]);
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.trim_start().starts_with("//!"), "{} has no //! module doc", f.display());
    }
}

#[test]
fn unsafe_code_lives_in_androids_jni_only() {
    // The crate denies `unsafe`. Only Android's JNI (`platform`, compiled for Android only)
    // may call C, so that is where to look when memory goes wrong; SQLCipher encrypts with
    // its own provider, and nothing of ours reaches into it.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut allowing: Vec<String> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("allow(unsafe_code)"))
        .map(|f| f.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    allowing.sort();
    assert_eq!(allowing, ["platform.rs"]);
    let cargo = std::fs::read_to_string(root.with_file_name("Cargo.toml")).unwrap();
    assert!(!cargo.contains("openssl-sys"), "no crate of ours calls OpenSSL directly");
}

#[test]
fn androids_key_module_leaves_its_file_to_the_durable_helper() {
    // The wrapped key must survive a power cut like the desktop's key file: Android's key
    // module (compiled for Android only) reads and writes its file only through
    // `WrappedKeyFile`, which writes with `store::key::write_private_file`.
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/platform.rs")).unwrap();
    let start = text.find("mod android_keys {").expect("the Android key module");
    let end = start + text[start..].find("\n}\n").expect("its end");
    let module = &text[start..end];
    assert!(module.contains("self.file.write(") && module.contains("self.file.read("));
    assert!(!module.contains("std::fs::") && !module.contains("KeyFile::"), "no file work of its own");
    let helper = &text[text.find("impl WrappedKeyFile").unwrap()..];
    assert!(helper.contains("key::write_private_file(&self.path, bytes)"));
}

#[test]
fn no_personal_data_goes_to_logs() {
    // The app logs nothing about records; a print or log macro in these layers would be
    // the first place a name or phone number could leak.
    for layer in ["domain", "store", "ui"] {
        for (file, text) in sources(layer) {
            for w in ["println!", "eprintln!", "tracing::", "log::", "dbg!"] {
                assert!(!text.contains(w), "{file} uses `{w}`");
            }
        }
    }
}

#[test]
fn the_server_and_the_wire_know_nothing_of_the_ui() {
    assert_absent("server", &["dioxus", "crate::ui", "crate::sync", "crate::store"]);
    assert_absent("protocol", &["dioxus", "rusqlite", "axum", "reqwest", "crate::store", "crate::ui", "crate::server"]);
}

#[test]
fn sync_knows_nothing_of_dioxus_or_sql() {
    assert_absent("sync", &["dioxus", "rusqlite", "axum", "crate::ui", "SELECT "]);
}

#[test]
fn the_server_build_leaves_dioxus_out() {
    let manifest = include_str!("../../Cargo.toml");
    let server = manifest.lines().find(|l| l.starts_with("server = [")).expect("a server feature");
    assert!(!server.contains("dioxus") && !server.contains("app"), "{server}");
    let dioxus = manifest.lines().find(|l| l.starts_with("dioxus = ")).unwrap();
    assert!(dioxus.contains("optional = true"), "dioxus must be optional so the server can leave it out");
}
