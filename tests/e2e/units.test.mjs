// End-to-end test of the units' reports (issue 14, point 2), in a real browser.
//
// Starts a real `sotay-server serve --demo` on a free port and makes the commune's office
// account with `add-admin`. The office's PC (1280×900) makes a unit ("Công an xã") and its
// account on the units page; the unit's lead, on a phone (360×740), logs in, enters the
// unit's figures and submits; the office returns the report with a reason; the lead reads
// the reason, corrects and submits again; the office accepts it; then the commune's report
// is downloaded as DOCX and read back (`unzip -p … word/document.xml`): the units' sums are in
// its sections 1, 2.1 and 2.3. Then the plan page sets a target for the unit and a task. axe-core
// finds no critical or serious violation on the plan page, the activity page, the units
// page (at both widths), a unit's report as the office sees it, and the lead's page.
//
// Run:  cd tests/e2e && node --test --test-concurrency=1 units.test.mjs
// Env:  SOTAY_SERVER_BIN (default <repo>/target/debug/sotay-server), CHROMIUM.

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  SERVER_BIN, VIEWPORT, DESKTOP, T, startProcess, stopProcess, run, launchBrowser, openDesktopPage, usePage,
  onFailureAppend, step, norm, textIs, textHas, countIs, axeViolations,
} from './helpers.mjs';

const ADMIN = 'canbo.xa';
const PASSWORD = 'Kon-Braih-2025!';
const LEAD = 'lanhdao.congan';
const LEAD_PASSWORD = 'Cong-an-xa-2026';
const UNIT = 'Công an xã';

let dir;
let data;
let server;
let browser;
/** The office's PC and the unit lead's phone, each with its own cookies. */
let office;
let lead;
const year = new Intl.DateTimeFormat('en', { timeZone: 'Asia/Ho_Chi_Minh', year: 'numeric' }).format(new Date());

const serverCli = (args, env) => run(SERVER_BIN, [args[0], '--data', data, ...args.slice(1)], { env });

/** Clicks something that loads a new page on `p`, and waits for that page. */
async function navigate(p, locator) {
  await Promise.all([p.waitForNavigation({ waitUntil: 'load' }), locator.click()]);
}

async function logIn(p, username, password) {
  await p.goto(`${server.url}/office/login`, { waitUntil: 'load' });
  await p.locator('main.login input[name=username]').fill(username);
  await p.locator('main.login input[name=password]').fill(password);
  await navigate(p, p.locator('main.login button[type=submit]'));
}

/** Fills the unit's report form on the lead's phone. */
async function enter(values) {
  for (const [name, value] of Object.entries(values)) {
    await lead.locator(`[data-testid=unit-report-form] [name=${name}]`).fill(String(value));
  }
}

before(async () => {
  assert.ok(existsSync(SERVER_BIN), `${SERVER_BIN} is missing: run \`cargo build -p sotay-server\` or set SOTAY_SERVER_BIN`);
  dir = await mkdtemp(path.join(tmpdir(), 'sotay-e2e-units-'));
  data = path.join(dir, 'server');
  server = await startProcess(SERVER_BIN, ['serve', '--data', data, '--addr', '127.0.0.1:0', '--demo'], 'sotay-server');
  onFailureAppend(() => server?.stderr() && `sotay-server stderr:\n${server.stderr().slice(-2000)}`);
  ({ browser } = await launchBrowser());
  office = await openDesktopPage(browser);
  const phone = await browser.newContext({
    viewport: VIEWPORT, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'vi-VN', ignoreHTTPSErrors: true,
  });
  lead = await phone.newPage();
  lead.setDefaultTimeout(T);
  usePage(office);
});

after(async () => {
  await browser?.close().catch(() => {});
  await stopProcess(server).catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true }).catch(() => {});
});

