// Shared pieces of the browser tests: starting and stopping the binaries, the browser at a
// phone viewport (and a desktop page for the office), waiting helpers (playwright-core has
// no `expect`), the app's common gestures (open a form, save, go back home, search) and
// `step`, which chains the steps of one flow.
//
// The helpers act on the page given by `launchBrowser` (or `usePage`). Each test file runs
// in its own node process, so this module's state belongs to one file.
//
// Env:  SOTAY_LIVEVIEW_BIN (default <repo>/target/debug/sotay-liveview), SOTAY_SERVER_BIN
//       (default <repo>/target/debug/sotay-server), CHROMIUM (default /usr/bin/chromium).
//       Build both with `cargo build --features liveview,server --bins`.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const LIVEVIEW_BIN = process.env.SOTAY_LIVEVIEW_BIN || path.join(REPO, 'target', 'debug', 'sotay-liveview');
export const SERVER_BIN = process.env.SOTAY_SERVER_BIN || path.join(REPO, 'target', 'debug', 'sotay-server');
export const SHOTS = path.join(REPO, 'docs', 'screenshots');
export const FAILURES = path.join(HERE, 'out');
export const VIEWPORT = { width: 360, height: 740 };
/** The office's PC. */
export const DESKTOP = { width: 1280, height: 900 };
/** Generous per-step wait: every action is a websocket round trip to a debug build. */
export const T = 10_000;

// ---------------------------------------------------------------------------------------
// Processes

/** Every child still running, killed when this node process exits whatever the reason. */
const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* already gone */ }
  }
});
// Interrupted (Ctrl-C, or the runner stopping this file): exit, which runs the above.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

/**
 * Starts `bin args…` and resolves once its stdout prints `listening on http(s)://HOST:PORT`
 * (both binaries print that line once they accept connections; with port 0 it holds the
 * port actually chosen). Resolves to `{ child, url, port, exited, stdout(), stderr() }`.
 */
export function startProcess(bin, args, name = path.basename(bin), env = undefined) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    children.add(child);
    let out = '';
    let err = '';
    let started = false;
    const proc = { child, name, url: '', port: 0, exited: false, stdout: () => out, stderr: () => err };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within 30 s\nstdout: ${out}\nstderr: ${err}`));
    }, 30_000);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      const m = !started && out.match(/listening on (https?:\/\/127\.0\.0\.1:(\d+))/);
      if (m) {
        started = true;
        clearTimeout(timer);
        proc.url = m[1];
        proc.port = Number(m[2]);
        resolve(proc);
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code, signal) => {
      proc.exited = true;
      children.delete(child);
      if (!started) {
        clearTimeout(timer);
        reject(new Error(`${name} exited before listening (${code ?? signal})\nstdout: ${out}\nstderr: ${err}`));
      }
    });
  });
}

/**
 * Starts the app over liveview on `db`; its `url` is the page to load. `env` may shorten
 * the idle lock (SOTAY_LOCK_AFTER_SECS).
 */
export async function startLiveview(db, port = 0, env = undefined) {
  const app = await startProcess(LIVEVIEW_BIN, ['--db', db, '--port', String(port)], 'sotay-liveview', env);
  app.url += '/';
  return app;
}

/** Kills a started process the hard way (as a phone killing the app would) and waits for it. */
export async function stopProcess(proc) {
  if (!proc || proc.exited) return;
  const exited = once(proc.child, 'exit');
  proc.child.kill('SIGKILL');
  await exited;
}

/**
 * The set-up of a test file that drives the app alone: a fresh store in a temp folder, the
 * app over liveview on it (`env` may shorten the idle lock) and the phone-sized browser,
 * all torn down after the file's steps. The returned object fills in before the first step;
 * a step may restart the app by replacing `server` (`startLiveview(app.db, port, env)`).
 */
export function withLiveviewApp(prefix, env = undefined) {
  const app = { dir: undefined, db: undefined, server: undefined, browser: undefined, env };
  before(async () => {
    assert.ok(existsSync(LIVEVIEW_BIN), `${LIVEVIEW_BIN} is missing: run \`cargo build --features liveview --bin sotay-liveview\` or set SOTAY_LIVEVIEW_BIN`);
    app.dir = await mkdtemp(path.join(tmpdir(), prefix));
    app.db = path.join(app.dir, 'sotay.db');
    app.server = await startLiveview(app.db, 0, env);
    onFailureAppend(() => app.server?.stderr() && `liveview stderr:\n${app.server.stderr().slice(-2000)}`);
    ({ browser: app.browser } = await launchBrowser());
  });
  after(async () => {
    await app.browser?.close().catch(() => {});
    await stopProcess(app.server).catch(() => {});
    if (app.dir) await rm(app.dir, { recursive: true, force: true }).catch(() => {});
  });
  return app;
}

