//! Benchmark 3: 1,000 records over a slow, lossy link, through a proxy that shares one
//! bandwidth and latency between every connection, as a phone's one radio link does.

use super::*;

pub(super) struct Slow {
    pub(super) label: &'static str,
    pub(super) secs: f64,
    pub(super) up: u64,
    pub(super) down: u64,
    pub(super) syncs: usize,
    pub(super) failures: usize,
    pub(super) connections: u64,
    pub(super) requests: u64,
    pub(super) resets: u64,
}

impl Slow {
    pub(super) fn payload_secs(&self) -> f64 {
        (self.up + self.down) as f64 * 8.0 / LINK_BITS_PER_SEC
    }
}

/// Benchmark 3: [`SLOW_RECORDS`] records synced through the slow proxy, calling `run_once`
/// until the outbox is empty. `reset_percent` of requests are reset at random;
/// `lose_reply_of` forces the reply to that request (1-based, counted over the whole run) to
/// be lost.
pub(super) fn bench_slow(
    rt: &Runtime,
    label: &'static str,
    reset_percent: f64,
    lose_reply_of: Option<u64>,
    seed: u64,
) -> Slow {
    let server = start_server(rt);
    let device = enrolled_device(rt, &server);
    fill(&device.store, SLOW_RECORDS, seed);
    let link = Arc::new(SlowLink::new(reset_percent, lose_reply_of, seed));
    let proxy = rt.block_on(SlowProxy::start(server.addr, link.clone()));
    device.store.set_setting("server_url", &proxy.url).expect("server url");
    let options = Options::default();
    let mut batch = BatchSize::default();
    let (mut syncs, mut failures) = (0, 0);
    let t = Instant::now();
    while !device.store.outbox(1).expect("outbox").is_empty() && syncs < 50 {
        syncs += 1;
        if let Err(e) = rt.block_on(run_once_with(&device.store, &mut batch, &options)) {
            failures += 1;
            eprintln!("slow link [{label}]: sync {syncs} failed after {:.1} s: {e}", t.elapsed().as_secs_f64());
        }
    }
    let secs = t.elapsed().as_secs_f64();
    assert!(device.store.outbox(1).expect("outbox").is_empty(), "the outbox drained");
    assert_eq!(server.db.record_versions(COMMUNE).expect("server records").len(), SLOW_RECORDS);
    eprintln!("slow link [{label}]: {SLOW_RECORDS} records in {secs:.1} s");
    Slow {
        label,
        secs,
        up: link.bytes_up.load(Ordering::Relaxed),
        down: link.bytes_down.load(Ordering::Relaxed),
        syncs,
        failures,
        connections: link.connections.load(Ordering::Relaxed),
        requests: link.requests.load(Ordering::Relaxed),
        resets: link.resets.load(Ordering::Relaxed),
    }
}

/// One direction of the link: bytes leave one at a time at its rate, and arrive its latency
/// later. Shared by every connection, as the device's one radio link is.
pub(super) struct OneWay {
    pub(super) bytes_per_sec: f64,
    pub(super) latency: Duration,
    pub(super) free_at: Mutex<Instant>,
}

impl OneWay {
    fn new() -> OneWay {
        OneWay { bytes_per_sec: LINK_BITS_PER_SEC / 8.0, latency: ONE_WAY_LATENCY, free_at: Mutex::new(Instant::now()) }
    }

    /// When `n` bytes handed to the link now (but not sent before `not_before`) arrive.
    fn schedule(&self, n: usize, not_before: Instant) -> Instant {
        let mut free = self.free_at.lock().expect("link clock");
        let start = Instant::now().max(not_before).max(*free);
        *free = start + Duration::from_secs_f64(n as f64 / self.bytes_per_sec);
        *free + self.latency
    }
}

/// The slow link's two directions, its loss, and what crossed it.
pub(super) struct SlowLink {
    pub(super) up: OneWay,
    pub(super) down: OneWay,
    pub(super) reset_percent: f64,
    pub(super) lose_reply_of: Option<u64>,
    pub(super) rng: Mutex<StdRng>,
    pub(super) bytes_up: AtomicU64,
    pub(super) bytes_down: AtomicU64,
    pub(super) connections: AtomicU64,
    pub(super) requests: AtomicU64,
    pub(super) resets: AtomicU64,
}

impl SlowLink {
    fn new(reset_percent: f64, lose_reply_of: Option<u64>, seed: u64) -> SlowLink {
        SlowLink {
            up: OneWay::new(),
            down: OneWay::new(),
            reset_percent,
            lose_reply_of,
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            resets: AtomicU64::new(0),
        }
    }
}

/// What happens to a chunk when its time to arrive comes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Fate {
    Deliver,
    /// Deliver this many bytes of it, then reset the connection.
    Cut(usize),
    /// Reset the connection instead.
    Drop,
}

