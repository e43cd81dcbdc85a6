// End-to-end test of syncing with the commune server, in a real browser.
//
// Starts a real `sotay-server serve --demo` on a free port and the volunteer's app over
// liveview on a fresh database, drives the app in Debian's headless chromium at a 360×740
// phone viewport, and walks the sync flow: enrol over HTTPS with the pasted enrolment link
// (plain http://, a damaged link, a wrong code and a wrong certificate fingerprint first),
// record and send, go offline and come back (nothing lost, nothing stored twice), and a
// device revoked by the office (its records stay on the phone). What the app shows is
// checked against the server's own view: `sotay-server devices` and its database.
// Along the way it saves the enrolment and sync screenshots into docs/screenshots/.
//
// Run:  cd tests/e2e && node --test --test-concurrency=1 .
// Env:  SOTAY_LIVEVIEW_BIN, SOTAY_SERVER_BIN (defaults <repo>/target/debug/…; build both
//       with `cargo build --features liveview,server --bins`), CHROMIUM, PYTHON (python3,
//       for reading the server's SQLite file).

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  LIVEVIEW_BIN, SERVER_BIN, startProcess, startLiveview, stopProcess, run, launchBrowser, chooseVolunteer,
  pageErrors, onFailureAppend, step, until, norm, visible, gone, textIs, textHas, valueIs,
  countIs, fill, tick, choose, openNew, saveExpectingDetail, backHome, openList,
  search, listedTitles, scrollTop, scrollTo, shot, load,
openMore,
} from './helpers.mjs';

const PYTHON = process.env.PYTHON || 'python3';
const DEVICE_NAME = 'Máy tổ thôn Đăk Pờ Kơng';

// ---------------------------------------------------------------------------------------
// Shared state

let dir;
/** The commune server's data folder (its SQLite file is sotay-server.db in it). */
let data;
let db;
/** The commune server; killed and restarted on the same port in step 4. */
let server;
let port;
let app;
let browser;
let page;
let enrolCode;
/** The enrolment link `sotay-server enrol-code` prints, and the fingerprint in it. */
let enrolLink;
/** The QR code of that link, as `enrol-code --qr-svg` drew it. */
let qrSvg;
let fingerprint;
let deviceId;
/** Ids of the records made, filled in as the steps go. */
const ids = {};

// ---------------------------------------------------------------------------------------
// The commune server

function startCommuneServer(p = 0) {
  return startProcess(SERVER_BIN, ['serve', '--data', data, '--addr', `127.0.0.1:${p}`, '--demo'], 'sotay-server');
}

/** `sotay-server <command> --data DIR …`; resolves to what it prints. */
const office = (command, ...args) => run(SERVER_BIN, [command, '--data', data, ...args]);

/** The devices the office sees: `sotay-server devices`, one object a line. */
async function devices() {
  const out = await office('devices');
  return out.split('\n').filter((l) => l.trim()).map((line) => {
    const m = line.match(/^(\S+)\s+(.*?)\s+(active|revoked)\s+last sync (\S+)\s+queued (\S+)$/);
    assert.ok(m, `a device line: ${JSON.stringify(line)}`);
    return { id: m[1], name: m[2], state: m[3], lastSync: m[4], queued: m[5] };
  });
}

/** Rows of a query on the server's database (read-only, while the server runs). */
async function serverQuery(sql) {
  const script = [
    'import json, sqlite3, sys',
    'con = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)',
    'print(json.dumps(con.execute(sys.argv[2]).fetchall()))',
  ].join('\n');
  return JSON.parse(await run(PYTHON, ['-c', script, path.join(data, 'sotay-server.db'), sql]));
}

/** The ids of the records the server holds, sorted. */
async function serverRecordIds() {
  return (await serverQuery('SELECT id FROM records ORDER BY id')).map((r) => r[0]);
}

// ---------------------------------------------------------------------------------------
// The app's sync card

const outbox = () => page.locator('[data-testid=outbox]');
const pending = () => outbox().locator('p.pending');
const syncError = () => page.locator('[data-testid=sync-error]');
const syncNow = () => page.locator('[data-testid=sync-now]');

/** Taps "Đồng bộ ngay" once it can be tapped (it is disabled while a sync runs). */
async function tapSyncNow() {
  await textIs(syncNow(), '⟳ Đồng bộ ngay');
  await syncNow().click();
}