/**
 * Runs a command to its end; resolves to its stdout, rejects with its stderr. `env` adds
 * to (or overrides) this process's environment.
 */
export function run(bin, args, { timeout = T, env } = {}) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout, encoding: 'utf8', env: { ...process.env, ...env } }, (error, stdout, stderr) => {
      if (error) {
        error.message += `\nstdout: ${stdout}\nstderr: ${stderr}`;
        reject(error);
      } else {
        resolve(stdout);
      }
    });
  });
}

// ---------------------------------------------------------------------------------------
// The browser

/** The page the helpers act on; importers see `usePage`'s changes (a live binding). */
export let page;
/** What the page reported as errors: a last step asserts it stays empty. */
export const pageErrors = [];

/** Makes the helpers act on `p`. */
export function usePage(p) {
  page = p;
}

/** Debian's headless chromium with a phone-sized page (360×740 at 2×, touch, vi-VN). */
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      // Date and time inputs are drawn in the browser's locale, as on a Vietnamese phone
      // (takes effect only where chromium's locale files are installed: chromium-l10n).
      '--lang=vi-VN'],
  });
  const context = await browser.newContext({ viewport: VIEWPORT, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'vi-VN' });
  const p = watch(await context.newPage());
  usePage(p);
  return { browser, page: p };
}

/**
 * A desktop page (1280×900 at 1×, mouse, vi-VN) in its own context of `browser`, as the
 * commune office's PC: its cookies are not the phone page's. The helpers keep acting on
 * the page they were given: pass this one to `usePage` to act on it. The commune server
 * serves HTTPS with its own self-signed certificate, which the office's browser is told
 * to accept (a person clicks through the warning once, or imports the certificate).
 */
export async function openDesktopPage(browser) {
  const context = await browser.newContext({
    viewport: DESKTOP, deviceScaleFactor: 1, locale: 'vi-VN', acceptDownloads: true, ignoreHTTPSErrors: true,
  });
  return watch(await context.newPage());
}

/**
 * Responses a test expects to fail (a refused login answers 401, a refused form 400):
 * chromium reports each as a console error, which is no script error. Each entry is
 * `[status, path]`, removed once seen.
 */
export const expectedErrors = [];

/** Sets the waits of `p` and collects its script errors into `pageErrors`. */
function watch(p) {
  p.setDefaultTimeout(T);
  p.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
  p.on('console', (m) => {
    if (m.type() !== 'error') return;
    const where = m.location()?.url ?? '';
    // The page has no favicon; chromium reports the 404 as a console error.
    if (/status of 404/.test(m.text()) && /favicon/.test(where)) return;
    if (/status of 404/.test(m.text()) && !where) return;
    const expected = expectedErrors.findIndex(([status, pathname]) =>
      m.text().includes(`status of ${status}`) && where && new URL(where).pathname === pathname);
    if (expected >= 0) {
      expectedErrors.splice(expected, 1);
      return;
    }
    pageErrors.push(`console: ${m.text()} ${where}`);
  });
  return p;
}

// ---------------------------------------------------------------------------------------
// Waiting

/** Polls `check` until it returns a truthy value, or fails after `timeout` with `what`. */
export async function until(what, check, timeout = T) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const norm = (s) => (s ?? '').replace(/\s+/g, ' ').trim();

