//! What the compiler cannot check of the architecture. The crates keep the big layers apart
//! (`sotay-core` cannot name the app or the server, the server cannot name the app), so
//! this file checks only the rest: the layers inside the app's crate, every module's `//!`
//! doc, where `unsafe` and logging may live, and the server's dependency tree.

use std::path::Path;

fn sources(sub: &str) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(sub);
    let mut files = Vec::new();
    if root.is_dir() {
        super::common::rust_files(&root, &mut files);
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
    assert_absent("store", &["dioxus", "crate::ui", "reqwest", "axum", "crate::i18n", "protocol::", "crate::sync"]);
}

#[test]
fn the_apps_words_know_nothing_of_the_store_the_sync_or_the_ui() {
    // `ui::wording` words their outcomes; `i18n` is only the strings.
    assert_absent("i18n", &["store::", "sync::", "crate::ui", "rusqlite"]);
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "crates/sotay-core/src", "crates/sotay-server/src"] {
        super::common::rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 60, "the sources were read ({})", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.trim_start().starts_with("//!"), "{} has no //! module doc", f.display());
    }
}

#[test]
fn unsafe_code_lives_in_androids_jni_only() {
    // Every crate denies `unsafe`. Only Android's JNI (`platform`, compiled for Android only)
    // may call C, so that is where to look when memory goes wrong; SQLCipher encrypts with
    // its own provider, and nothing of ours reaches into it.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "crates/sotay-core/src", "crates/sotay-server/src"] {
        super::common::rust_files(&root.join(dir), &mut files);
    }
    let mut allowing: Vec<String> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("allow(unsafe_code)"))
        .map(|f| f.strip_prefix(root).unwrap().display().to_string())
        .collect();
    allowing.sort();
    assert_eq!(allowing, ["src/platform.rs"]);
    for manifest in ["Cargo.toml", "crates/sotay-core/Cargo.toml", "crates/sotay-server/Cargo.toml"] {
        let cargo = std::fs::read_to_string(root.join(manifest)).unwrap();
        assert!(!cargo.contains("openssl-sys"), "no crate of ours calls OpenSSL directly ({manifest})");
        assert!(cargo.contains("unsafe_code = \"deny\"") || cargo.contains("[lints]\nworkspace = true"), "{manifest}");
    }
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
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/sotay-core/src");
    let mut files = Vec::new();
    super::common::rust_files(&core, &mut files);
    let mut all: Vec<(String, String)> =
        files.into_iter().map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap())).collect();
    all.extend(sources("store"));
    all.extend(sources("ui"));
    {
        for (file, text) in all {
            for w in ["println!", "eprintln!", "tracing::", "log::", "dbg!"] {
                assert!(!text.contains(w), "{file} uses `{w}`");
            }
        }
    }
}

#[test]
fn sync_knows_nothing_of_dioxus_or_sql() {
    assert_absent("sync", &["dioxus", "rusqlite", "axum", "crate::ui", "SELECT "]);
}

/// The packages and features in the dependency tree of one package, as Cargo resolves it
/// when that package is built alone.
fn dependency_tree(package: &str) -> String {
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["tree", "--offline", "--locked", "-p", package, "-e", "normal,build,features", "--prefix", "none"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_server_builds_without_dioxus_reqwest_or_sqlcipher() {
    // Built alone (`cargo build -p sotay-server`, as the Containerfile and the README do),
    // the server's SQLite is plain: Cargo unifies `libsqlite3-sys`'s features only among
    // the packages of one build.
    let tree = dependency_tree("sotay-server");
    assert!(tree.contains("libsqlite3-sys feature \"bundled\""), "the tree was read: {tree}");
    for word in ["dioxus", "reqwest", "sqlcipher", "openssl", "sotay v"] {
        assert!(!tree.contains(word), "the server's dependency tree holds `{word}`");
    }
}

#[test]
fn the_core_does_no_io() {
    // The domain and the wire are pure: no database, network, runtime or UI crate.
    let tree = dependency_tree("sotay-core");
    assert!(tree.contains("serde"), "the tree was read: {tree}");
    for word in ["rusqlite", "libsqlite3", "tokio", "axum", "hyper", "reqwest", "dioxus", "sotay v", "sotay-server"] {
        assert!(!tree.contains(word), "the core's dependency tree holds `{word}`");
    }
}