/** Records a household visit and returns to home; resolves to its id. */
async function recordVisit(household, people = '2') {
  await openNew('visit');
  await fill('input[name=household]', household);
  await fill('input[name=people_helped]', people);
  await tick('input[name=topic][value=vneid]');
  const id = await saveExpectingDetail(household);
  await page.locator('[data-testid=home]').click();
  await visible(page.locator('section.home'));
  return id;
}

/** The sync badge of a record in the list (the list must be showing it). */
const listBadge = (id) => page.locator(`section.list button.record[data-record="${id}"] .badge:not(.voided)`);

// ---------------------------------------------------------------------------------------

before(async () => {
  for (const bin of [LIVEVIEW_BIN, SERVER_BIN]) {
    assert.ok(existsSync(bin), `${bin} is missing: run \`cargo build --features liveview,server --bins\` or set SOTAY_LIVEVIEW_BIN / SOTAY_SERVER_BIN`);
  }
  dir = await mkdtemp(path.join(tmpdir(), 'sotay-e2e-sync-'));
  data = path.join(dir, 'server');
  db = path.join(dir, 'phone.db');
  // Port 0: the server prints the port it got, and is restarted on that one in step 4.
  server = await startCommuneServer();
  port = server.port;
  onFailureAppend(() => server?.stderr() && `sotay-server stderr:\n${server.stderr().slice(-2000)}`);
  // After the server has created its database (both open the same SQLite file).
  assert.match(server.url, /^https:\/\//, 'the server serves HTTPS');
  // The tablet is Y Lan's: she practised on it, and keeps her PIN after enrolling.
  qrSvg = path.join(dir, 'enrol-qr.svg');
  const out = await office('enrol-code', '--public-url', server.url, '--volunteer', 'v-lan', '--qr-svg', qrSvg);
  assert.match(out, /first-PIN code {2}v-lan: [A-Z0-9]{4}-[A-Z0-9]{4}/, `a first-PIN code in ${JSON.stringify(out)}`);
  enrolCode = out.match(/enrolment code: ([A-Z0-9]{4}-[A-Z0-9]{4})/)?.[1];
  assert.ok(enrolCode, `an enrolment code in ${JSON.stringify(out)}`);
  enrolLink = out.match(/enrolment link: (sotay:\/\/enrol\?\S+)/)?.[1];
  fingerprint = out.match(/certificate SHA-256: ((?:[0-9A-F]{4} ){15}[0-9A-F]{4})/)?.[1];
  assert.ok(enrolLink && fingerprint, `an enrolment link and a fingerprint in ${JSON.stringify(out)}`);
  app = await startLiveview(db);
  onFailureAppend(() => app?.stderr() && `liveview stderr:\n${app.stderr().slice(-2000)}`);
  ({ browser, page } = await launchBrowser());
});

after(async () => {
  await browser?.close().catch(() => {});
  await stopProcess(app).catch(() => {});
  await stopProcess(server).catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true }).catch(() => {});
});

// ---------------------------------------------------------------------------------------
// 1. Practice before enrolling

step('1. before enrolling, records are practice and the sync card offers enrolment', async () => {
  await load(app.url);
  await chooseVolunteer('v-lan');
  await visible(page.locator('section.home'));
  await textIs(page.locator('section.home h1.commune'), 'Xã Kon Braih (mẫu)');
  await textHas(page.locator('.sample-banner'), 'Dữ liệu mẫu để tập dùng');
  await textHas(outbox(), 'Chế độ thực hành: bản ghi chỉ lưu trên máy này, không gửi lên xã.');
  await gone(syncNow());
  ids.practice = await recordVisit('Nhà tập dùng');
});

// ---------------------------------------------------------------------------------------
// 2. Enrolment

