//! Benchmark 2: the bytes of a 100-record push counted through a proxy, against the same
//! records as ODK Collect (OpenRosa) submissions.

use super::*;

pub(super) struct Wire {
    pub(super) gzip_body: usize,
    /// The same push with every sealed ID number left out, and how many records had one.
    pub(super) unsealed_gzip_body: usize,
    pub(super) sealed_records: usize,
    pub(super) field_gzip_body: usize,
    pub(super) json_body: usize,
    pub(super) body_matches: bool,
    pub(super) push_request: usize,
    pub(super) push_head: usize,
    pub(super) push_head_text: String,
    pub(super) push_response: usize,
    pub(super) push_response_gzip: usize,
    pub(super) pull_request: usize,
    pub(super) pull_response: usize,
    pub(super) openrosa_total: usize,
    pub(super) openrosa_head: usize,
    pub(super) openrosa_xml: usize,
    pub(super) openrosa_sample: String,
}

/// Benchmark 2: one 100-record push counted through a proxy, and the same records as 100
/// OpenRosa submissions counted through the same proxy.
pub(super) fn bench_wire(rt: &Runtime) -> Wire {
    let server = start_server(rt);
    let device = enrolled_device(rt, &server);
    fill(&device.store, WIRE_BATCH, 0x3172e);
    let queued: Vec<WireRecord> =
        device.store.outbox_batch(WIRE_BATCH).expect("outbox batch").iter().map(to_wire).collect();
    let tap = rt.block_on(Tap::start(server.addr));
    device.store.set_setting("server_url", &tap.url).expect("server url");
    let report = rt.block_on(run_once(&device.store, &mut BatchSize::default())).expect("sync");
    assert_eq!(report.sent, WIRE_BATCH);
    let (up, down) = tap.captured();
    let requests = split_messages(&up);
    let responses = split_messages(&down);
    assert_eq!(requests.len(), responses.len(), "one response per request");
    let push = requests.iter().position(|m| m.head.starts_with("POST ")).expect("a push request");
    // The push answer carries the changes after the device's cursor: no pull follows.
    let pull = requests.iter().position(|m| m.head.starts_with("GET "));
    assert_eq!(requests.iter().filter(|m| m.head.starts_with("POST ")).count(), 1, "one push of 100");
    let push_head_text = requests[push]
        .head
        .split("\r\n")
        .map(|line| match line.split_once(": ") {
            // The token is a secret of this run: shown by length only.
            Some((name, value)) if name.eq_ignore_ascii_case("authorization") => {
                format!("{name}: Bearer <{} hex>", value.len() - "Bearer ".len())
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" | ");
    // What crossed is the outbox, and exactly client::gzip_json of the request it encodes.
    let gzip_body = &requests[push].body;
    let mut json = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip_body[..]), &mut json).expect("gunzip");
    let req: PushRequest = serde_json::from_slice(&json).expect("a push request");
    assert!(req.records == queued, "the push carries the outbox's {WIRE_BATCH} records as queued");
    let body_matches = client::gzip_json(&req).expect("gzip") == *gzip_body;
    if let Some(path) = std::env::var_os("SOTAY_BENCH_DUMP") {
        std::fs::write(path, &json).expect("dump");
    }

    // The same records, one OpenRosa submission each, as ODK Collect would post them.
    let sink = rt.block_on(Sink::start());
    let odk_tap = rt.block_on(Tap::start(sink.addr));
    let submissions: Vec<Submission> =
        req.records.iter().enumerate().map(|(i, r)| openrosa_submission(r, i + 1, &odk_tap.host())).collect();
    rt.block_on(send_all(odk_tap.addr, &submissions));
    let (odk_up, _) = odk_tap.captured();
    let odk = split_messages(&odk_up);
    assert_eq!(odk.len(), WIRE_BATCH, "every submission crossed");
    let openrosa_total: usize = odk.iter().map(Message::len).sum();
    let openrosa_head: usize = odk.iter().map(|m| m.head.len() + 4).sum();
    let openrosa_xml: usize = submissions.iter().map(|s| s.xml_len).sum();
    let sample = &odk[0];
    let openrosa_sample =
        format!("{}\r\n\r\n{}", sample.head, String::from_utf8_lossy(&sample.body)).replace("\r\n", " | ");

    let mut unsealed = req.clone();
    let mut sealed_records = 0;
    for r in &mut unsealed.records {
        if let Body::SignatureHelp(SignatureHelp { person: Some(p), .. }) = &mut r.body {
            sealed_records += p.cid_sealed.take().is_some() as usize;
        }
    }
    Wire {
        gzip_body: gzip_body.len(),
        unsealed_gzip_body: client::gzip_json(&unsealed).expect("gzip").len(),
        sealed_records,
        field_gzip_body: client::gzip_json(&field_timed(&req, 7)).expect("gzip").len(),
        json_body: json.len(),
        body_matches,
        push_request: requests[push].len(),
        push_head: requests[push].head.len() + 4,
        push_head_text,
        push_response: responses[push].len(),
        // The server compresses its answers now: this is the gzip payload that crossed.
        push_response_gzip: if responses[push].head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(&responses[push].body).len()
        } else {
            responses[push].body.len()
        },
        pull_request: pull.map_or(0, |p| requests[p].len()),
        pull_response: pull.map_or(0, |p| responses[p].len()),
        openrosa_total,
        openrosa_head,
        openrosa_xml,
        openrosa_sample,
    }
}