step('1. the office makes the unit "Công an xã", puts a volunteer in it and makes its account', async () => {
  await serverCli(['add-admin', ADMIN], { SOTAY_ADMIN_PASSWORD: PASSWORD });
  await logIn(office, ADMIN, PASSWORD);
  await navigate(office, office.locator('header nav a', { hasText: 'Đơn vị' }));
  await textIs(office.locator('header nav a.current'), 'Đơn vị');
  await textIs(office.locator('main h1'), 'Đơn vị và báo cáo của đơn vị');
  const form = office.locator('[data-testid=unit-form]');
  await form.locator('[name=code]').fill('CA');
  await form.locator('[name=name]').fill(UNIT);
  await form.locator('[name=kind]').selectOption('police');
  await navigate(office, form.locator('button[type=submit]'));
  await textIs(office.locator('[data-testid=form-ok]'), 'Đã lưu đơn vị.');
  await countIs(office.locator('[data-testid=units] tbody tr'), 1);
  const member = office.locator('[data-testid=volunteer-unit]');
  await member.locator('[name=unit]').selectOption({ label: `${UNIT} (CA)` });
  await navigate(office, member.locator('button[type=submit]'));
  await textIs(office.locator('[data-testid=form-ok]'), 'Đã lưu đơn vị của tình nguyện viên.');
  const account = office.locator('[data-testid=unit-account]');
  await account.locator('[name=username]').fill(LEAD);
  await account.locator('[name=password]').fill(LEAD_PASSWORD);
  await navigate(office, account.locator('button[type=submit]'));
  await textHas(office.locator('[data-testid=form-ok]'), 'Đã tạo tài khoản.');
  await textHas(office.locator('[data-testid=unit-accounts] tbody'), LEAD);
  await textIs(office.locator('[data-testid=unit-reports] tr[data-unit=CA] [data-testid=status]'), 'Đang soạn');
  await textIs(office.locator('[data-testid=rate-submitted]'), '0 (0,0%)');
  assert.deepEqual(await axeViolations(office), [], 'axe-core on the units page (desktop)');
  await office.setViewportSize(VIEWPORT);
  assert.deepEqual(await axeViolations(office), [], 'axe-core on the units page (360×740)');
  await office.setViewportSize(DESKTOP);
});

step('2. the unit lead logs in on a phone, sees only the unit, enters the figures and submits', async () => {
  await logIn(lead, LEAD, LEAD_PASSWORD);
  // The office's address sends a unit account to its own page.
  assert.equal(new URL(lead.url()).pathname, '/office/unit');
  await textHas(lead.locator('main h1'), UNIT);
  await textIs(lead.locator('[data-testid=unit-status]'), 'Đang soạn');
  await countIs(lead.locator('header nav a'), 1);
  assert.deepEqual(await axeViolations(lead), [], 'axe-core on the lead page (360×740)');
  // Completed above registered is refused, saying why; nothing is sent.
  await enter({ staff_registered: 3, staff_completed: 5, people_registered: 120, people_completed: 80,
    media_items: 6, meetings: 4, meeting_reach: 210 });
  await lead.locator('[data-testid=unit-report-form] [name=narrative]').fill('Lồng ghép tuyên truyền tại họp dân.');
  await navigate(lead, lead.locator('[data-testid=submit-report]'));
  await textIs(lead.locator('[data-testid=form-error]'), 'Số hoàn thành không được lớn hơn số đăng ký.');
  assert.equal(await lead.locator('[name=staff_completed]').inputValue(), '5', 'what was typed stays');
  await enter({ staff_completed: 2 });
  await navigate(lead, lead.locator('[data-testid=submit-report]'));
  await textIs(lead.locator('[data-testid=form-ok]'), 'Đã gửi báo cáo cho xã.');
  await textIs(lead.locator('[data-testid=unit-status]'), 'Đã gửi, chờ xã xem');
  await countIs(lead.locator('[data-testid=unit-report-form]'), 0);
});

step('3. the office sees it submitted on time and returns it with a reason', async () => {
  await office.goto(`${server.url}/office/units?year=${year}`, { waitUntil: 'load' });
  const row = office.locator('[data-testid=unit-reports] tr[data-unit=CA]');
  await textIs(row.locator('[data-testid=status]'), 'Đã gửi, chờ xã xem');
  // Before 15/11 it is on time; after, late (the flow runs on any day of the year).
  const expected = new Date() <= new Date(`${year}-11-15T23:59:59+07:00`) ? 'Đúng hạn' : 'Muộn';
  await textIs(row.locator('[data-testid=timeliness]'), expected);
  await textIs(office.locator('[data-testid=rate-submitted]'), '1 (100,0%)');
  await navigate(office, row.locator('a'));
  await textIs(office.locator('[data-testid=unit-status]'), 'Đã gửi, chờ xã xem');
  assert.deepEqual(await axeViolations(office), [], 'axe-core on a unit report (office)');
  await office.locator('textarea[name=reason]').fill('Số người dân hoàn thành chưa khớp sổ theo dõi.');
  await navigate(office, office.locator('[data-testid=return]'));
  await textIs(office.locator('[data-testid=form-ok]'), 'Đã trả lại báo cáo cho đơn vị.');
  await textIs(office.locator('[data-testid=unit-status]'), 'Xã trả lại để sửa');
});

step('4. the lead reads the reason, corrects and submits again', async () => {
  await lead.goto(`${server.url}/office/unit`, { waitUntil: 'load' });
  await textIs(lead.locator('[data-testid=return-reason]'),
    'Xã trả lại báo cáo để sửa. Lý do: Số người dân hoàn thành chưa khớp sổ theo dõi.');
  assert.equal(await lead.locator('[name=people_completed]').inputValue(), '80', 'the figures sent are kept');
  await enter({ people_completed: 95 });
  await navigate(lead, lead.locator('[data-testid=submit-report]'));
  await textIs(lead.locator('[data-testid=unit-status]'), 'Đã gửi, chờ xã xem');
});

