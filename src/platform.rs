//! The little that differs per platform: where the app may write its data file, and where
//! the store's encryption key is kept.
//!
//! Desktop and iOS use `dirs::data_dir()`; Android has no such directory in `dirs`, so the
//! app asks its `Context.getFilesDir()` over JNI. `SOTAY_DB` overrides the path anywhere
//! (tests, a second profile on a desktop).
//!
//! Keys ([`key_store`]): on Android the random store key is wrapped (AES-GCM) by a key that
//! never leaves the Android Keystore, and only the wrapped bytes sit in the app's files
//! ([`WrappedKeyFile`]); on iOS it is a Keychain item readable only while the device is
//! unlocked, on this device only; elsewhere it is a file beside the store readable only by
//! the user ([`KeyFile`]). The Android and iOS code cannot be built into an app on this
//! Linux machine (no NDK, no iOS SDK), but `scripts/check-phone.sh` compiles it here for
//! both (README, "Phones"); `dx build` builds the apps.

use std::path::{Path, PathBuf};

use crate::store::key::{self, KeyError, KeyFile, KeyStore};

/// The key store for the store file at `db_path`, on this platform.
pub fn key_store(db_path: &Path) -> Box<dyn KeyStore> {
    #[cfg(target_os = "android")]
    {
        Box::new(android_keys::WrappedKey { file: WrappedKeyFile::beside(db_path) })
    }
    #[cfg(target_os = "ios")]
    {
        let account = db_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Box::new(ios_keys::Keychain { account })
    }
    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    {
        Box::new(KeyFile::beside(db_path))
    }
}

/// The file that holds Android's wrapped store key: `sotay.db.key.wrapped` beside the
/// store `sotay.db` (README, "Phones"), written with [`key::write_private_file`]. Versions
/// before it wrote `sotay.db.wrapped`; an install that has only that file still opens, and
/// the file is moved to the new name at the first read.
///
/// Only the bytes' place is here; sealing them is the Keystore's (`android_keys`). It is
/// compiled everywhere so that its tests run on any machine.
#[derive(Debug, Clone)]
pub struct WrappedKeyFile {
    path: PathBuf,
    legacy: PathBuf,
}

impl WrappedKeyFile {
    pub fn beside(db_path: &Path) -> WrappedKeyFile {
        let key_file = KeyFile::beside(db_path).path().to_path_buf();
        let mut name = key_file.clone().into_os_string();
        name.push(".wrapped");
        // `with_extension` replaced `.key`: the name the first Android versions wrote.
        WrappedKeyFile { path: PathBuf::from(name), legacy: key_file.with_extension("wrapped") }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The name the first Android versions wrote the wrapped key under.
    pub fn legacy_path(&self) -> &Path {
        &self.legacy
    }

    /// The wrapped bytes, or `None` if neither name holds any.
    pub fn read(&self) -> Result<Option<Vec<u8>>, KeyError> {
        if let Some(bytes) = read_if_present(&self.path)? {
            return Ok(Some(bytes));
        }
        let Some(bytes) = read_if_present(&self.legacy)? else {
            // Another opening may have just moved the old file: look at the new name again.
            return read_if_present(&self.path);
        };
        // The bytes are already on disk under the old name, so a failed move changes nothing.
        if std::fs::rename(&self.legacy, &self.path).is_ok() {
            let _ = key::sync_folder(&self.path);
        }
        Ok(Some(bytes))
    }

    /// Keeps the wrapped bytes durably.
    pub fn write(&self, bytes: &[u8]) -> Result<(), KeyError> {
        key::write_private_file(&self.path, bytes)
    }
}

fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, KeyError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(_) => Err(KeyError::Unreadable),
    }
}

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