/// One connection's state: whether the last thing that crossed was an answer (so the next
/// bytes up start a request), a pending cut, a reply to lose, and the reset signal.
pub(super) struct Conn {
    pub(super) answered: AtomicBool,
    pub(super) cut_after: Mutex<Option<usize>>,
    pub(super) lose_reply: AtomicBool,
    pub(super) kill: Notify,
}

impl Conn {
    /// Decides the fate of `n` bytes read going `up` (client to server) or down.
    fn fate(&self, link: &SlowLink, up: bool, chunk: &[u8]) -> Fate {
        if !up {
            return if self.lose_reply.swap(false, Ordering::Relaxed) { Fate::Drop } else { Fate::Deliver };
        }
        if self.answered.swap(false, Ordering::Relaxed) {
            let nth = link.requests.fetch_add(1, Ordering::Relaxed) + 1;
            let mut rng = link.rng.lock().expect("rng");
            let line = String::from_utf8_lossy(&chunk[..find(chunk, b"\r\n").unwrap_or(chunk.len()).min(60)]);
            if link.lose_reply_of == Some(nth) {
                eprintln!("  slow link: request {nth} ({line}): reply lost (forced)");
                self.lose_reply.store(true, Ordering::Relaxed);
            } else if rng.gen_bool(link.reset_percent / 100.0) {
                if rng.gen_bool(0.5) {
                    eprintln!("  slow link: request {nth} ({line}): reply lost");
                    self.lose_reply.store(true, Ordering::Relaxed);
                } else {
                    // Somewhere in the request: its head says how long it is.
                    let text = String::from_utf8_lossy(chunk);
                    let len = find(chunk, b"\r\n\r\n").map(|e| e + 4 + content_length(&text).unwrap_or(0));
                    let cut = rng.gen_range(0..len.unwrap_or(chunk.len()).max(1));
                    eprintln!("  slow link: request {nth} ({line}): reset after {cut} bytes of {len:?}");
                    *self.cut_after.lock().expect("cut") = Some(cut);
                }
            }
        }
        let mut cut = self.cut_after.lock().expect("cut");
        match *cut {
            Some(left) if left < chunk.len() => {
                *cut = None;
                Fate::Cut(left)
            }
            Some(left) => {
                *cut = Some(left - chunk.len());
                Fate::Deliver
            }
            None => Fate::Deliver,
        }
    }
}

/// A TCP proxy on 127.0.0.1 that carries connections over a [`SlowLink`].
pub(super) struct SlowProxy {
    pub(super) url: String,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SlowProxy {
    async fn start(upstream: SocketAddr, link: Arc<SlowLink>) -> SlowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind slow proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(slow_connection(client, upstream, link.clone()));
            }
        });
        SlowProxy { url, task }
    }
}

pub(super) async fn slow_connection(client: TcpStream, upstream: SocketAddr, link: Arc<SlowLink>) {
    let accepted = Instant::now();
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    link.connections.fetch_add(1, Ordering::Relaxed);
    // Closing the client's side then sends a reset, as a dead link looks to the app.
    let _ = client.set_zero_linger();
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let conn = Conn {
        answered: AtomicBool::new(true),
        cut_after: Mutex::new(None),
        lose_reply: false.into(),
        kill: Notify::new(),
    };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // The handshake's SYN and SYN-ACK cross before the client can send its first byte.
    let handshake = accepted + 2 * ONE_WAY_LATENCY;
    let up = carry(cr, sw, true, handshake, &link, &conn);
    let down = carry(sr, cw, false, accepted, &link, &conn);
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = conn.kill.notified() => {
            link.resets.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Carries one direction of a connection over the link: reads as the bytes come, and
/// writes each chunk when the link would have delivered it.
pub(super) async fn carry(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    up: bool,
    not_before: Instant,
    link: &SlowLink,
    conn: &Conn,
) {
    let wire = if up { &link.up } else { &link.down };
    let counter = if up { &link.bytes_up } else { &link.bytes_down };
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>, Fate)>();
    let read = async move {
        let mut buf = vec![0u8; SEGMENT];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let fate = conn.fate(link, up, &buf[..n]);
            let at = wire.schedule(n, not_before);
            if tx.send((at, buf[..n].to_vec(), fate)).is_err() {
                break;
            }
        }
    };
    let write = async {
        while let Some((at, bytes, fate)) = rx.recv().await {
            tokio::time::sleep_until(at.into()).await;
            let (n, last) = match fate {
                Fate::Deliver => (bytes.len(), false),
                Fate::Cut(n) => (n, true),
                Fate::Drop => (0, true),
            };
            if to.write_all(&bytes[..n]).await.is_err() {
                return;
            }
            counter.fetch_add(n as u64, Ordering::Relaxed);
            if last {
                conn.kill.notify_one();
                return;
            }
            if !up {
                conn.answered.store(true, Ordering::Relaxed);
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}
