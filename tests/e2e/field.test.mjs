// The app in the field (issue 15), in a real browser at 360×740: every screen passes
// axe-core (no critical or serious violation), controls are at least 48×48 px, search
// finds people first, nothing typed is lost (fast typing, paste, IME composition; in the
// record forms, the PIN fields and the enrolment code), the
// meeting flow adds the next person in one tap, practice mode says what it is, and the
// taps and keystrokes of the five common tasks are counted for the README.
//
// Run:  cd tests/e2e && node --test --test-concurrency=1 field.test.mjs (see helpers.mjs).

import assert from 'node:assert/strict';
import {
  page, withLiveviewApp, T, pageErrors, step, axeClean, smallTargets,
  chooseVolunteer, enterPin, norm, until, visible, gone, textIs, textHas, valueIs, countIs, fill, tick, choose, fieldError,
  openNew, scrollTop, shot, saveExpectingDetail, saveExpectingErrors, backHome, openList, search, listedTitles, load,
} from './helpers.mjs';

const app = withLiveviewApp('sotay-field-');

/** Discards every draft listed on home, one tap of Bỏ at a time. */
async function discardDrafts() {
  const rows = page.locator('.drafts .draft-row');
  for (let n = await rows.count(); n > 0; n--) {
    await rows.first().locator('[data-testid=draft-discard]').click();
    await countIs(rows, n - 1);
  }
  await gone(page.locator('.drafts'));
}

step('every screen of the app passes axe-core', async () => {
  await load(app.server.url);
  await axeClean('the choose-volunteer screen');
  await page.locator('[data-volunteer="v-lan"]').click();
  await visible(page.locator('[data-testid=pin-new]'));
  await axeClean('the first-PIN screen');
  await enterPin();
  await visible(page.locator('section.home'));
  await axeClean('home');
  for (const kind of ['visit', 'signature_help', 'training', 'outreach']) {
    await openNew(kind);
    if (kind === 'signature_help') await tick('input[name=consent]');
    await axeClean(`the ${kind} form`);
    await saveExpectingErrors();
    await axeClean(`the ${kind} form with its errors`);
    await backHome();
  }
  await openList();
  await page.locator('section.list details.filters summary').click();
  await axeClean('the list with its filters');
  await backHome();
  await page.locator('[data-testid=open-enrol]').click();
  await axeClean('the enrol screen');
  await backHome();
  await page.locator('[data-testid=open-settings]').click();
  await visible(page.locator('section.settings'));
  await axeClean('the settings screen');
  await backHome();
  await page.locator('[data-testid=lock-now]').click();
  await visible(page.locator('[data-testid=pin-input]'));
  await axeClean('the PIN screen');
  await enterPin();
  await discardDrafts();
});

step('controls are at least 48×48 px and the language is chosen in settings, not in the top bar', async () => {
  // Home, a form with every kind of control, the list with its filters open.
  assert.deepEqual(await smallTargets('header button, main button'), [], 'home');
  await gone(page.locator('header button.lang'));
  await openNew('signature_help');
  await tick('input[name=consent]');
  const controls = 'header button, main button, main .choice, main select, main input:not([type=checkbox]):not([type=radio]), main summary';
  assert.deepEqual(await smallTargets(controls), [], 'the signature form');
  await backHome();
  await discardDrafts();
  await openList();
  await page.locator('section.list details.filters summary').click();
  assert.deepEqual(await smallTargets(controls), [], 'the list');
  await backHome();
  // The language: settings, two choices; the whole app follows.
  await page.locator('[data-testid=open-settings]').click();
  await textIs(page.locator('section.settings h1'), 'Cài đặt');
  assert.deepEqual(await smallTargets('main .choice'), []);
  await tick('input[name=language][value=en]');
  await visible(page.locator('.app[lang=en]'));
  await textIs(page.locator('section.settings h1'), 'Settings');
  await tick('input[name=language][value=vi]');
  await visible(page.locator('.app[lang=vi]'));
  await backHome();
});

/**
 * Counts the taps and keystrokes the page receives from now on: a click is a tap, a choice
 * made in a drop-down list two (open it, pick), a key pressed a keystroke.
 */
