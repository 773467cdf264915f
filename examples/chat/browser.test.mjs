// The demo page in real Chromium (Debian's chromium package), driven by
// playwright-core. browser_test.go starts `capstream serve --dev` and runs
//
//	node browser.test.mjs http://127.0.0.1:PORT/
//
// Screenshots go to $ARTIFACTS_DIR (default testdata/artifacts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.argv[2];
if (!base) {
  console.error('usage: node browser.test.mjs URL');
  process.exit(2);
}
const artifacts = process.env.ARTIFACTS_DIR || join(import.meta.dirname, 'testdata', 'artifacts');
mkdirSync(artifacts, { recursive: true });

let browser;
let profile;

before(async () => {
  profile = mkdtempSync(join(tmpdir(), 'capstream-chromium-'));
  // A persistent context is how playwright takes a fresh --user-data-dir.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 940 },
    timeout: 60_000,
  });
});

after(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

// open loads the page as `user` and fails the test on any script error or
// console error (a CSP violation, say) but those that match `expected`.
async function open(t, user = 'alice', expected = [], { clock = false } = {}) {
  const page = await browser.newPage();
  if (clock) await page.clock.install(); // the page's time, which the test may move ahead
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected.some((re) => re.test(m.text()))) problems.push(`console: ${m.text()}`);
  });
  t.after(async () => {
    await page.close();
    assert.deepEqual(problems, [], 'the page logged errors');
  });
  page.setDefaultTimeout(15_000);
  await page.goto(base);
  await page.click(`#users-picker [data-user="${user}"]`);
  await page.waitForSelector('#tools li[data-tool="slow"]:not(.denied)');
  return page;
}

async function runSlow(page, steps, delayMs) {
  await page.click('#tools li[data-tool="slow"]');
  await page.fill('#in-steps', String(steps));
  await page.fill('#in-delayMs', String(delayMs));
  await page.click('#run');
}

const status = (page) => page.getAttribute('#call', 'data-status');
const waitStatus = (page, s, timeout) => page.waitForSelector(`#call[data-status="${s}"]`, { timeout });
const text = (page, sel) => page.textContent(sel);
// progressSeen is the progress values the page showed, in order.
const progressSeen = (page) => page.$$eval('#events li[data-type="host.progress"]', (lis) => lis.map((li) => Number(li.dataset.progress)));
const seqsSeen = (page) => page.$$eval('#events li[data-seq]', (lis) => lis.map((li) => Number(li.dataset.seq)));
const range = (n) => Array.from({ length: n }, (_, i) => i + 1);
const waitProgress = (page, n) => page.waitForFunction(
  (n) => document.querySelectorAll('#events li[data-type="host.progress"]').length >= n, n);

