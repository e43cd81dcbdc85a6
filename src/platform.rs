//! The little that differs per platform: where the app may write its data file.
//!
//! Desktop and iOS use `dirs::data_dir()`; Android has no such directory in `dirs`, so the
//! app asks its `Context.getFilesDir()` over JNI. `SOTAY_DB` overrides the path anywhere
//! (tests, a second profile on a desktop).

use std::path::PathBuf;

/// The path of the store file for this installation.
pub fn default_db_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SOTAY_DB") {
        return PathBuf::from(p);
    }
    data_dir().join("sotay.db")
}

#[cfg(not(target_os = "android"))]
fn data_dir() -> PathBuf {
    #[cfg(any(feature = "desktop", feature = "mobile"))]
    if let Some(d) = dirs::data_dir() {
        return d.join("sotay");
    }
    PathBuf::from(".sotay")
}

#[cfg(target_os = "android")]
#[allow(unsafe_code)]
fn data_dir() -> PathBuf {
    use jni::objects::{JObject, JString};
    // SAFETY: ndk-context hands out the live JavaVM and Activity pointers that the Android
    // glue (used by dioxus-mobile) registered at start-up; both outlive this call.
    let ctx = ndk_context::android_context();
    let vm = unsafe { jni::JavaVM::from_raw(ctx.vm().cast()) }.expect("Android JavaVM");
    let mut env = vm.attach_current_thread().expect("attach to the JavaVM");
    let context = unsafe { JObject::from_raw(ctx.context().cast()) };
    let dir = env
        .call_method(&context, "getFilesDir", "()Ljava/io/File;", &[])
        .and_then(|v| v.l())
        .expect("Context.getFilesDir");
    let path = env
        .call_method(&dir, "getAbsolutePath", "()Ljava/lang/String;", &[])
        .and_then(|v| v.l())
        .expect("File.getAbsolutePath");
    let path: String = env.get_string(&JString::from(path)).expect("a UTF-8 path").into();
    PathBuf::from(path)
}