step('5. the office accepts it; the lead can no longer change it', async () => {
  await office.goto(`${server.url}/office/units?year=${year}`, { waitUntil: 'load' });
  await navigate(office, office.locator('[data-testid=unit-reports] tr[data-unit=CA] a'));
  assert.deepEqual(
    (await office.locator('[data-testid=unit-entered] td').allInnerTexts()).map(norm),
    ['3', '2', '120', '95', '6', '4', '210']);
  await navigate(office, office.locator('[data-testid=accept]'));
  await textIs(office.locator('[data-testid=unit-status]'), 'Xã đã chấp nhận');
  await countIs(office.locator('[data-testid=accept], [data-testid=return]'), 0);
  await lead.goto(`${server.url}/office/unit`, { waitUntil: 'load' });
  await textIs(lead.locator('[data-testid=unit-status]'), 'Xã đã chấp nhận');
  await countIs(lead.locator('[data-testid=unit-report-form]'), 0);
});

step('6. the commune report downloads as DOCX with the unit\'s figures in its sections', async () => {
  await office.goto(`${server.url}/office`, { waitUntil: 'load' });
  const [download] = await Promise.all([
    office.waitForEvent('download'),
    office.locator('[data-testid=report-docx]').click(),
  ]);
  assert.equal(await download.failure(), null);
  const file = path.join(dir, 'bao-cao.docx');
  await download.saveAs(file);
  const xml = await run('unzip', ['-p', file, 'word/document.xml']);
  // The text of the paragraphs, each on a line.
  const text = xml.split('</w:p>').map((p) => [...p.matchAll(/<w:t(?: [^>]*)?>([^<]*)<\/w:t>/g)].map((m) => m[1]).join('')).join('\n');
  for (const line of [
    'Kết quả thực hiện phong trào Bình dân học vụ số',
    'Có 1/1 đơn vị đã gửi báo cáo',
    'Theo báo cáo của 1/1 đơn vị: 3 cán bộ, công chức đăng ký học trên nền tảng binhdanhocvuso.gov.vn và các khóa học trực tuyến (MOOCs), 2 người hoàn thành; 120 người dân đăng ký học, 95 người hoàn thành.',
    'Các đơn vị đăng 6 tin, bài trên phương tiện thông tin đại chúng và lồng ghép tuyên truyền tại 4 hội nghị, cuộc họp với 210 người tham dự.',
    `- ${UNIT}: Lồng ghép tuyên truyền tại họp dân.`,
  ]) {
    assert.ok(text.includes(line), `${line} in\n${text}`);
  }
  const at = (s) => text.indexOf(s);
  assert.ok(at('Có 1/1 đơn vị') < at('2.1. Công tác tuyên truyền'), 'the units in section 1');
  assert.ok(at('2.1. Công tác tuyên truyền') < at('Các đơn vị đăng 6') && at('Các đơn vị đăng 6') < at('2.2. Tổ chức'), 'media under 2.1');
  assert.ok(at('2.3. Sử dụng nền tảng') < at('Theo báo cáo của 1/1'), 'the platform under 2.3');
});

step('7. the plan page sets a target and a task, shown against what was done (axe-core clean)', async () => {
  await navigate(office, office.locator('header nav a', { hasText: 'Kế hoạch' }));
  await textIs(office.locator('header nav a.current'), 'Kế hoạch');
  const form = office.locator('[data-testid=target-form]');
  await form.locator('[name=for]').selectOption({ label: UNIT });
  await form.locator('[name=helped]').fill('20');
  await form.locator('[name=trainings]').fill('4');
  await navigate(office, form.locator('button[type=submit]'));
  await textIs(office.locator('[data-testid=form-ok]'), 'Đã lưu.');
  assert.deepEqual(
    (await office.locator('[data-testid=plan-units] tbody tr td').allInnerTexts()).map(norm),
    ['20', '0', '0,0%', '4', '0', '0,0%', '0', '0', '—']);
  const task = office.locator('[data-testid=milestone-form]');
  await task.locator('[name=day]').fill(`${year}-11-15`);
  await task.locator('[name=task]').fill('Các đơn vị gửi báo cáo');
  await navigate(office, task.locator('button[type=submit]'));
  await textHas(office.locator('[data-testid=timeline] tbody'), `15/11/${year}`);
  assert.deepEqual(await axeViolations(office), [], 'axe-core on the plan page');
  await office.goto(`${server.url}/office/activity?from=${year}-01-01&to=${year}-12-31`, { waitUntil: 'load' });
  await countIs(office.locator('[data-testid=signature-breakdown] tbody tr'), 7);
  assert.deepEqual(await axeViolations(office), [], 'axe-core on the activity page with its breakdown');
});