async function startCounting() {
  await page.evaluate(() => {
    window.__taps = 0;
    window.__keys = 0;
    if (!window.__counting) {
      window.__counting = true;
      document.addEventListener('click', (e) => { if (e.isTrusted) window.__taps++; }, true);
      document.addEventListener('keydown', (e) => { if (e.isTrusted) window.__keys++; }, true);
      document.addEventListener('change', (e) => { if (e.target.tagName === 'SELECT') window.__taps += 2; }, true);
    }
  });
}
const counted = () => page.evaluate(() => ({ taps: window.__taps, keys: window.__keys }));
/** What the five common tasks cost, filled in by the steps below and printed at the end. */
const costs = [];

/**
 * Types like a volunteer in a hurry: taps the field, selects what it holds (a count starts
 * at 1) and types one key every 30 ms.
 */
async function typeFast(selector, text) {
  await page.locator(selector).click({ timeout: T });
  if (await page.locator(selector).inputValue()) await page.keyboard.press('Control+A');
  await page.keyboard.type(text, { delay: 30 });
}

step('fast typing (30 ms a key), paste and IME composition lose nothing', async () => {
  await startCounting();
  await openNew('visit');
  const household = 'input[name=household]';
  await typeFast(household, 'nguyen van hoa');
  // Nothing was rewritten while typing, and the app's copy caught up with the last key.
  await valueIs(page.locator(household), 'nguyen van hoa');
  // A paste lands in one piece (as a phone's keyboard inserts it).
  await page.locator(household).press('End');
  await page.evaluate(() => document.execCommand('insertText', false, ' – Thôn Đăk Pờ Kơng'));
  await page.keyboard.type(' ok', { delay: 30 });
  // IME composition (a Vietnamese Telex keyboard composes each syllable) while keys go on.
  const cdp = await page.context().newCDPSession(page);
  await page.keyboard.type(' ', { delay: 30 });
  for (const partial of ['N', 'Ng', 'Ngu', 'Nguy', 'Nguyê', 'Nguyễ']) {
    await cdp.send('Input.imeSetComposition', { text: partial, selectionStart: partial.length, selectionEnd: partial.length });
  }
  await cdp.send('Input.insertText', { text: 'Nguyễn' });
  await page.keyboard.type(' Văn Hoà', { delay: 30 });
  const expected = 'nguyen van hoa – Thôn Đăk Pờ Kơng ok Nguyễn Văn Hoà';
  await valueIs(page.locator(household), expected);
  await typeFast('input[name=people_helped]', '12');
  await tick('input[name=topic][value=vneid]');
  // What was saved is what was typed.
  await saveExpectingDetail(expected);
  await page.locator('section.detail button', { hasText: 'Về trang chính' }).click();
  await visible(page.locator('section.home'));
});

step('fast typing and paste into the PIN and enrolment code fields lose nothing', async () => {
  // A volunteer without a PIN chooses one, typing fast, the second time partly pasted.
  await page.locator('[data-testid=lock-now]').click();
  await page.locator('[data-testid=switch-volunteer]').click();
  await page.locator('[data-volunteer="v-hung"]').click();
  const pinNew = page.locator('[data-testid=pin-new]');
  const pinAgain = page.locator('[data-testid=pin-again]');
  await visible(pinNew);
  const controls = 'header button, main button, main input, main select';
  assert.deepEqual(await smallTargets(controls), [], 'the first-PIN screen');
  await typeFast('[data-testid=pin-new]', '80241957');
  await valueIs(pinNew, '80241957');
  await pinAgain.click();
  await page.evaluate(() => document.execCommand('insertText', false, '8024'));
  await page.keyboard.type('1957', { delay: 30 });
  await valueIs(pinAgain, '80241957');
  await valueIs(pinNew, '80241957');
  await page.locator('[data-testid=pin-set]').click();
  await visible(page.locator('section.home'));
  // Locked, the same PIN typed fast opens the app.
  await page.locator('[data-testid=lock-now]').click();
  const pinInput = page.locator('[data-testid=pin-input]');
  await visible(pinInput);
  await typeFast('[data-testid=pin-input]', '80241957');
  await valueIs(pinInput, '80241957');
  await page.locator('[data-testid=pin-unlock]').click();
  await visible(page.locator('section.home'));
  // The enrolment code typed fast, then again with a pasted start.
  await page.locator('[data-testid=open-enrol]').click();
  // The photo's file input sits inside its label, which is the target.
  assert.deepEqual(await smallTargets('main button, main input:not([type=file]), main label.photo-button'), [], 'the enrol screen');
  const code = page.locator('input[name=enrol_code]');
  await typeFast('input[name=enrol_code]', 'ABCD-EFGH-JKLM');
  await valueIs(code, 'ABCD-EFGH-JKLM');
  await page.keyboard.press('Control+A');
  await page.evaluate(() => document.execCommand('insertText', false, 'WXYZ-2345'));
  await page.keyboard.type('-6789', { delay: 30 });
  await valueIs(code, 'WXYZ-2345-6789');
  await backHome();
  // Back to Y Lan for the steps below.
  await page.locator('[data-testid=lock-now]').click();
  await page.locator('[data-testid=switch-volunteer]').click();
  await chooseVolunteer('v-lan');
  await visible(page.locator('section.home'));
});

