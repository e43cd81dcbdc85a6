//! SQLCipher's page encryption with OpenSSL's objects kept between pages: the same bytes,
//! less set-up per page.
//!
//! SQLCipher encrypts and authenticates every page it writes to the store, and checks every
//! page it reads, through a table of callbacks: its *provider*. The OpenSSL provider bundled
//! with SQLCipher 4.6 looks the HMAC and AES implementations up in OpenSSL 3's registry and
//! builds fresh contexts for every page. `perf` of 6,000 saves put that set-up at about a
//! quarter of what encryption adds to a save (as much as the SHA-256 itself). [`install`]
//! replaces the provider's `hmac` and `cipher` callbacks with ones that look the algorithms up
//! once per process and keep one context per thread (and HMAC digest): the same AES-256-CBC
//! and HMAC bytes, so the file format does not change (the tests compare both on random
//! pages and keys), and the IVs still come from the stock `random` callback.
//!
//! SQLCipher copies the provider into each connection when it is keyed, so `install` runs
//! before the first key is given ([`super::key::DbKey::unlock`] and `attach` call it); and
//! it frees the provider when the last keyed connection closes, so `install` keeps a keyed
//! memory database open for the life of the process. The provider's layout is SQLCipher's
//! `sqlcipher_provider`; `install` checks SQLCipher's version and the provider's name first
//! and leaves any other provider as it is. Anything unusual at run time (OpenSSL refusing,
//! a thread being torn down) is handed to SQLCipher's own callback.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_uchar, c_void, CStr};
use std::ptr;
use std::sync::{Mutex, OnceLock};

use openssl_sys as ffi;

use super::key::pragma;

/// The SQLCipher whose provider layout this module knows (`PRAGMA cipher_version`).
const KNOWN_VERSION: &str = "4.6.1 community";

const SQLITE_OK: c_int = 0;
const SQLITE_ERROR: c_int = 1;
/// `OSSL_PARAM_UTF8_STRING` of OpenSSL's `core.h` (openssl-sys does not export it).
const OSSL_PARAM_UTF8_STRING: std::ffi::c_uint = 4;

type HmacFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    algorithm: c_int,
    key: *mut c_uchar,
    key_sz: c_int,
    input: *mut c_uchar,
    in_sz: c_int,
    input2: *mut c_uchar,
    in2_sz: c_int,
    out: *mut c_uchar,
) -> c_int;

type CipherFn = unsafe extern "C" fn(
    ctx: *mut c_void,
    mode: c_int,
    key: *mut c_uchar,
    key_sz: c_int,
    iv: *mut c_uchar,
    input: *mut c_uchar,
    in_sz: c_int,
    out: *mut c_uchar,
) -> c_int;

type Other = Option<unsafe extern "C" fn()>;

/// `sqlcipher_provider` of SQLCipher 4.6 (sqlcipher.h): seventeen function pointers.
#[repr(C)]
struct Provider {
    activate: Other,
    deactivate: Other,
    get_provider_name: Option<unsafe extern "C" fn(ctx: *mut c_void) -> *const c_char>,
    add_random: Other,
    random: Other,
    hmac: Option<HmacFn>,
    kdf: Other,
    cipher: Option<CipherFn>,
    get_cipher: Other,
    get_key_sz: Other,
    get_iv_sz: Other,
    get_block_sz: Other,
    get_hmac_sz: Other,
    ctx_init: Other,
    ctx_free: Other,
    fips_status: Other,
    get_provider_version: Other,
}

extern "C" {
    /// The provider new connections copy (SQLCipher documents it as changeable).
    fn sqlcipher_get_provider() -> *mut Provider;
}

/// The stock callbacks, kept for the tests to compare with.
#[derive(Clone, Copy)]
struct Stock {
    hmac: HmacFn,
    cipher: CipherFn,
}

/// OpenSSL objects looked up once per process; immutable and reference-counted by OpenSSL,
/// so shared by all threads.
struct Algorithms {
    hmac: *mut ffi::EVP_MAC,
    aes: *mut ffi::EVP_CIPHER,
}