step('2. enrolling: plain http, a damaged link, a wrong code and a wrong fingerprint are refused; a photo of the QR code and the pasted link fill in the rest', async () => {
  await page.locator('[data-testid=open-enrol]').click();
  await textIs(page.locator('section.enrol h1'), 'Đăng ký máy với xã');
  await valueIs(page.locator('input[name=server_url]'), '');

  // Plain http:// to an address that is not 127.0.0.1 (this one reaches the server all the
  // same): refused on the device, before any request.
  const plain = `http://[::ffff:127.0.0.1]:${port}`;
  await fill('input[name=server_url]', plain);
  await fill('input[name=enrol_code]', enrolCode);
  await page.locator('[data-testid=enrol]').click();
  await textHas(page.locator('[data-testid=enrol-error]'), 'Không dùng được http://');

  // A damaged link is said to be one, and fills nothing in.
  await fill('input[name=enrol_link]', 'sotay://enrol?c=ABCD');
  await visible(page.locator('[data-testid=enrol-link-bad]'));
  await valueIs(page.locator('input[name=server_url]'), plain);

  // A photo of the QR code `enrol-code` drew (here a PNG of it, as a phone's camera would
  // give) fills in the address, the code and the fingerprint; a photo without one says so.
  const photo = await browser.newPage();
  await photo.setContent(`<body style="margin:0;background:#fff">${await readFile(qrSvg, 'utf8')}</body>`);
  const qrPng = path.join(dir, 'enrol-qr.png');
  await photo.locator('svg').screenshot({ path: qrPng });
  const noQr = path.join(dir, 'no-qr.png');
  await photo.setContent('<body style="margin:0;background:#fff"><h1>Không có mã QR</h1></body>');
  await photo.screenshot({ path: noQr });
  await photo.close();
  await page.locator('input[name=enrol_photo]').setInputFiles(noQr);
  await visible(page.locator('[data-testid=enrol-photo-bad]'));
  await valueIs(page.locator('input[name=server_url]'), plain);
  await page.locator('input[name=enrol_photo]').setInputFiles(qrPng);
  await visible(page.locator('[data-testid=enrol-photo-read]'));
  await gone(page.locator('[data-testid=enrol-photo-bad]'));
  await valueIs(page.locator('input[name=server_url]'), server.url);
  await valueIs(page.locator('input[name=enrol_code]'), enrolCode);
  await valueIs(page.locator('input[name=cert_fingerprint]'), fingerprint);
  await valueIs(page.locator('input[name=enrol_link]'), enrolLink);

  // The link from `enrol-code` pasted fills in the same.
  await fill('input[name=enrol_link]', '');
  await fill('input[name=server_url]', '');
  await fill('input[name=enrol_link]', enrolLink);
  await visible(page.locator('[data-testid=enrol-link-read]'));
  await gone(page.locator('[data-testid=enrol-link-bad]'));
  await valueIs(page.locator('input[name=server_url]'), server.url);
  await valueIs(page.locator('input[name=enrol_code]'), enrolCode);
  await valueIs(page.locator('input[name=cert_fingerprint]'), fingerprint);
  await fill('input[name=device_name]', DEVICE_NAME);
  await scrollTop();
  await shot('enrol.png');

  // A wrong code: the server refuses it, in Vietnamese, and nothing changes.
  await fill('input[name=enrol_code]', 'ABCD-EFGH');
  await page.locator('[data-testid=enrol]').click();
  await textHas(page.locator('[data-testid=enrol-error]'), 'Mã đăng ký không đúng');
  await visible(page.locator('section.enrol'));
  await valueIs(page.locator('input[name=server_url]'), server.url);
  assert.deepEqual(await devices(), [], 'no device enrolled by a wrong code');

  // The right code with a fingerprint one digit off: the server is not the one pinned, so
  // nothing is sent (the code stays unused: it enrols below).
  const wrong = (fingerprint[0] === '0' ? '1' : '0') + fingerprint.slice(1);
  await fill('input[name=cert_fingerprint]', wrong);
  await fill('input[name=enrol_code]', enrolCode);
  await page.locator('[data-testid=enrol]').click();
  await textHas(page.locator('[data-testid=enrol-error]'), 'không khớp dấu vân tay');
  assert.deepEqual(await devices(), [], 'nothing reached the server');
  await fill('input[name=cert_fingerprint]', fingerprint);

  // Typed as a volunteer might: lower case, without the dash.
  await fill('input[name=enrol_code]', enrolCode.replace('-', '').toLowerCase());
  await page.locator('[data-testid=enrol]').click();
  // The volunteers the office assigned to this tablet, to choose again.
  await textIs(page.locator('section.choose h1'), 'Ai đang dùng máy?');
  await textIs(page.locator('.flash'), 'Đã đăng ký máy với xã.');
  await countIs(page.locator('section.choose button.volunteer'), 1);
  await gone(page.locator('section.enrol'));

  const list = await devices();
  assert.equal(list.length, 1, 'one device enrolled');
  assert.equal(list[0].name, DEVICE_NAME);
  assert.equal(list[0].state, 'active');
  deviceId = list[0].id;
});