/// `req` as if its records had been saved one by one over `days` days of working hours, as
/// in the field: each id's UUIDv7 timestamp and `saved_at` moved to its save time (random
/// bits kept), in order. Everything else is unchanged.
pub(super) fn field_timed(req: &PushRequest, days: u64) -> PushRequest {
    let mut rng = StdRng::seed_from_u64(0xf1e1d);
    let start = Utc::now() - chrono::Duration::days(days as i64);
    let mut times: Vec<chrono::DateTime<Utc>> = (0..req.records.len())
        .map(|_| {
            let day = rng.gen_range(0..days as i64);
            let micros = rng.gen_range(0..10 * 3_600_000_000i64);
            start + chrono::Duration::days(day) + chrono::Duration::microseconds(micros)
        })
        .collect();
    times.sort();
    let mut out = req.clone();
    for (r, t) in out.records.iter_mut().zip(times) {
        let mut bytes = *r.id.as_bytes();
        bytes[..6].copy_from_slice(&(t.timestamp_millis() as u64).to_be_bytes()[2..]);
        r.id = Uuid::from_bytes(bytes);
        r.saved_at = t;
    }
    out
}

/// One OpenRosa submission: the whole HTTP request, and the size of its instance XML.
pub(super) struct Submission {
    pub(super) request: Vec<u8>,
    pub(super) xml_len: usize,
}

/// The HTTP request ODK Collect (OkHttp) sends for one finalised form: POST to the
/// submission URL with the device id, the headers Collect and OkHttp add, a cached digest
/// authorization, and a multipart body with the instance XML as `xml_submission_file`.
pub(super) fn openrosa_submission(r: &WireRecord, n: usize, host: &str) -> Submission {
    let (form, xml) = openrosa_instance(r);
    let boundary = Uuid::from_u128(rand::random()).to_string();
    let filename = format!("{form}_{}.xml", r.saved_at.with_timezone(&Local).format("%Y-%m-%d_%H-%M-%S"));
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"xml_submission_file\"; filename=\"{filename}\"\r\n\
         Content-Type: text/xml\r\nContent-Length: {}\r\n\r\n{xml}\r\n--{boundary}--\r\n",
        xml.len()
    );
    let uri = "/submission?deviceID=collect%3AK3pQ9xWz1bT7vYcN";
    let date = Utc::now().format("%a, %d %b %Y %I:%M:%S GMT");
    let cnonce = hex::encode(rand::random::<[u8; 8]>());
    let response = hex::encode(rand::random::<[u8; 16]>());
    let head = format!(
        "POST {uri} HTTP/1.1\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\n\
         Content-Length: {}\r\n\
         Host: {host}\r\n\
         Connection: Keep-Alive\r\n\
         Accept-Encoding: gzip\r\n\
         User-Agent: org.odk.collect.android/v2024.3.4 Dalvik/2.1.0 (Linux; U; Android 12; SM-A035F Build/SP1A.210812.016)\r\n\
         X-OpenRosa-Version: 1.0\r\n\
         Date: {date}\r\n\
         Authorization: Digest username=\"tnv-plei\", realm=\"Sotay Kon Braih\", \
         nonce=\"MTczMjA3NjQwMDAwMDo2ZGI5OTRjZjJhNTk2ZGM0NjAwZTJmYWQ5Mzg3NGE3Mg==\", uri=\"{uri}\", \
         response=\"{response}\", qop=auth, nc={n:08x}, cnonce=\"{cnonce}\", algorithm=MD5, \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"\r\n\r\n",
        body.len()
    );
    Submission { request: [head.into_bytes(), body.into_bytes()].concat(), xml_len: xml.len() }
}

