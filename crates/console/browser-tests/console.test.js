// Browser test of the Bulwark console in a real headless Chromium, driven by playwright-core.
// Started by crates/bulwark/tests/e2e_console_browser.rs with `bulwark serve` running;
// settings come from the environment:
//   CONSOLE_URL       http://127.0.0.1:PORT/
//   CONSOLE_PASSWORD  the administrator password
//   ICAP_ADDR         HOST:PORT of the ICAP server (requests are sent from here)
//   SCREENSHOT_DIR    where the screenshots go (under target/)
//   CHROMIUM          the browser (default /usr/bin/chromium)
'use strict';

const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  console.error('playwright-core is missing: run `npm ci` in crates/console/browser-tests');
  process.exit(2);
}

const URL_BASE = process.env.CONSOLE_URL;
const PASSWORD = process.env.CONSOLE_PASSWORD;
const ICAP = process.env.ICAP_ADDR;
const SHOTS = process.env.SCREENSHOT_DIR || path.join(os.tmpdir(), 'bulwark-console-shots');
const BROWSER = process.env.CHROMIUM || '/usr/bin/chromium';
if (!URL_BASE || !PASSWORD || !ICAP) {
  console.error('CONSOLE_URL, CONSOLE_PASSWORD and ICAP_ADDR must be set (run through cargo test)');
  process.exit(2);
}
if (!fs.existsSync(BROWSER)) {
  console.error(`no browser at ${BROWSER}: install Debian's chromium (scripts/deps.sh test)`);
  process.exit(2);
}
fs.mkdirSync(SHOTS, { recursive: true });

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

// One RESPMOD; resolves with the ICAP status line.
function respmod(url, body) {
  const [host, port] = [ICAP.slice(0, ICAP.lastIndexOf(':')), Number(ICAP.slice(ICAP.lastIndexOf(':') + 1))];
  const reqHdr = `GET ${url} HTTP/1.1\r\nHost: example.test\r\n\r\n`;
  const resHdr = `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  const head = `RESPMOD icap://${ICAP}/av/respmod ICAP/1.0\r\nHost: ${ICAP}\r\nConnection: close\r\nAllow: 204\r\n` +
    `X-Client-IP: 10.9.8.7\r\nEncapsulated: req-hdr=0, res-hdr=${Buffer.byteLength(reqHdr)}, res-body=${Buffer.byteLength(reqHdr) + Buffer.byteLength(resHdr)}\r\n\r\n`;
  const msg = head + reqHdr + resHdr + Buffer.byteLength(body).toString(16) + '\r\n' + body + '\r\n0\r\n\r\n';
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host, () => s.end(msg));
    let out = '';
    s.setTimeout(10000, () => { s.destroy(); reject(new Error('ICAP timeout')); });
    s.on('data', (d) => { out += d.toString('latin1'); });
    s.on('close', () => resolve(out.split('\r\n')[0]));
    s.on('error', reject);
  });
}

const results = [];
async function step(name, fn) {
  const t = Date.now();
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    results.push([name, false]);
    console.log(`FAIL ${name}: ${e && e.stack || e}`);
  }
}

function assert(cond, msg) { if (!cond) throw new Error('assertion failed: ' + msg); }