step('2b. the enrolled app shows the commune, no sample data and a sync card', async () => {
  // The PIN she chose while practising still opens the app.
  await visible(page.locator('[data-volunteer="v-lan"]'));
  await chooseVolunteer('v-lan');
  await visible(page.locator('section.home'));
  await textHas(page.locator('[data-testid=current-volunteer]'), 'Y Lan');
  await textIs(page.locator('section.home h1.commune'), 'Xã Kon Braih (demo)');
  await gone(page.locator('.sample-banner'));
  await gone(page.locator('[data-testid=open-enrol]'));
  // The sync after enrolling has nothing to send but succeeds.
  await textIs(pending(), 'Chờ gửi: 0 bản ghi');
  await textHas(page.locator('[data-testid=last-sync]'), 'Đồng bộ thành công lần cuối:');
  await gone(syncError());
  // The practice record stays on the phone, hidden.
  await openList();
  await search('', 0);
  await backHome();
});

// ---------------------------------------------------------------------------------------
// 3. Recording and sending

step('3. a household visit is saved', async () => {
  await openNew('visit');
  await fill('input[name=household]', 'Nhà ông A Blúp');
  await fill('input[name=people_helped]', '3');
  await tick('input[name=topic][value=vneid]');
  await tick('input[name=topic][value=digital_signature]');
  ids.visit = await saveExpectingDetail('Nhà ông A Blúp');
});

step('3a. the open record turns "Đã gửi" once the background sync has sent it', async () => {
  try {
    // Saving asked for a sync: wait until the server has the visit…
    await until('the server to hold the visit', async () => (await serverRecordIds()).includes(ids.visit));
    // …then the screen showing it says so without being reopened (the app refreshes the
    // current screen on every change of the sync worker's status).
    const badge = page.locator('section.detail .badges .badge:not(.voided)');
    let seen;
    await until('the detail badge "Đã gửi"', async () => (seen = norm(await badge.textContent())) === 'Đã gửi', 2000)
      .catch((e) => { throw new Error(`${e.message} (last seen ${JSON.stringify(seen)})`); });
  } finally {
    await page.locator('[data-testid=home]').click();
    await visible(page.locator('section.home'));
  }
});

step('3b. a signature help is added; both are sent automatically and marked "Đã gửi"', async (t) => {
  await openList();
  await page.locator(`button.record[data-record="${ids.visit}"]`).click();
  await page.locator('[data-testid=add-person]').click();
  await visible(page.locator('section.form[data-form="signature_help"]'));
  await valueIs(page.locator('select[name=parent]'), ids.visit);
  await tick('input[name=consent]');
  await fill('input[name=display_name]', 'Nguyễn Thị Hoà');
  await fill('input[name=birth_year]', '1980');
  await tick('input[name=sex][value=female]');
  await openMore();
  await fill('input[name=citizen_id]', '051203004567');
  await choose('select[name=level_before]', 'level1');
  await choose('select[name=level_after]', 'level2');
  await tick('input[name=outcome][value=digital_signature]');
  await choose('select[name=provider]', 'VNPT-CA');
  ids.signed = await saveExpectingDetail('Nguyễn Thị Hoà');
  await page.locator('[data-testid=home]').click();
  await visible(page.locator('section.home'));

  // Saving asked for a sync: no tap needed.
  await textIs(pending(), 'Chờ gửi: 0 bản ghi');
  await textHas(page.locator('[data-testid=last-sync]'), 'Đồng bộ thành công lần cuối:');
  assert.match(norm(await page.locator('[data-testid=last-sync]').textContent()),
    /^Đồng bộ thành công lần cuối: \d\d:\d\d \d\d\/\d\d\/\d{4}$/);
  await gone(syncError());
  await textIs(syncNow(), '⟳ Đồng bộ ngay');
  await scrollTop();
  await shot('sync-card.png');

  await openList();
  await search('', 2);
  await textIs(listBadge(ids.visit), 'Đã gửi');
  await textIs(listBadge(ids.signed), 'Đã gửi');
  await countIs(page.locator('section.list .badge.sent'), 2);
  await backHome();

  // The server holds exactly these two: not the practice record, and no citizen ID.
  assert.deepEqual(await serverRecordIds(), [ids.visit, ids.signed].sort());
  const [[kinds]] = await serverQuery("SELECT group_concat(kind, ',') FROM (SELECT kind FROM records ORDER BY kind)");
  assert.equal(kinds, 'signature_help,visit');
  const [[leaks]] = await serverQuery(
    "SELECT (SELECT COUNT(*) FROM records WHERE body LIKE '%051203004567%') + (SELECT COUNT(*) FROM record_history WHERE record LIKE '%051203004567%')");
  assert.equal(leaks, 0, 'the citizen ID never reaches the server');
  const [device] = await devices();
  t.diagnostic(`sotay-server devices: ${JSON.stringify(device)}`);
  assert.equal(device.id, deviceId);
  assert.equal(device.name, DEVICE_NAME);
  assert.equal(device.state, 'active');
  assert.notEqual(device.lastSync, 'never');
  assert.match(device.queued, /^\d+$/, 'the device reports its queue');
});