/** Waits until `locator` (first match) is visible. */
export async function visible(locator) {
  await locator.first().waitFor({ state: 'visible', timeout: T });
  return locator;
}

/** Waits until nothing matches `locator`, or nothing that matches is visible. */
export async function gone(locator) {
  await locator.first().waitFor({ state: 'hidden', timeout: T });
}

/** Waits until the text of `locator` equals `expected` (whitespace folded). */
export async function textIs(locator, expected) {
  let seen;
  await until(`text ${JSON.stringify(expected)} in ${locator}`, async () => {
    seen = norm(await locator.first().textContent({ timeout: 1000 }));
    return seen === expected;
  }).catch((e) => { throw new Error(`${e.message} (last seen ${JSON.stringify(seen)})`); });
}

/** Waits until the text of `locator` contains `part`. */
export async function textHas(locator, part) {
  let seen;
  await until(`text containing ${JSON.stringify(part)} in ${locator}`, async () => {
    seen = norm(await locator.first().textContent({ timeout: 1000 }));
    return seen.includes(part);
  }).catch((e) => { throw new Error(`${e.message} (last seen ${JSON.stringify(seen)})`); });
}

/** Waits until the input `locator` holds `expected`. */
export async function valueIs(locator, expected) {
  let seen;
  await until(`value ${JSON.stringify(expected)} in ${locator}`, async () => {
    seen = await locator.inputValue({ timeout: 1000 });
    return seen === expected;
  }).catch((e) => { throw new Error(`${e.message} (last seen ${JSON.stringify(seen)})`); });
}

/** Waits until `locator` matches exactly `n` elements. */
export async function countIs(locator, n) {
  let seen;
  await until(`${n} × ${locator}`, async () => (seen = await locator.count()) === n)
    .catch((e) => { throw new Error(`${e.message} (last seen ${seen})`); });
}

// ---------------------------------------------------------------------------------------
// Gestures

/** The PIN the tests' volunteers choose (6 digits, not an easy run). */
export const PIN = '240681';

/**
 * Answers the PIN step on screen: chooses `pin` if the volunteer has none yet, enters it
 * otherwise, and waits for the lock screen to go. On an enrolled device a first PIN asks
 * for the office's one-time code first: `officeCode` answers it.
 */
export async function enterPin(pin = PIN, officeCode = undefined) {
  const setNew = page.locator('[data-testid=pin-new]');
  const enter = page.locator('[data-testid=pin-input]');
  const code = page.locator('[data-testid=office-code]');
  const any = async () => (await setNew.count()) + (await enter.count()) + (await code.count()) > 0;
  await until('a PIN field', any);
  if (await code.count()) {
    assert.ok(officeCode, 'a first PIN on this enrolled device needs the office code');
    await fill('[data-testid=office-code]', officeCode);
    await page.locator('[data-testid=use-office-code]').click();
    await visible(setNew);
  }
  if (await setNew.count()) {
    await fill('[data-testid=pin-new]', pin);
    await fill('[data-testid=pin-again]', pin);
    await page.locator('[data-testid=pin-set]').click();
  } else {
    await fill('[data-testid=pin-input]', pin);
    await page.locator('[data-testid=pin-unlock]').click();
  }
  await gone(page.locator('[data-testid=pin-new], [data-testid=pin-input]'));
}

/** Taps a volunteer in the list and answers their PIN step (see `enterPin`). */
export async function chooseVolunteer(id, pin = PIN, officeCode = undefined) {
  await page.locator(`[data-volunteer="${id}"]`).click();
  await enterPin(pin, officeCode);
}

/** Fills an input and waits for the server's re-render to hold the same value. */
export async function fill(selector, value) {
  const input = page.locator(selector);
  await input.fill(value, { timeout: T });
  await valueIs(input, value);
}

/** Ticks a checkbox or radio and waits until the server's re-render keeps it ticked. */
export async function tick(selector, checked = true) {
  const box = page.locator(selector);
  await box.setChecked(checked, { timeout: T });
  await until(`${selector} ${checked ? 'ticked' : 'unticked'}`, async () => (await box.isChecked()) === checked);
}

