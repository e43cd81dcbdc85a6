// The app lock on a shared tablet, as volunteers meet it in a real browser at a phone's
// size: choosing a PIN (easy and mistyped ones refused), the idle lock, the lock when the
// app goes to the background, wrong PINs slowing down, switching volunteer (which asks the
// next volunteer's PIN), and a restart that opens locked.
//
// Run:  cd tests/e2e && node --test --test-concurrency=1 lock.test.mjs
// Env:  SOTAY_LIVEVIEW_BIN (default <repo>/target/debug/sotay-liveview).

import assert from 'node:assert/strict';
import {
  page, withLiveviewApp, T, startLiveview, stopProcess, pageErrors, step,
  visible, gone, textIs, textHas, fill, load, shot, enterPin, PIN, until,
} from './helpers.mjs';

/** Seconds without a touch before the app locks itself in this test (3 minutes in use). */
const IDLE = 4;
const LEAD_PIN = '573920';

const app = withLiveviewApp('sotay-lock-', { SOTAY_LOCK_AFTER_SECS: String(IDLE) });

const lockScreen = () => page.locator('[data-testid=lock-screen]');
const home = () => page.locator('section.home');
const message = () => page.locator('[data-testid=pin-message]');

step('1. the first volunteer chooses a PIN; easy and mistyped PINs are refused', async () => {
  await load(app.server.url);
  await textIs(page.locator('section.choose h1'), 'Ai đang dùng máy?');
  await page.locator('[data-volunteer="v-lan"]').click();
  await textIs(page.locator('.pin-gate h2'), 'Đặt mã PIN của bạn');
  await fill('[data-testid=pin-new]', '123456');
  await fill('[data-testid=pin-again]', '123456');
  await page.locator('[data-testid=pin-set]').click();
  await textIs(message(), 'Mã PIN này quá dễ đoán. Hãy chọn dãy số khác.');
  await fill('[data-testid=pin-new]', '12345');
  await page.locator('[data-testid=pin-set]').click();
  await textIs(message(), 'Mã PIN phải gồm 6 đến 12 chữ số.');
  await fill('[data-testid=pin-new]', PIN);
  await fill('[data-testid=pin-again]', '240618');
  await page.locator('[data-testid=pin-set]').click();
  await textIs(message(), 'Hai lần nhập mã PIN không giống nhau.');
  await fill('[data-testid=pin-again]', PIN);
  await shot('pin-set.png');
  await page.locator('[data-testid=pin-set]').click();
  await visible(home());
  await textHas(page.locator('[data-testid=current-volunteer]'), 'Y Lan');
});

step('2. left untouched, the app locks itself and shows nothing of the work', async () => {
  await until('the idle lock', async () => (await lockScreen().count()) > 0, (IDLE + 6) * 1000);
  await gone(home());
  await textIs(page.locator('.lock h1'), '🔒 Sổ tay đang khoá');
  await textHas(page.locator('.lock-who'), 'Y Lan');
  await gone(page.locator('[data-testid=lock-now]'));
  await shot('locked.png');
  await enterPin();
  await visible(home());
});

step('3. sent to the background, the app locks at once', async () => {
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await visible(lockScreen());
  await gone(home());
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'visible', configurable: true });
  });
  await enterPin();
  await visible(home());
});

step('4. wrong PINs slow down: after three, even the right PIN waits', async () => {
  await page.locator('[data-testid=lock-now]').click();
  await visible(lockScreen());
  for (let n = 1; n <= 3; n++) {
    await fill('[data-testid=pin-input]', '000000');
    await page.locator('[data-testid=pin-unlock]').click();
    await textHas(message(), `Sai mã PIN (${n} lần liên tiếp).`);
  }
  await textIs(message(), 'Sai mã PIN (3 lần liên tiếp). Hãy đợi 5 giây rồi thử lại. Còn 7 lần thử; sau đó phải nhờ tổ trưởng mở khoá.');
  await shot('pin-wrong.png');
  await fill('[data-testid=pin-input]', PIN);
  await page.locator('[data-testid=pin-unlock]').click();
  await textHas(message(), 'Hãy đợi');
  await visible(lockScreen());
  await new Promise((r) => setTimeout(r, 5500));
  await enterPin();
  await visible(home());
});

step('5. switching volunteer asks the next volunteer for their PIN', async () => {
  await page.locator('[data-testid=lock-now]').click();
  await page.locator('[data-testid=switch-volunteer]').click();
  await textIs(page.locator('section.choose h1'), 'Ai đang dùng máy?');
  await textHas(page.locator('[data-volunteer="v-thu"]'), 'Tổ trưởng');
  await page.locator('[data-volunteer="v-thu"]').click();
  await textIs(page.locator('.pin-gate h2'), 'Đặt mã PIN của bạn');
  await enterPin(LEAD_PIN);
  await visible(home());
  await textHas(page.locator('[data-testid=current-volunteer]'), 'Nguyễn Thị Thu');
  // Back to Y Lan from home: her PIN, not Thu's, opens it.
  await page.locator('[data-testid=current-volunteer]').click();
  await page.locator('[data-volunteer="v-lan"]').click();
  await fill('[data-testid=pin-input]', LEAD_PIN);
  await page.locator('[data-testid=pin-unlock]').click();
  await textHas(message(), 'Sai mã PIN (1 lần liên tiếp).');
  await enterPin(PIN);
  await visible(home());
  await textHas(page.locator('[data-testid=current-volunteer]'), 'Y Lan');
});

step('6. after a restart the app opens locked', async () => {
  const port = app.server.port;
  await stopProcess(app.server);
  app.server = await startLiveview(app.db, port, app.env);
  await page.reload({ waitUntil: 'load', timeout: T });
  await visible(lockScreen());
  await gone(home());
  await textHas(page.locator('.lock-who'), 'Y Lan');
  await enterPin();
  await visible(home());
});

step('7. the page reported no errors', async () => {
  assert.deepEqual(pageErrors, []);
});