/// The XForms instance Collect would write for this record, with the same fields the push
/// carries and the element names of the JSON body. Empty answers are empty elements; fields
/// that do not apply (no consent, no failure) are left out, as non-relevant fields are.
pub(super) fn openrosa_instance(r: &WireRecord) -> (&'static str, String) {
    let mut x = String::new();
    let mut field = |name: &str, value: &str| {
        if value.is_empty() {
            x.push_str(&format!("<{name}/>"));
        } else {
            x.push_str(&format!("<{name}>{}</{name}>", xml_escape(value)));
        }
    };
    field("hamlet", &r.hamlet_id);
    field("volunteer", &r.volunteer_id);
    field("occurred_at", &r.occurred_at.format("%Y-%m-%dT%H:%M:%S%.3f+07:00").to_string());
    field("saved_at", &r.saved_at.with_timezone(&Local).format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string());
    if r.voided {
        field("voided", "yes");
        field("void_reason", r.void_reason.as_deref().unwrap_or(""));
    }
    let topics = |t: &[Topic]| t.iter().map(|t| t.code()).collect::<Vec<_>>().join(" ");
    let form = match &r.body {
        Body::Visit(v) => {
            field("household", &v.household);
            field("people_helped", &v.people_helped.to_string());
            field("topics", &topics(&v.topics));
            field("notes", &v.notes);
            "sotay_visit"
        }
        Body::SignatureHelp(s) => {
            field("consent", if s.consent { "yes" } else { "no" });
            if let Some(p) = &s.person {
                field("display_name", &p.display_name);
                field("birth_year", &p.birth_year.to_string());
                field("sex", p.sex.code());
                field("ethnic_group", p.ethnic_group.as_deref().unwrap_or(""));
                field("phone", p.phone.as_deref().unwrap_or(""));
                field("cid_sealed", p.cid_sealed.as_deref().unwrap_or(""));
                field("cid_last4", p.cid_last4.as_deref().unwrap_or(""));
            }
            field("level_before", s.level_before.code());
            field("level_after", s.level_after.code());
            field("outcome", s.outcome.code());
            if let Some(f) = s.failure_reason {
                field("failure_reason", f.code());
            }
            field("provider", s.provider.as_deref().unwrap_or(""));
            field("parent_id", &s.parent_id.map(|p| format!("uuid:{p}")).unwrap_or_default());
            "sotay_signature_help"
        }
        Body::Training(t) => {
            field("kind", t.kind.code());
            field("topics", &topics(&t.topics));
            field("total", &t.total.to_string());
            field("women", &t.women.to_string());
            field("ethnic_minority", &t.ethnic_minority.to_string());
            field("trainers", &t.trainers);
            field("platform", t.platform.code());
            if let Some(o) = &t.platform_other {
                field("platform_other", o);
            }
            "sotay_training"
        }
        Body::Outreach(o) => {
            field("channel", o.channel.code());
            field("quantity", &o.quantity.to_string());
            field("reach", &o.reach.to_string());
            field("notes", &o.notes);
            "sotay_outreach"
        }
    };
    let xml = format!(
        "<?xml version='1.0'?><data id=\"{form}\" version=\"1\" xmlns:orx=\"http://openrosa.org/xforms\">{x}\
         <orx:meta><orx:instanceID>uuid:{}</orx:instanceID></orx:meta></data>",
        r.id
    );
    (form, xml)
}

pub(super) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Posts the submissions one after another on one kept-alive connection, each after the
/// previous one's answer, as Collect uploads a list of finalised forms.
pub(super) async fn send_all(addr: SocketAddr, submissions: &[Submission]) {
    let mut stream = TcpStream::connect(addr).await.expect("connect to the sink");
    let mut buf = Vec::new();
    for s in submissions {
        stream.write_all(&s.request).await.expect("send submission");
        read_message(&mut stream, &mut buf).await.expect("sink answers");
    }
}