step('a meeting: typed attendance, the consent statement folds, "Lưu và thêm người tiếp"', async () => {
  // Task: a hamlet meeting with 25 people, typed.
  await startCounting();
  await openNew('training');
  await choose('select[name=training_kind]', 'hamlet_meeting');
  await tick('input[name=topic][value=avoid_scams]');
  await page.locator('input[name=total]').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.type('25', { delay: 30 });
  await valueIs(page.locator('input[name=total]'), '25');
  await page.locator('[data-tally="total-plus"]').click();
  await valueIs(page.locator('input[name=total]'), '26');
  await page.locator('[data-tally="total-minus"]').click();
  await valueIs(page.locator('input[name=total]'), '25');
  await typeFast('input[name=trainers]', 'Y Lan');
  const meeting = await saveExpectingDetail('Lồng ghép sinh hoạt thôn · 25 người');
  costs.push(['Họp thôn, 25 người (gõ số)', await counted()]);

  // Task: the first person helped at the meeting, with consent.
  await startCounting();
  await page.locator('[data-testid=add-person]').click();
  await visible(page.locator('section.form[data-form="signature_help"]'));
  const statement = page.locator('[data-testid=consent-statement]');
  assert.equal(await statement.evaluate((d) => d.open), true, 'the statement is open to be read out');
  await tick('input[name=consent]');
  // Read out and agreed: it folds away; one tap opens it again.
  await until('the statement folds', async () => !(await statement.evaluate((d) => d.open)));
  await statement.locator('summary').click();
  await until('the statement opens again', async () => statement.evaluate((d) => d.open));
  await statement.locator('summary').click();
  await typeFast('input[name=display_name]', 'Ƀlúp Thị Hơ');
  await typeFast('input[name=birth_year]', '1990');
  await tick('input[name=sex][value=female]');
  await tick('input[name=outcome][value=digital_signature]');
  await choose('select[name=provider]', 'VNPT-CA');
  // The form of a person with consent fits in two screens.
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  assert.ok(height <= 2 * 740, `the signature form is ${height} px tall`);
  const date = await page.locator('input[name=date]').inputValue();
  const hamlet = await page.locator('select[name=hamlet]').inputValue();
  await page.locator('[data-testid=save-next]').click();
  await textIs(page.locator('.flash'), 'Đã lưu');
  const first = await counted();
  first.taps -= 2; // the two taps above that checked the folded statement opens and closes
  costs.push(['Người đầu tiên ở buổi họp, có đồng ý', first]);
  await scrollTop();
  await shot('next-person.png');

  // Task: the next person: a fresh form for the same meeting, hamlet and date.
  await startCounting();
  await valueIs(page.locator('select[name=parent]'), meeting);
  await valueIs(page.locator('select[name=hamlet]'), hamlet);
  await valueIs(page.locator('input[name=date]'), date);
  assert.equal(await page.locator('input[name=consent]').isChecked(), false, 'the next person starts afresh');
  await tick('input[name=consent]');
  await valueIs(page.locator('input[name=display_name]'), '');
  await typeFast('input[name=display_name]', 'A Nguyên');
  await typeFast('input[name=birth_year]', '1985');
  await tick('input[name=sex][value=male]');
  await tick('input[name=outcome][value=digital_signature]');
  await choose('select[name=provider]', 'VNPT-CA');
  await saveExpectingDetail('A Nguyên');
  costs.push(['Người tiếp theo ở buổi họp', await counted()]);
  await countIs(page.locator('section.detail'), 1);
  await page.locator('section.detail button', { hasText: 'Về trang chính' }).click();
  await visible(page.locator('section.home'));
});

step('a missing choice says what to do', async () => {
  await openNew('signature_help');
  await tick('input[name=consent]');
  await saveExpectingErrors();
  await textIs(fieldError('sex'), 'Hãy chọn giới tính.');
  await textIs(fieldError('display_name'), 'Hãy nhập họ tên người được hỗ trợ.');
  await backHome();
  await discardDrafts();
});