async function waitFor(fn, what, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

// No script from the data ran, and no <script> element came into the page's view.
async function noInjection(page, where) {
  const injected = await page.evaluate(() => ({
    xss: window.__xss === undefined ? null : String(window.__xss),
    scripts: document.querySelectorAll('#view script, #msg script').length,
    imgs: document.querySelectorAll('#view img').length,
  }));
  assert(injected.xss === null, `${where}: injected script ran (window.__xss=${injected.xss})`);
  assert(injected.scripts === 0, `${where}: <script> element in the page`);
  assert(injected.imgs === 0, `${where}: <img> element in the page`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: BROWSER,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  const page = context.pages()[0] || await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(URL_BASE.replace(/\/$/, ''))) external.push(r.url()); });
  try {
    await step('log-in page, then a wrong password is refused', async () => {
      await page.goto(URL_BASE);
      await page.waitForSelector('#login-form', { state: 'visible' });
      await shot(page, '00-login');
      await page.fill('#password', 'wrong password');
      await page.click('#login-submit');
      await page.waitForSelector('#login-error', { state: 'visible' });
      assert(/wrong/.test(await page.textContent('#login-error')), 'error shown');
    });

    await step('log in', async () => {
      await page.fill('#password', PASSWORD);
      await page.click('#login-submit');
      await page.waitForSelector('#nav', { state: 'visible' });
      await page.waitForSelector('#status-istag');
      const istag = await page.textContent('#status-istag');
      assert(/BW-/.test(istag), 'ISTag shown: ' + istag);
      await shot(page, '01-status');
      await noInjection(page, 'status');
    });

    await step('counters move after ICAP requests', async () => {
      await page.click('nav a[data-page=stats]');
      await page.waitForSelector('#counter-requests');
      const n0 = Number(await page.textContent('#counter-requests'));
      for (let i = 0; i < 3; i++) {
        const line = await respmod(`http://example.test/clean-${i}`, 'hello world');
        assert(line.startsWith('ICAP/1.0 2'), 'ICAP answer: ' + line);
      }
      await waitFor(async () => Number(await page.textContent('#counter-requests')) >= n0 + 3, 'requests counter +3');
      await waitFor(async () => (await page.$$('#chart-requests path')).length > 0, 'a line in the requests chart');
      await shot(page, '02-statistics');
      await noInjection(page, 'statistics');
    });

    await step('database reload from the console', async () => {
      await page.click('nav a[data-page=database]');
      await page.waitForSelector('#btn-reload-db');
      await page.click('#btn-reload-db');
      await waitFor(async () => /database reloaded/.test(await page.textContent('#msg')), 'reload message');
      await page.click('#btn-update');
      await waitFor(async () => /not available/.test(await page.textContent('#msg')), 'update 501 message');
      await shot(page, '03-database');
      await noInjection(page, 'database');
    });

    await step('a detection appears, markup in it shows as text', async () => {
      const url = 'http://example.test/<script>window.__xss=1</script>';
      const line = await respmod(url, EICAR);
      assert(line.startsWith('ICAP/1.0 200'), 'ICAP answer: ' + line);
      await page.click('nav a[data-page=detections]');
      await waitFor(async () => {
        const cells = await page.$$eval('#detections-table td.url', (tds) => tds.map((t) => t.textContent));
        return cells.includes(url);
      }, 'the EICAR detection with its URL as text');
      const threats = await page.$$eval('#detections-table td.threat', (tds) => tds.map((t) => t.textContent));
      assert(threats.some((t) => /Eicar/i.test(t)), 'EICAR threat: ' + threats);
      assert(threats.includes('<script>window.__xss=2</script>'), 'seeded threat shown as text: ' + threats);
      await new Promise((r) => setTimeout(r, 2500)); // a refresh or two more
      await noInjection(page, 'detections');
      await shot(page, '04-detections');
    });

    await step('detections: filtered by client, threat and day; dates as YYYY-MM-DD', async () => {
      const urls = () => page.$$eval('#detections-table td.url', (tds) => tds.map((t) => t.textContent));
      const threats = () => page.$$eval('#detections-table td.threat', (tds) => tds.map((t) => t.textContent));
      await page.fill('#df-client', '10.0.0.9');
      await page.click('#df-apply');
      await waitFor(async () => { const u = await urls(); return u.length === 1 && u[0] === 'http://seeded.test/x'; }, 'the seeded detection alone');
      const time = await page.textContent('#detections-table tbody td');
      assert(time === '2026-01-01 10:00:00', 'one date format: ' + time);
      await page.fill('#df-client', '');
      await page.fill('#df-threat', 'EICAR');
      await page.click('#df-apply');
      await waitFor(async () => { const t = await threats(); return t.length > 0 && t.every((x) => /eicar/i.test(x)); }, 'EICAR detections only');
      await page.fill('#df-threat', '');
      await page.fill('#df-to', '2026-01-01');
      await page.click('#df-apply');
      await waitFor(async () => { const u = await urls(); return u.length === 1 && u[0] === 'http://seeded.test/x'; }, 'detections up to 2026-01-01');
      await new Promise((r) => setTimeout(r, 2500)); // the refresh keeps the filter
      const u = await urls();
      assert(u.length === 1 && u[0] === 'http://seeded.test/x', 'filter kept across refreshes: ' + u);
      await noInjection(page, 'detections filtered');
      await shot(page, '04b-detections-filtered');
      await page.click('#df-clear');
      await waitFor(async () => (await urls()).length >= 2, 'every detection again');
    });

    await step('configuration: secrets masked, an invalid edit is refused with its line', async () => {
      await page.click('nav a[data-page=config]');
      await page.waitForSelector('#config-text');
      const text = await page.inputValue('#config-text');
      assert(text.includes('password_hash = "********"'), 'hash masked');
      assert(!text.includes('argon2id'), 'no hash in the page');
      assert(text.includes('<script>window.__xss=4</script>'), 'comment kept as text');
      await page.fill('#config-text', text + '\n[answer]\nholdback_bytes = "lots"\n');
      await page.click('#btn-apply');
      await page.waitForSelector('#config-errors li');
      const err = await page.textContent('#config-errors');
      assert(/line \d+/.test(err), 'line number in: ' + err);
      await noInjection(page, 'configuration');
      await shot(page, '05-configuration');
    });

    await step('configuration form: a bad client refused, then a group added and applied', async () => {
      await page.click('nav a[data-page=status]');
      await page.click('nav a[data-page=config]');
      await page.waitForSelector('#policy-form #pf-default');
      await page.click('#pf-add-group');
      const g = '#pf-group-0';
      await page.fill(`${g} input[data-field=name]`, 'managers');
      await page.fill(`${g} textarea[data-field=clients]`, 'not-an-address');
      await page.click('#pf-check');
      await page.waitForSelector('#policy-errors li');
      const err = await page.textContent('#policy-errors');
      assert(/not-an-address/.test(err), 'the error names the bad client: ' + err);
      await page.fill(`${g} textarea[data-field=clients]`, '10.9.0.0/16');
      await page.selectOption(`${g} select[data-field=suspicious]`, 'skip');
      await page.click('#pf-apply');
      await page.waitForSelector('#policy-result p.good', { timeout: 15000 });
      const p = await page.evaluate(async () => (await (await fetch('/api/config/policy')).json()).policy);
      const m = p.group.find((x) => x.name === 'managers');
      assert(m && m.clients[0] === '10.9.0.0/16' && m.actions.suspicious === 'skip', 'written: ' + JSON.stringify(p.group));
      await waitFor(async () => (await page.inputValue('#config-text')).includes('10.9.0.0/16'), 'the text editor shows the new file');
      assert((await page.textContent('#config-effective')).includes('managers'), 'effective configuration updated');
      await noInjection(page, 'configuration form');
      await shot(page, '05b-configuration-form');
    });

    await step('licence page', async () => {
      await page.click('nav a[data-page=license]');
      await page.waitForSelector('#license-state');
      assert(/not required/.test(await page.textContent('#license-state')), 'state');
      await noInjection(page, 'licence');
      await shot(page, '06-licence');
    });

    await step('phone-sized screen: no sideways scrolling', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      for (const p of ['status', 'stats', 'detections', 'database', 'config', 'license']) {
        await page.click(`nav a[data-page=${p}]`);
        await page.waitForTimeout(600);
        const w = await page.evaluate(() => document.documentElement.scrollWidth);
        assert(w <= 392, `${p}: page is ${w}px wide on a 390px screen`);
        await noInjection(page, p + ' (phone)');
      }
      await page.click('nav a[data-page=stats]');
      await page.waitForSelector('#chart-requests');
      await shot(page, '07-phone-statistics');
    });

    await step('no external requests, no script errors', async () => {
      assert(external.length === 0, 'external requests: ' + external.join(', '));
      // Answers such as 401, 422 and 501 are expected here; the browser logs each as a failed load.
      const real = errors.filter((e) => !/Failed to load resource/.test(e));
      assert(real.length === 0, 'page errors: ' + real.join(' | '));
    });

    await step('log out', async () => {
      await page.click('#logout');
      await page.waitForSelector('#login-form', { state: 'visible' });
    });
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  const failed = results.filter(([, ok]) => !ok).length;
  console.log(`screenshots in ${SHOTS}`);
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