// SAFETY: OpenSSL's fetched algorithm objects are immutable after fetching and may be used
// from any thread (OpenSSL 3 documents EVP_MAC and EVP_CIPHER as shareable).
unsafe impl Send for Algorithms {}
unsafe impl Sync for Algorithms {}

static INSTALLED: OnceLock<Option<Stock>> = OnceLock::new();
/// A keyed memory database held open for the life of the process. SQLCipher frees its
/// provider when the last keyed connection closes and registers a fresh stock one at the
/// next key; while this one is open, the provider `install` changed stays.
static KEEPER: OnceLock<Mutex<rusqlite::Connection>> = OnceLock::new();
static ALGORITHMS: OnceLock<Option<Algorithms>> = OnceLock::new();

/// Puts the callbacks in place, once per process. Returns whether they are in place: `false`
/// leaves SQLCipher's own (an unknown SQLCipher version or provider, or OpenSSL refusing a
/// lookup), which are slower but write the same files.
pub fn install() -> bool {
    INSTALLED.get_or_init(install_once).is_some()
}

fn install_once() -> Option<Stock> {
    // Keying any connection registers SQLCipher's provider; a memory database is enough,
    // and it stays open (`KEEPER`).
    let conn = rusqlite::Connection::open_in_memory().ok()?;
    let version: String = conn.query_row("PRAGMA cipher_version", [], |r| r.get(0)).ok()?;
    if version != KNOWN_VERSION {
        return None;
    }
    let throwaway = super::key::DbKey::from_bytes([0xAA; 32]);
    pragma(&conn, &format!("PRAGMA key = {}", throwaway.pragma_value())).ok()?;
    // Keying sets SQLCipher's log level (to print warnings); the app words its errors itself.
    pragma(&conn, "PRAGMA cipher_log_level = NONE").ok()?;
    algorithms()?;
    // SAFETY: `sqlcipher_get_provider` returns SQLCipher's registered provider, which lives
    // while any keyed connection is open (`KEEPER` keeps one open from here on); the version
    // check above guarantees its layout. It is written here once, before any store
    // connection is keyed (`DbKey::unlock` and `attach` call `install` first, and `OnceLock`
    // makes every other caller wait for this to finish), so no connection copies it while it
    // changes.
    unsafe {
        let provider = sqlcipher_get_provider();
        if provider.is_null() {
            return None;
        }
        let name = (*provider).get_provider_name?(ptr::null_mut());
        if name.is_null() || CStr::from_ptr(name).to_bytes() != b"openssl" {
            return None;
        }
        let stock = Stock { hmac: (*provider).hmac?, cipher: (*provider).cipher? };
        let _ = KEEPER.set(Mutex::new(conn));
        (*provider).hmac = Some(hmac);
        (*provider).cipher = Some(cipher);
        Some(stock)
    }
}

fn algorithms() -> Option<&'static Algorithms> {
    ALGORITHMS
        .get_or_init(|| {
            // SAFETY: plain OpenSSL lookups with NUL-terminated names; null means "not found".
            unsafe {
                let hmac = ffi::EVP_MAC_fetch(ptr::null_mut(), c"HMAC".as_ptr(), ptr::null());
                let aes = ffi::EVP_CIPHER_fetch(ptr::null_mut(), c"AES-256-CBC".as_ptr(), ptr::null());
                (!hmac.is_null() && !aes.is_null()).then_some(Algorithms { hmac, aes })
            }
        })
        .as_ref()
}

/// One thread's OpenSSL contexts: an HMAC context per digest SQLCipher knows (SHA-1,
/// SHA-256, SHA-512, in SQLCipher's numbering) and one AES context.
struct Contexts {
    hmac: [*mut ffi::EVP_MAC_CTX; 3],
    aes: *mut ffi::EVP_CIPHER_CTX,
}