step('search finds people first; label and volunteer matches come after, marked', async () => {
  // Task: an outreach record (the loudspeaker), and a visit to the Đinh household.
  await startCounting();
  await openNew('outreach');
  await choose('select[name=channel]', 'loudspeaker');
  await typeFast('input[name=quantity]', '2');
  await typeFast('input[name=reach]', '300');
  await saveExpectingDetail('Loa truyền thanh · 2');
  costs.push(['Tuyên truyền qua loa', await counted()]);
  await page.locator('section.detail button', { hasText: 'Về trang chính' }).click();
  // Task: a household visit.
  await startCounting();
  await openNew('visit');
  await typeFast('input[name=household]', 'Nhà bà Đinh Thị Thanh');
  await typeFast('input[name=people_helped]', '2');
  await tick('input[name=topic][value=vneid]');
  await saveExpectingDetail('Nhà bà Đinh Thị Thanh');
  costs.push(['Thăm một hộ', await counted()]);
  await page.locator('section.detail button', { hasText: 'Về trang chính' }).click();

  // Task: find a person by name.
  await startCounting();
  await page.locator('[data-testid=open-list]').click();
  await typeFast('section.list input[name=search]', 'blup');
  await page.locator('section.list [data-query="blup"]').waitFor({ timeout: T });
  assert.deepEqual(await listedTitles(), ['Ƀlúp Thị Hơ'], 'ƀ folds to b');
  costs.push(['Tìm một người theo tên', await counted()]);
  // "dinh": the Đinh household first; the other visits (Thăm hộ gia đình) after, marked.
  await search('dinh', 2);
  const titles = await listedTitles();
  assert.equal(titles[0], 'Nhà bà Đinh Thị Thanh');
  await countIs(page.locator('section.list button.record:not(.by-label)'), 1);
  await countIs(page.locator('section.list button.record.by-label'), 1);
  await textIs(page.locator('[data-testid=by-label]'), 'Khớp theo loại bản ghi, thôn hoặc người ghi');
  await scrollTop();
  await shot('search-people-first.png');
  // "thanh": Thanh first, the loudspeaker (truyền thanh) after.
  await search('thanh', 2);
  assert.deepEqual(await listedTitles(), ['Nhà bà Đinh Thị Thanh', 'Loa truyền thanh · 2']);
  await countIs(page.locator('section.list button.record.by-label'), 1);
  // A word's beginning: "ngu" finds Nguyễn (and Nguyên).
  await search('ngu', 2);
  assert.deepEqual((await listedTitles()).sort(), ['A Nguyên', 'nguyen van hoa – Thôn Đăk Pờ Kơng ok Nguyễn Văn Hoà'].sort());
  // "lan": only the meeting Y Lan led names her; the rest of what she recorded comes after.
  await search('lan', 6);
  assert.equal((await listedTitles())[0], 'Lồng ghép sinh hoạt thôn · 25 người');
  await countIs(page.locator('section.list button.record:not(.by-label)'), 1);
  await countIs(page.locator('section.list button.record.by-label'), 5);
  await axeClean('the list with label matches');
  await page.locator('section.list button.record').first().click();
  await visible(page.locator('section.detail'));
  await axeClean('a record');
  await backHome();
});

step('practice mode says the practice records will never be sent and how to enrol', async () => {
  await textHas(page.locator('[data-testid=practice-pile]'), 'Có 6 bản ghi thực hành trên máy này. Chúng sẽ không bao giờ được gửi lên xã.');
  await textHas(page.locator('[data-testid=practice-pile]'), 'Đăng ký máy với xã');
  await visible(page.locator('[data-testid=open-enrol]'));
});

step('the taps and keystrokes of the common tasks', async () => {
  const table = ['| Việc | Chạm | Phím |', '|---|---|---|', ...costs.map(([what, c]) => `| ${what} | ${c.taps} | ${c.keys} |`)];
  console.log(table.join('\n'));
  assert.equal(costs.length, 6);
  const next = costs.find(([w]) => w === 'Người tiếp theo ở buổi họp')[1];
  const first = costs.find(([w]) => w === 'Người đầu tiên ở buổi họp, có đồng ý')[1];
  assert.ok(next.taps < first.taps, 'the next person costs fewer taps than the first');
});

step('no script errors in the page', async () => {
  assert.deepEqual(pageErrors, []);
});