/** Chooses an option and waits for the select to keep it. */
export async function choose(selector, value) {
  const select = page.locator(selector);
  await select.selectOption(value, { timeout: T });
  await valueIs(select, value);
}

/** The validation message shown under a field, by the field's name. */
export const fieldError = (name) => page.locator(`[data-field="${name}"] > p.error`);

/** The value shown for a label on the detail screen. */
export function detailValue(label) {
  return page
    .locator('section.detail .fields > div')
    .filter({ has: page.locator('dt', { hasText: new RegExp(`^${label}$`) }) })
    .locator('dd');
}

/** Sets a training tally with its − / + buttons, one tap at a time. */
export async function tally(name, target) {
  const input = page.locator(`input[name="${name}"]`);
  let v = Number(await input.inputValue());
  while (v !== target) {
    const dir = v < target ? 'plus' : 'minus';
    await page.locator(`[data-tally="${name}-${dir}"]`).click({ timeout: T });
    v += dir === 'plus' ? 1 : -1;
    // Wait for each tap to come back: the next tap's handler adds to the rendered value.
    await valueIs(input, String(v));
  }
}

/** Opens a new-record form from home. */
export async function openNew(kind) {
  await page.locator(`button.new-record[data-kind="${kind}"]`).click({ timeout: T });
  await visible(page.locator(`section.form[data-form="${kind}"]`));
}

/** Presses Save and waits for the saved record's detail screen; returns the record's id. */
export async function saveExpectingDetail(title) {
  await page.locator('[data-testid=save]').click({ timeout: T });
  const detail = page.locator('section.detail');
  await textIs(detail.locator('p.title'), title);
  await textIs(page.locator('.flash'), 'Đã lưu');
  const id = await detail.getAttribute('data-record');
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/, 'a device-made UUIDv7 id');
  return id;
}

/** Presses Save on an invalid form and waits for the form-level message. */
export async function saveExpectingErrors() {
  await page.locator('[data-testid=save]').click({ timeout: T });
  await textIs(page.locator('section.form p.form-status'), 'Chưa lưu: hãy sửa các ô được đánh dấu đỏ.');
}

/** Goes back (header button) until home shows. */
export async function backHome() {
  const home = page.locator('section.home');
  // Which screen is showing: its section's class and the record or form it shows. Text
  // is no guide, since a screen's own text may change while it stays.
  const screen = () =>
    page.locator('main > section').first()
      .evaluate((e) => `${e.className}|${e.dataset.record || ''}|${e.dataset.form || ''}`)
      .catch(() => '');
  for (let i = 0; i < 6 && !(await home.isVisible()); i++) {
    const before = await screen();
    await page.locator('header button.back').click({ timeout: T });
    await until('the screen to change after back', async () =>
      (await home.isVisible()) || ((await screen()) !== before && (await screen()) !== ''));
  }
  await visible(home);
}

/** Opens the list screen from home and waits for it. */
export async function openList() {
  await page.locator('[data-testid=open-list]').click({ timeout: T });
  await visible(page.locator('section.list input[name=search]'));
}

/** Types a search and waits for the result line (or the empty message). */
export async function search(text, expectedCount) {
  const input = page.locator('section.list input[name=search]');
  await input.fill(text, { timeout: T });
  await valueIs(input, text);
  // Wait for the results of this very query (the list marks them with it).
  await page.locator(`section.list [data-query="${text.replace(/"/g, '\\"')}"]`).waitFor({ timeout: T });
  if (expectedCount === 0) {
    await textIs(page.locator('section.list p.empty'), 'Không có bản ghi nào.');
    await countIs(page.locator('section.list button.record'), 0);
  } else {
    await textIs(page.locator('section.list p.count'), `${expectedCount} bản ghi`);
    await countIs(page.locator('section.list button.record'), expectedCount);
  }
}

/** Titles of the records listed, in order. */
export async function listedTitles() {
  return (await page.locator('section.list button.record .title').allTextContents()).map(norm);
}