impl Drop for Contexts {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or a context this thread made and nobody else holds.
        unsafe {
            for ctx in self.hmac {
                if !ctx.is_null() {
                    ffi::EVP_MAC_CTX_free(ctx);
                }
            }
            if !self.aes.is_null() {
                ffi::EVP_CIPHER_CTX_free(self.aes);
            }
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Pages this thread encrypted, decrypted or authenticated through this module.
    static FAST_CALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

thread_local! {
    static CONTEXTS: RefCell<Contexts> =
        const { RefCell::new(Contexts { hmac: [ptr::null_mut(); 3], aes: ptr::null_mut() }) };
}

/// Runs `fast` on this thread's OpenSSL contexts. Anything unusual (OpenSSL refusing, a
/// thread being torn down) goes to `stock`, SQLCipher's own callback, which gives the final
/// answer.
fn fast_or_stock(fast: impl FnOnce(&mut Contexts) -> bool, stock: impl FnOnce() -> c_int) -> c_int {
    let done = CONTEXTS.try_with(|contexts| contexts.try_borrow_mut().is_ok_and(|mut contexts| fast(&mut contexts)));
    if done == Ok(true) {
        #[cfg(test)]
        FAST_CALLS.with(|n| n.set(n.get() + 1));
        SQLITE_OK
    } else {
        stock()
    }
}

const DIGESTS: [(&CStr, usize); 3] = [(c"SHA1", 20), (c"SHA256", 32), (c"SHA512", 64)];

/// SQLCipher's `hmac` callback: HMAC(key, input ‖ input2) with the digest `algorithm`
/// names, written to `out`.
unsafe extern "C" fn hmac(
    ctx: *mut c_void,
    algorithm: c_int,
    key: *mut c_uchar,
    key_sz: c_int,
    input: *mut c_uchar,
    in_sz: c_int,
    input2: *mut c_uchar,
    in2_sz: c_int,
    out: *mut c_uchar,
) -> c_int {
    let stock = || match INSTALLED.get().copied().flatten() {
        // SAFETY: SQLCipher's own callback, given SQLCipher's arguments unchanged.
        Some(stock) => unsafe { (stock.hmac)(ctx, algorithm, key, key_sz, input, in_sz, input2, in2_sz, out) },
        None => SQLITE_ERROR,
    };
    let Some(&(digest, size)) = usize::try_from(algorithm).ok().and_then(|a| DIGESTS.get(a)) else {
        return stock();
    };
    let (Some(algorithms), false) = (algorithms(), input.is_null()) else {
        return stock();
    };
    fast_or_stock(
        |contexts| {
            let slot = &mut contexts.hmac[algorithm as usize];
            // SAFETY: the buffers and sizes are SQLCipher's (a page and its page number, an
            // output of the digest's size); the context is this thread's alone, made here with
            // its digest set once, and re-keyed on every call.
            unsafe {
                if slot.is_null() {
                    let mac = ffi::EVP_MAC_CTX_new(algorithms.hmac);
                    if mac.is_null() {
                        return false;
                    }
                    let params = [
                        ffi::OSSL_PARAM {
                            key: c"digest".as_ptr(),
                            data_type: OSSL_PARAM_UTF8_STRING,
                            data: digest.as_ptr() as *mut c_void,
                            data_size: digest.to_bytes().len(),
                            return_size: usize::MAX,
                        },
                        ffi::OSSL_PARAM_construct_end(),
                    ];
                    if ffi::EVP_MAC_CTX_set_params(mac, params.as_ptr()) != 1 {
                        ffi::EVP_MAC_CTX_free(mac);
                        return false;
                    }
                    *slot = mac;
                }
                let mac = *slot;
                let mut written = 0usize;
                ffi::EVP_MAC_init(mac, key, key_sz as usize, ptr::null()) == 1
                    && ffi::EVP_MAC_update(mac, input, in_sz as usize) == 1
                    && (input2.is_null() || ffi::EVP_MAC_update(mac, input2, in2_sz as usize) == 1)
                    && ffi::EVP_MAC_final(mac, out, &mut written, size) == 1
                    && written == size
            }
        },
        stock,
    )
}

/// SQLCipher's `cipher` callback: AES-256-CBC without padding of `in_sz` bytes (a whole
/// number of blocks) from `input` to `out`, encrypting when `mode` is 1.
unsafe extern "C" fn cipher(
    ctx: *mut c_void,
    mode: c_int,
    key: *mut c_uchar,
    key_sz: c_int,
    iv: *mut c_uchar,
    input: *mut c_uchar,
    in_sz: c_int,
    out: *mut c_uchar,
) -> c_int {
    let stock = || match INSTALLED.get().copied().flatten() {
        // SAFETY: SQLCipher's own callback, given SQLCipher's arguments unchanged.
        Some(stock) => unsafe { (stock.cipher)(ctx, mode, key, key_sz, iv, input, in_sz, out) },
        None => SQLITE_ERROR,
    };
    let (Some(algorithms), 32, 0) = (algorithms(), key_sz, in_sz % 16) else {
        return stock();
    };
    fast_or_stock(
        |contexts| {
            // SAFETY: the buffers are SQLCipher's (a 32-byte key, a 16-byte IV, `in_sz` bytes in
            // and out); the context is this thread's alone. Giving the cipher only on the first
            // call keeps its provider context, so later calls only set key, IV and direction.
            unsafe {
                if contexts.aes.is_null() {
                    let aes = ffi::EVP_CIPHER_CTX_new();
                    if aes.is_null() {
                        return false;
                    }
                    if ffi::EVP_CipherInit_ex(aes, algorithms.aes, ptr::null_mut(), ptr::null(), ptr::null(), mode) != 1
                        || ffi::EVP_CIPHER_CTX_set_padding(aes, 0) != 1
                    {
                        ffi::EVP_CIPHER_CTX_free(aes);
                        return false;
                    }
                    contexts.aes = aes;
                }
                let aes = contexts.aes;
                let mut written: c_int = 0;
                let mut tail: c_int = 0;
                ffi::EVP_CipherInit_ex(aes, ptr::null(), ptr::null_mut(), key, iv, mode) == 1
                    && ffi::EVP_CIPHER_CTX_set_padding(aes, 0) == 1
                    && ffi::EVP_CipherUpdate(aes, out, &mut written, input, in_sz) == 1
                    && ffi::EVP_CipherFinal(aes, out.add(written as usize), &mut tail) == 1
                    && written + tail == in_sz
            }
        },
        stock,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore, SeedableRng};

    fn stock() -> Stock {
        assert!(install(), "the faster callbacks are in place for SQLCipher {KNOWN_VERSION}");
        INSTALLED.get().copied().flatten().expect("installed")
    }

    #[test]
    fn stores_use_these_callbacks_even_after_every_store_was_closed() {
        // SQLCipher frees its provider when the last keyed connection closes; without the
        // connection `install` keeps open, the second store would get the stock callbacks.
        let dir = tempfile::tempdir().unwrap();
        for round in 0..3 {
            let before = FAST_CALLS.with(|n| n.get());
            let store = crate::store::Store::open(dir.path().join(format!("s{round}.db"))).unwrap();
            drop(store);
            let calls = FAST_CALLS.with(|n| n.get()) - before;
            assert!(calls > 10, "round {round}: {calls} pages through this module");
        }
    }

    #[test]
    fn hmac_matches_sqlciphers_own_for_every_digest() {
        let stock = stock();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for round in 0..60 {
            let algorithm = round % 3;
            let mut key = vec![0u8; 32];
            rng.fill_bytes(&mut key);
            let mut page = vec![0u8; rng.gen_range(1..4096)];
            rng.fill_bytes(&mut page);
            let mut pgno = rng.gen::<u32>().to_le_bytes();
            let with_second = round % 4 != 0;
            let (p2, n2) = if with_second { (pgno.as_mut_ptr(), 4) } else { (ptr::null_mut(), 0) };
            let size = DIGESTS[algorithm as usize].1;
            let (mut ours, mut theirs) = (vec![0u8; size], vec![0u8; size]);
            // SAFETY: buffers of the sizes given.
            unsafe {
                let (a, b) = (page.as_mut_ptr(), page.len() as c_int);
                assert_eq!(hmac(ptr::null_mut(), algorithm, key.as_mut_ptr(), 32, a, b, p2, n2, ours.as_mut_ptr()), 0);
                let rc =
                    (stock.hmac)(ptr::null_mut(), algorithm, key.as_mut_ptr(), 32, a, b, p2, n2, theirs.as_mut_ptr());
                assert_eq!(rc, 0);
            }
            assert_eq!(ours, theirs, "round {round}");
        }
        // An unknown digest is refused, not guessed.
        let mut out = [0u8; 64];
        let mut data = [1u8; 16];
        // SAFETY: buffers of the sizes given.
        let rc = unsafe {
            hmac(ptr::null_mut(), 3, data.as_mut_ptr(), 16, data.as_mut_ptr(), 16, ptr::null_mut(), 0, out.as_mut_ptr())
        };
        assert_eq!(rc, SQLITE_ERROR);
    }

    #[test]
    fn cipher_matches_sqlciphers_own_both_ways_as_keys_change() {
        let stock = stock();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for round in 0..60 {
            let mut key = [0u8; 32];
            let mut iv = [0u8; 16];
            rng.fill_bytes(&mut key);
            rng.fill_bytes(&mut iv);
            let mut page = vec![0u8; 16 * rng.gen_range(1..=253)];
            rng.fill_bytes(&mut page);
            let mode = (round % 2) as c_int;
            let (mut ours, mut theirs) = (vec![0u8; page.len()], vec![0u8; page.len()]);
            let n = page.len() as c_int;
            // SAFETY: buffers of the sizes given (SQLCipher's own IV is copied, since the
            // stock callback is given the same bytes).
            unsafe {
                let (k, p) = (key.as_mut_ptr(), page.as_mut_ptr());
                let mut iv2 = iv;
                assert_eq!(cipher(ptr::null_mut(), mode, k, 32, iv.as_mut_ptr(), p, n, ours.as_mut_ptr()), 0);
                assert_eq!(
                    (stock.cipher)(ptr::null_mut(), mode, k, 32, iv2.as_mut_ptr(), p, n, theirs.as_mut_ptr()),
                    0
                );
                assert_eq!(ours, theirs, "round {round}");
                // And back again.
                let mut back = vec![0u8; page.len()];
                let back_mode = 1 - mode;
                let mut iv3 = iv;
                assert_eq!(
                    cipher(
                        ptr::null_mut(),
                        back_mode,
                        k,
                        32,
                        iv3.as_mut_ptr(),
                        ours.as_mut_ptr(),
                        n,
                        back.as_mut_ptr()
                    ),
                    0
                );
                assert_eq!(back, page, "round {round}");
            }
            assert_ne!(ours, page);
        }
    }

    #[test]
    fn threads_working_at_once_each_get_sqlciphers_bytes() {
        let stock = stock();
        std::thread::scope(|s| {
            for t in 0..4u8 {
                s.spawn(move || {
                    let mut page = vec![t; 4048];
                    for round in 0..300u32 {
                        let mut key = [t.wrapping_add(round as u8); 32];
                        let (mut ours, mut theirs) = (vec![0u8; 4048], vec![0u8; 4048]);
                        let (mut mac, mut their_mac) = ([0u8; 32], [0u8; 32]);
                        // SAFETY: buffers of the sizes given.
                        unsafe {
                            let (k, p) = (key.as_mut_ptr(), page.as_mut_ptr());
                            let (mut iv, mut iv2) = ([round as u8; 16], [round as u8; 16]);
                            assert_eq!(
                                cipher(ptr::null_mut(), 1, k, 32, iv.as_mut_ptr(), p, 4048, ours.as_mut_ptr()),
                                0
                            );
                            assert_eq!(
                                (stock.cipher)(
                                    ptr::null_mut(),
                                    1,
                                    k,
                                    32,
                                    iv2.as_mut_ptr(),
                                    p,
                                    4048,
                                    theirs.as_mut_ptr()
                                ),
                                0
                            );
                            let o = ours.as_mut_ptr();
                            assert_eq!(
                                hmac(ptr::null_mut(), 1, k, 32, o, 4048, ptr::null_mut(), 0, mac.as_mut_ptr()),
                                0
                            );
                            assert_eq!(
                                (stock.hmac)(
                                    ptr::null_mut(),
                                    1,
                                    k,
                                    32,
                                    o,
                                    4048,
                                    ptr::null_mut(),
                                    0,
                                    their_mac.as_mut_ptr()
                                ),
                                0
                            );
                        }
                        assert_eq!(ours, theirs);
                        assert_eq!(mac, their_mac);
                        page[(round as usize * 13) % 4048] ^= 0x5a;
                    }
                });
            }
        });
    }
}