describe('capstream demo page', () => {
  it('lists alice\'s tools and builds a form from the input schema', async (t) => {
    const page = await open(t);
    const tools = await page.$$eval('#tools li:not(.denied)', (lis) => lis.map((li) => li.dataset.tool));
    assert.deepEqual(tools.sort(), ['echo', 'fetch', 'notes', 'slow', 'whoami']);
    await page.click('#tools li[data-tool="slow"]');
    assert.equal(await page.getAttribute('#in-steps', 'type'), 'number');
    assert.equal(await page.getAttribute('#in-steps', 'min'), '1');
    assert.equal(await page.getAttribute('#in-steps', 'max'), '1000');
    assert.equal(await page.$eval('#in-steps', (el) => el.required), true);
    assert.match(await text(page, '#fields'), /steps \*/);
    await page.click('#tools li[data-tool="notes"]');
    assert.deepEqual(await page.$$eval('#in-op option', (os) => os.map((o) => o.textContent)), ['add', 'list', 'clear']);
    assert.equal(await page.$eval('#in-text', (el) => el.required), false);
  });

  it('runs slow as alice and shows every progress event in order, then the result', async (t) => {
    const page = await open(t);
    await runSlow(page, 5, 100);
    await waitStatus(page, 'running');
    await waitStatus(page, 'completed');
    assert.deepEqual(await progressSeen(page), range(5));
    assert.deepEqual(await seqsSeen(page), range(12)); // started, 5 × (progress, output), completed
    assert.match(await text(page, '#result'), /"steps": 5/);
    assert.equal(await text(page, '#output'), 'step 1\nstep 2\nstep 3\nstep 4\nstep 5\n');
    assert.equal(await text(page, '#progress-label'), '5 of 5 — step 5 of 5');
    assert.match(await text(page, '#stat-duration'), /^\d+(\.\d+)? (ms|s)$/);
    assert.equal(await text(page, '#stat-gaps'), '0');
    assert.equal(await text(page, '#stat-dups'), '0');
    assert.equal(await page.isDisabled('#cancel'), true);
  });

  it('shows bob calling fetch as a 403 refusal', async (t) => {
    const page = await open(t, 'bob', [/status of 403/]); // Chromium logs the refused POST
    // The API lists only permitted tools; the page greys the others.
    assert.deepEqual(await page.$$eval('#tools li.denied', (lis) => lis.map((li) => li.dataset.tool).sort()), ['fetch', 'notes']);
    await page.fill('#any-form [name=tool]', 'fetch');
    await page.fill('#any-form [name=input]', '{"url":"https://example.com/"}');
    await page.click('#any-form button[type=submit]');
    await waitStatus(page, 'refused');
    assert.match(await text(page, '#result'), /Refused\s+tool_not_permitted/);
    assert.equal(await text(page, '#call-status'), 'refused');
    assert.deepEqual(await seqsSeen(page), []);
    await page.screenshot({ path: join(artifacts, 'refused.png') });
  });

  it('highlights a host call the capability refuses, and shows KV calls', async (t) => {
    const page = await open(t);
    await page.click('#tools li[data-tool="fetch"]');
    await page.fill('#in-url', 'https://evil.test/secrets');
    await page.click('#run');
    await waitStatus(page, 'failed');
    assert.match(await text(page, '#hostcalls li.bad'), /GET https:\/\/evil\.test\/secrets.*refused: url is not in the allowlist/);
    assert.match(await text(page, '#events li.bad[data-type="host.http"]'), /refused \(http\)/);
    assert.match(await text(page, '#result'), /Failed\s+tool_error/);

    await page.click('#tools li[data-tool="notes"]');
    await page.selectOption('#in-op', { label: 'add' });
    await page.fill('#in-text', 'buy milk');
    await page.click('#run');
    await waitStatus(page, 'completed');
    const kv = await page.$$eval('#hostcalls li', (lis) => lis.map((li) => li.textContent));
    assert.ok(kv.some((s) => /^kvset note\//.test(s)), `no KV set among ${JSON.stringify(kv)}`);
    assert.match(await text(page, '#result'), /buy milk/);
  });

  it('cancels a running call', async (t) => {
    const page = await open(t);
    await runSlow(page, 200, 200);
    await waitProgress(page, 1);
    await page.click('#cancel');
    await waitStatus(page, 'cancelled');
    assert.match(await text(page, '#result'), /Cancelled\s+deleted/);
    assert.ok((await progressSeen(page)).length < 200);
    assert.equal(await text(page, '#stat-gaps'), '0');
    assert.equal(await text(page, '#stat-dups'), '0');
    await page.screenshot({ path: join(artifacts, 'cancelled.png') });
  });

  it('reconnects mid-call and resumes with no missing or duplicated event', async (t) => {
    const page = await open(t);
    const steps = 12;
    await runSlow(page, steps, 200);
    await waitProgress(page, 3);
    assert.equal(await status(page), 'running');
    await page.click('#reconnect');
    await waitStatus(page, 'completed');
    assert.equal(await text(page, '#stat-conns'), '2');
    assert.equal(await text(page, '#stat-gaps'), '0');
    assert.equal(await text(page, '#stat-dups'), '0');
    assert.deepEqual(await seqsSeen(page), range(2 * steps + 2));
    assert.deepEqual(await progressSeen(page), range(steps));
    assert.match(await text(page, '#events'), /reconnected: resuming after event \d+/);
    await page.screenshot({ path: join(artifacts, 'chat.png'), fullPage: true });
  });

  it('mints a fresh ticket to reconnect once the old one has expired', async (t) => {
    const page = await open(t, 'alice', [], { clock: true });
    const steps = 8;
    await runSlow(page, steps, 200);
    await waitProgress(page, 2);
    await page.clock.fastForward('01:05'); // past the ticket's 60 s, as the page sees time
    await page.click('#reconnect');
    await waitStatus(page, 'completed');
    assert.match(await text(page, '#events'), /minted a fresh ticket/);
    assert.equal(await text(page, '#stat-gaps'), '0');
    assert.equal(await text(page, '#stat-dups'), '0');
    assert.deepEqual(await seqsSeen(page), range(2 * steps + 2));
  });

  it('streams with a fetch reader when the toggle is on', async (t) => {
    const page = await open(t);
    await page.click('#tools li[data-tool="slow"]');
    await page.click('label.switch');
    assert.equal(await page.isChecked('#use-fetch'), true);
    await runSlow(page, 3, 50);
    await waitStatus(page, 'completed');
    assert.equal(await text(page, '#call-mode'), 'fetch reader');
    assert.deepEqual(await progressSeen(page), range(3));
    assert.deepEqual(await seqsSeen(page), range(8));
    assert.equal(await text(page, '#stat-conns'), '1');
    assert.equal(await page.isDisabled('#reconnect'), true);
  });
});