step('3c. the office sees nothing left queued on the device after a full sync', async () => {
  // The device reports its queue "this batch included" (src/protocol.rs DeviceReport), and
  // only when it pushes, so after the last batch the office keeps seeing what it sent.
  const [device] = await devices();
  assert.equal(device.queued, '0', `sotay-server devices shows queued ${device.queued}`);
});

step('3d. the detail screen of a sent record says "Đã gửi"', async () => {
  await openList();
  await page.locator(`button.record[data-record="${ids.signed}"]`).click();
  await textIs(page.locator('section.detail p.title'), 'Nguyễn Thị Hoà');
  await textIs(page.locator('section.detail .badge.sent'), 'Đã gửi');
  await backHome();
});

// ---------------------------------------------------------------------------------------
// 4. Offline and back

step('4. with the server down the record waits, with a clear message', async () => {
  await stopProcess(server);
  ids.offline = await recordVisit('Nhà bà Y Hiền');
  await textIs(pending(), 'Chờ gửi: 1 bản ghi');
  await textHas(syncError(), 'Chưa kết nối được máy chủ xã');
  // Tapping again changes nothing while the server is down.
  await tapSyncNow();
  await textIs(syncNow(), '⟳ Đồng bộ ngay');
  await textIs(syncError(), 'Chưa kết nối được máy chủ xã. Bản ghi vẫn an toàn trên máy và sẽ tự gửi khi có mạng.');
  await textIs(pending(), 'Chờ gửi: 1 bản ghi');
  await scrollTop();
  await shot('sync-offline.png');
  await openList();
  await search('', 3);
  await textIs(listBadge(ids.offline), 'Chờ gửi');
  await textIs(listBadge(ids.visit), 'Đã gửi');
  await backHome();
});

step('4b. when the server is back, "Đồng bộ ngay" sends it once', async () => {
  server = await startCommuneServer(port);
  await tapSyncNow();
  await textIs(pending(), 'Chờ gửi: 0 bản ghi');
  await gone(syncError());
  await openList();
  await search('', 3);
  await textIs(listBadge(ids.offline), 'Đã gửi');
  await backHome();
  assert.deepEqual(await serverRecordIds(), [ids.visit, ids.signed, ids.offline].sort());
  // Syncing again sends nothing twice.
  await tapSyncNow();
  await textIs(syncNow(), '⟳ Đồng bộ ngay');
  await textIs(pending(), 'Chờ gửi: 0 bản ghi');
  assert.deepEqual(await serverQuery('SELECT COUNT(*) FROM records'), [[3]]);
});

// ---------------------------------------------------------------------------------------
// 5. Revoked by the office

step('5. a revoked device erases what the commune has, keeps its unsent records and says so', async () => {
  const out = await office('revoke', deviceId);
  assert.match(out, new RegExp(`revoked ${deviceId}`));
  assert.equal((await devices())[0].state, 'revoked');
  ids.revoked = await recordVisit('Nhà ông Đinh Văn Mơ');
  await textIs(pending(), 'Chờ gửi: 1 bản ghi');
  await textHas(syncError(), 'thu hồi');
  await tapSyncNow();
  await textIs(syncNow(), '⟳ Đồng bộ ngay');
  await textHas(syncError(), 'thu hồi');
  await textIs(pending(), 'Chờ gửi: 1 bản ghi');
  await textHas(page.locator('[data-testid=revoked-wiped]'), 'đã xoá thông tin cá nhân');
  await textHas(page.locator('[data-testid=revoked-wiped]'), '1 bản ghi chưa gửi vẫn được giữ nguyên');
  await scrollTo('[data-testid=revoked-wiped]');
  await shot('revoked.png');
  await openList();
  // The person the commune already has is no longer findable by name on the phone.
  await search('nguyen thi hoa', 0);
  await search('dinh van mo', 1);
  assert.deepEqual(await listedTitles(), ['Nhà ông Đinh Văn Mơ']);
  await textIs(listBadge(ids.revoked), 'Chờ gửi');
  await backHome();
  assert.deepEqual(await serverQuery('SELECT COUNT(*) FROM records'), [[3]]);
});

// ---------------------------------------------------------------------------------------

step('no script errors in the page', async () => {
  assert.deepEqual(pageErrors, []);
});