/** Scrolls so the element is just below the sticky top bar (for screenshots). */
export async function scrollTo(selector) {
  await page.locator(selector).first().evaluate((el) => {
    const bar = document.querySelector('header.topbar');
    const top = el.getBoundingClientRect().top + window.scrollY - (bar ? bar.offsetHeight : 0) - 8;
    window.scrollTo(0, Math.max(0, top));
  });
}

export async function scrollTop() {
  await page.evaluate(() => window.scrollTo(0, 0));
}

/** Saves a screenshot of the page's viewport for the README. */
export async function shot(name) {
  await mkdir(SHOTS, { recursive: true });
  // Two frames drawn after the last scroll, so the picture is not caught mid-paint.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.screenshot({ path: path.join(SHOTS, name) });
}

/** Loads the app and waits for the first screen. */
export async function load(url) {
  await page.goto(url, { waitUntil: 'load', timeout: T });
  await visible(page.locator('section.home, section.choose, [data-testid=lock-screen]'));
}

// ---------------------------------------------------------------------------------------
// Steps

let broken = false;
const diagnostics = [];

/** Adds something to append to a failed step's message (a process's stderr, say). */
export function onFailureAppend(fn) {
  diagnostics.push(fn);
}

/**
 * One step of the flow. Steps share state, so after a failure the rest are skipped.
 * A step with `todo` checks a known bug: its failure is reported as TODO, does not fail
 * the run and does not stop the later steps (it must leave the app on home either way).
 */
export function step(name, fn, { todo } = {}) {
  test(name, { todo }, async (t) => {
    if (broken) {
      t.skip('an earlier step failed');
      return;
    }
    try {
      await fn(t);
    } catch (e) {
      if (todo && (await page.locator('section.home').isVisible().catch(() => false))) throw e;
      broken = true;
      try {
        await mkdir(FAILURES, { recursive: true });
        // Every page open in the browser (the phone's and, in office.test.mjs, the office's).
        const pages = page.context().browser()?.contexts().flatMap((c) => c.pages()) ?? [page];
        for (const [i, p] of pages.entries()) {
          const suffix = pages.length > 1 ? `-${i + 1}${p === page ? '-current' : ''}` : '';
          const file = path.join(FAILURES, `failed-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}${suffix}.png`);
          await p.screenshot({ path: file, fullPage: true });
          e.message += `\n(screenshot: ${file})`;
        }
      } catch { /* the page may be gone */ }
      for (const d of diagnostics) {
        try {
          const text = d();
          if (text) e.message += `\n${text}`;
        } catch { /* best effort */ }
      }
      throw e;
    }
  });
}

// ---------------------------------------------------------------------------------------
// Accessibility

/**
 * Runs axe-core on the page as it is and fails on any critical or serious violation,
 * naming each rule and the elements it found. `where` names the screen in the message.
 */
export async function axeClean(where, p = page) {
  assert.deepEqual(await axeViolations(p), [], `axe-core on ${where}`);
}

/** axe-core's critical and serious violations on `p` as it is, one line per rule. */
export async function axeViolations(p = page) {
  const result = await new AxeBuilder({ page: p }).analyze();
  return result.violations
    .filter((v) => v.impact === 'critical' || v.impact === 'serious')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).slice(0, 6).join(', ')}`);
}

/**
 * The size of every visible element matching `selector` that is smaller than 48×48 CSS
 * pixels, as `text w×h`: a finger outdoors needs at least that.
 */
export async function smallTargets(selector) {
  return page.locator(selector).evaluateAll((els) => els
    .filter((e) => e.offsetParent !== null)
    .map((e) => ({ e, r: e.getBoundingClientRect() }))
    .filter(({ r }) => r.width < 48 || r.height < 48)
    .map(({ e, r }) => `${(e.textContent || e.getAttribute('name') || e.tagName).trim().slice(0, 30)} ${Math.round(r.width)}×${Math.round(r.height)}`));
}

/** Opens the signature form's optional details (ethnic group, phone, citizen ID). */
export async function openMore() {
  const more = page.locator('[data-testid=more-details]');
  if (!(await more.evaluate((d) => d.open))) await more.locator('summary').click({ timeout: T });
  await visible(page.locator('input[name=citizen_id]'));
}