#[cfg(target_os = "ios")]
mod ios_keys {
    //! The store key as a generic-password item in the iOS Keychain, readable only while
    //! the device is unlocked and only on this device
    //! (`kSecAttrAccessibleWhenUnlockedThisDeviceOnly`).
    //!
    //! "This device only" keeps the key out of backups and off other phones: a backup of
    //! the app's files restored elsewhere carries an encrypted store without its key.
    //! "When unlocked" rather than "after first unlock": the app reads the key once, when it
    //! opens its store, which happens when someone starts it on an unlocked phone; its
    //! connection keeps the key from then on, so locking the phone later changes nothing.
    //! A tablet found locked (but unlocked once since it was switched on) keeps the item
    //! sealed under the passcode, where "after first unlock" would leave it readable to
    //! whoever can run code on it. The app has no background mode that would need the key
    //! while the phone is locked; if it ever opened its store then, that opening would be
    //! the clear "key unavailable" error, and the next start while unlocked would open.
    //!
    //! The first iOS versions kept the key under [`OLD_SERVICE`] with the Keychain's default
    //! accessibility (when unlocked, but carried to other devices by backups). Such an item
    //! is copied once to a this-device-only item under [`SERVICE`], read back, and only
    //! then deleted, so at every moment one of them holds the key.
    use security_framework::access_control::{ProtectionMode, SecAccessControl};
    use security_framework::passwords::{
        delete_generic_password, generic_password, set_generic_password_options, PasswordOptions,
    };

    use crate::store::key::{DbKey, KeyError, KeyStore};

    /// The item's service; the account is the store file's name.
    const SERVICE: &str = "vn.sotay.store-key.this-device";
    /// The service of the first iOS versions' item.
    const OLD_SERVICE: &str = "vn.sotay.store-key";
    /// errSecItemNotFound.
    const NOT_FOUND: i32 = -25300;

    pub struct Keychain {
        pub account: String,
    }

    impl Keychain {
        fn read(&self, service: &str) -> Result<Option<DbKey>, KeyError> {
            match generic_password(PasswordOptions::new_generic_password(service, &self.account)) {
                Ok(bytes) => {
                    let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Damaged)?;
                    Ok(Some(DbKey::from_bytes(bytes)))
                }
                Err(e) if e.code() == NOT_FOUND => Ok(None),
                Err(_) => Err(KeyError::Unreadable),
            }
        }

        fn write(&self, key: &DbKey) -> Result<(), KeyError> {
            let mut options = PasswordOptions::new_generic_password(SERVICE, &self.account);
            let access =
                SecAccessControl::create_with_protection(Some(ProtectionMode::AccessibleWhenUnlockedThisDeviceOnly), 0)
                    .map_err(|_| KeyError::Unwritable)?;
            options.set_access_control(access);
            set_generic_password_options(key.as_bytes(), options).map_err(|_| KeyError::Unwritable)
        }
    }

    impl KeyStore for Keychain {
        fn load(&self) -> Result<Option<DbKey>, KeyError> {
            if let Some(key) = self.read(SERVICE)? {
                return Ok(Some(key));
            }
            let Some(key) = self.read(OLD_SERVICE)? else { return Ok(None) };
            // Moved to a this-device-only item; if that fails, the old item still opens the store.
            if self.write(&key).is_ok() && self.read(SERVICE).ok().flatten().as_ref() == Some(&key) {
                let _ = delete_generic_password(OLD_SERVICE, &self.account);
            }
            Ok(Some(key))
        }

        fn save(&self, key: &DbKey) -> Result<(), KeyError> {
            self.write(key)
        }
    }
}

#[cfg(target_os = "android")]
#[allow(unsafe_code)]
mod android_keys {
    //! The store key wrapped by an AES-256-GCM key that lives in the Android Keystore (it
    //! cannot be exported, so a copy of the app's files alone does not open the store).
    //! File layout ([`WrappedKeyFile`]): one byte of IV length, the IV, then the ciphertext
    //! with its GCM tag.
    use std::sync::Mutex;

    use jni::objects::{JByteArray, JObject, JValue};
    use jni::JNIEnv;

    use super::WrappedKeyFile;
    use crate::store::key::{DbKey, KeyError, KeyStore};

    const ALIAS: &str = "sotay-store-key";