/// A server that reads HTTP requests and answers each `201 Created` with no body, as an
/// OpenRosa server accepting a submission (the real answer carries a short XML message).
pub(super) struct Sink {
    pub(super) addr: SocketAddr,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sink {
    async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let addr = listener.local_addr().expect("sink address");
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    while read_message(&mut stream, &mut buf).await.is_some() {
                        if stream.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n").await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Sink { addr, task }
    }
}

/// Reads one HTTP message (head, then a body of its Content-Length) from `stream`, keeping
/// what follows it in `buf`. Its size, or `None` at the end of the stream.
pub(super) async fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let total = end + 4 + content_length(&String::from_utf8_lossy(&buf[..end])).unwrap_or(0);
            while buf.len() < total {
                let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Some(total);
        }
        let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// What one connection carried so far: client to server, and server to client.
type Captured = Arc<Mutex<(Vec<u8>, Vec<u8>)>>;

/// A TCP proxy on 127.0.0.1 that passes everything through and keeps a copy of each
/// direction, connection after connection.
pub(super) struct Tap {
    pub(super) addr: SocketAddr,
    pub(super) url: String,
    pub(super) conns: Arc<Mutex<Vec<Captured>>>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Tap {
    async fn start(upstream: SocketAddr) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tap");
        let addr = listener.local_addr().expect("tap address");
        let conns: Arc<Mutex<Vec<Captured>>> = Arc::default();
        let list = conns.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let captured = Arc::new(Mutex::new((Vec::new(), Vec::new())));
                list.lock().expect("tap list").push(captured.clone());
                tokio::spawn(tap_connection(client, upstream, captured));
            }
        });
        Tap { addr, url: format!("http://{addr}"), conns, task }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Everything sent each way so far, connections in the order they were accepted.
    fn captured(&self) -> (Vec<u8>, Vec<u8>) {
        let conns = self.conns.lock().expect("tap list");
        let (mut up, mut down) = (Vec::new(), Vec::new());
        for c in conns.iter() {
            let c = c.lock().expect("tap buffer");
            up.extend_from_slice(&c.0);
            down.extend_from_slice(&c.1);
        }
        (up, down)
    }
}

pub(super) async fn tap_connection(client: TcpStream, upstream: SocketAddr, captured: Captured) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::join!(tap_copy(cr, sw, captured.clone(), true), tap_copy(sr, cw, captured, false));
}

/// Copies one direction, keeping a copy of every byte before passing it on.
pub(super) async fn tap_copy(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, captured: Captured, up: bool) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        {
            let mut c = captured.lock().expect("tap buffer");
            if up { &mut c.0 } else { &mut c.1 }.extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// One HTTP message as it crossed: its head (request or status line and headers, without
/// the blank line) and body.
pub(super) struct Message {
    pub(super) head: String,
    pub(super) body: Vec<u8>,
}

impl Message {
    fn len(&self) -> usize {
        self.head.len() + 4 + self.body.len()
    }
}

/// Splits a captured stream into HTTP/1.1 messages: bodies of a Content-Length, or chunked
/// (the server's compressed answers). `body` is what crossed, chunk framing included.
pub(super) fn split_messages(mut stream: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    while let Some(end) = find(stream, b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&stream[..end]).into_owned();
        let rest = &stream[end + 4..];
        let len = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            chunked_len(rest)
        } else {
            content_length(&head).unwrap_or(0).min(rest.len())
        };
        out.push(Message { head, body: rest[..len].to_vec() });
        stream = &rest[len..];
    }
    out
}

/// The length of a chunked body at the start of `s`, through its final empty chunk.
pub(super) fn chunked_len(s: &[u8]) -> usize {
    let mut at = 0;
    while let Some(eol) = find(&s[at..], b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&s[at..at + eol]).trim(), 16).unwrap_or(0);
        at += eol + 2 + size + 2;
        if size == 0 || at >= s.len() {
            break;
        }
    }
    at.min(s.len())
}

/// The payload of a chunked body.
pub(super) fn dechunk(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(eol) = find(&s[at..], b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&s[at..at + eol]).trim(), 16).unwrap_or(0);
        if size == 0 || at + eol + 2 + size > s.len() {
            break;
        }
        out.extend_from_slice(&s[at + eol + 2..at + eol + 2 + size]);
        at += eol + 2 + size + 2;
    }
    out
}

pub(super) fn content_length(head: &str) -> Option<usize> {
    head.split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