    /// Held while the Keystore key is looked up and, the first time, made: two openings at
    /// once would otherwise both find no key and each make one, the second replacing the
    /// key the first has just wrapped the store key with.
    static KEYSTORE: Mutex<()> = Mutex::new(());

    pub struct WrappedKey {
        pub file: WrappedKeyFile,
    }

    /// Runs `f` with this thread attached to the app's JavaVM. `None` for any failure: no
    /// Android context (the Activity is gone: `ndk_context` has no fallible call and panics
    /// then; the panic is caught here, so the opening gets the store's "key unavailable"
    /// error, though the panic hook still notes where it happened), JNI refusing, or a Java
    /// exception.
    fn with_env<T>(f: impl FnOnce(&mut JNIEnv) -> jni::errors::Result<T>) -> Option<T> {
        let ctx = std::panic::catch_unwind(ndk_context::android_context).ok()?;
        // SAFETY: as in `data_dir`: the JavaVM pointer is live for the app's lifetime.
        let vm = unsafe { jni::JavaVM::from_raw(ctx.vm().cast()) }.ok()?;
        let mut env = vm.attach_current_thread().ok()?;
        let result = f(&mut env);
        if env.exception_check().unwrap_or(false) {
            let _ = env.exception_clear();
            return None;
        }
        result.ok()
    }

    /// The Keystore key, made on first use (under [`KEYSTORE`]: the alias is checked and
    /// the key made and read back by one opening at a time).
    fn keystore_key<'a>(env: &mut JNIEnv<'a>) -> jni::errors::Result<JObject<'a>> {
        let _only_one = KEYSTORE.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let provider = env.new_string("AndroidKeyStore")?;
        let ks = env
            .call_static_method(
                "java/security/KeyStore",
                "getInstance",
                "(Ljava/lang/String;)Ljava/security/KeyStore;",
                &[JValue::Object(&provider)],
            )?
            .l()?;
        env.call_method(
            &ks,
            "load",
            "(Ljava/security/KeyStore$LoadStoreParameter;)V",
            &[JValue::Object(&JObject::null())],
        )?;
        let alias = env.new_string(ALIAS)?;
        let exists = env.call_method(&ks, "containsAlias", "(Ljava/lang/String;)Z", &[JValue::Object(&alias)])?.z()?;
        if !exists {
            // PURPOSE_ENCRYPT | PURPOSE_DECRYPT
            let builder = env.new_object(
                "android/security/keystore/KeyGenParameterSpec$Builder",
                "(Ljava/lang/String;I)V",
                &[JValue::Object(&alias), JValue::Int(3)],
            )?;
            let string_class = env.find_class("java/lang/String")?;
            let gcm = env.new_string("GCM")?;
            let modes = env.new_object_array(1, &string_class, &gcm)?;
            let builder = env
                .call_method(
                    &builder,
                    "setBlockModes",
                    "([Ljava/lang/String;)Landroid/security/keystore/KeyGenParameterSpec$Builder;",
                    &[JValue::Object(&modes)],
                )?
                .l()?;
            let none = env.new_string("NoPadding")?;
            let paddings = env.new_object_array(1, &string_class, &none)?;
            let builder = env
                .call_method(
                    &builder,
                    "setEncryptionPaddings",
                    "([Ljava/lang/String;)Landroid/security/keystore/KeyGenParameterSpec$Builder;",
                    &[JValue::Object(&paddings)],
                )?
                .l()?;
            let builder = env
                .call_method(
                    &builder,
                    "setKeySize",
                    "(I)Landroid/security/keystore/KeyGenParameterSpec$Builder;",
                    &[JValue::Int(256)],
                )?
                .l()?;
            let spec =
                env.call_method(&builder, "build", "()Landroid/security/keystore/KeyGenParameterSpec;", &[])?.l()?;
            let aes = env.new_string("AES")?;
            let generator = env
                .call_static_method(
                    "javax/crypto/KeyGenerator",
                    "getInstance",
                    "(Ljava/lang/String;Ljava/lang/String;)Ljavax/crypto/KeyGenerator;",
                    &[JValue::Object(&aes), JValue::Object(&provider)],
                )?
                .l()?;
            env.call_method(
                &generator,
                "init",
                "(Ljava/security/spec/AlgorithmParameterSpec;)V",
                &[JValue::Object(&spec)],
            )?;
            env.call_method(&generator, "generateKey", "()Ljavax/crypto/SecretKey;", &[])?;
        }
        env.call_method(
            &ks,
            "getKey",
            "(Ljava/lang/String;[C)Ljava/security/Key;",
            &[JValue::Object(&alias), JValue::Object(&JObject::null())],
        )?
        .l()
    }

    fn cipher<'a>(env: &mut JNIEnv<'a>) -> jni::errors::Result<JObject<'a>> {
        let name = env.new_string("AES/GCM/NoPadding")?;
        env.call_static_method(
            "javax/crypto/Cipher",
            "getInstance",
            "(Ljava/lang/String;)Ljavax/crypto/Cipher;",
            &[JValue::Object(&name)],
        )?
        .l()
    }

    fn wrap(plain: &[u8]) -> Option<Vec<u8>> {
        with_env(|env| {
            let key = keystore_key(env)?;
            let c = cipher(env)?;
            env.call_method(&c, "init", "(ILjava/security/Key;)V", &[JValue::Int(1), JValue::Object(&key)])?;
            let iv = JByteArray::from(env.call_method(&c, "getIV", "()[B", &[])?.l()?);
            let iv = env.convert_byte_array(&iv)?;
            let input = env.byte_array_from_slice(plain)?;
            let out = JByteArray::from(env.call_method(&c, "doFinal", "([B)[B", &[JValue::Object(&input)])?.l()?);
            let out = env.convert_byte_array(&out)?;
            let mut file = vec![iv.len() as u8];
            file.extend_from_slice(&iv);
            file.extend_from_slice(&out);
            Ok(file)
        })
    }

    fn unwrap(file: &[u8]) -> Option<Vec<u8>> {
        let iv_len = *file.first()? as usize;
        let (iv, sealed) = file.get(1..)?.split_at_checked(iv_len)?;
        with_env(|env| {
            let key = keystore_key(env)?;
            let c = cipher(env)?;
            let iv = env.byte_array_from_slice(iv)?;
            let spec = env.new_object(
                "javax/crypto/spec/GCMParameterSpec",
                "(I[B)V",
                &[JValue::Int(128), JValue::Object(&iv)],
            )?;
            env.call_method(
                &c,
                "init",
                "(ILjava/security/Key;Ljava/security/spec/AlgorithmParameterSpec;)V",
                &[JValue::Int(2), JValue::Object(&key), JValue::Object(&spec)],
            )?;
            let input = env.byte_array_from_slice(sealed)?;
            let out = JByteArray::from(env.call_method(&c, "doFinal", "([B)[B", &[JValue::Object(&input)])?.l()?);
            env.convert_byte_array(&out)
        })
    }

    impl KeyStore for WrappedKey {
        fn load(&self) -> Result<Option<DbKey>, KeyError> {
            let Some(file) = self.file.read()? else { return Ok(None) };
            let plain = unwrap(&file).ok_or(KeyError::Unreadable)?;
            let bytes: [u8; 32] = plain.try_into().map_err(|_| KeyError::Damaged)?;
            Ok(Some(DbKey::from_bytes(bytes)))
        }

        fn save(&self, key: &DbKey) -> Result<(), KeyError> {
            let wrapped = wrap(key.as_bytes()).ok_or(KeyError::Unwritable)?;
            self.file.write(&wrapped)
        }
    }
}

/// Replaces Rust's panic message by one that names only where it happened. A panic's
/// message can carry whatever value was being handled (a name in a record, say); the place
/// in the code is enough to fix it, and crash reports collected from phones carry nothing
/// personal.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| eprintln!("{}", panic_report(info))));
}

/// What [`quiet_panics`] prints for a panic: the place, never the message.
pub fn panic_report(info: &std::panic::PanicHookInfo<'_>) -> String {
    let place = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
    format!("Sổ tay stopped on an internal error at {place}")
}
