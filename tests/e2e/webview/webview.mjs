// Drives parleyd's web view in headless Chromium (puppeteer-core, Debian's chromium) against a
// running node, and fails unless what a person would see is there and moves:
//   1. the page loads without a script error and shows the node's height and slot timeline;
//   2. with no reload, the height advances and a newer slot appears in the timeline (the
//      page follows the node's new heads over server-sent events);
//   3. the web port refuses a write (eth_sendRawTransaction) with an error naming rpc_addr;
//   4. a transaction sent with cast meanwhile (tests/e2e/webview/run.sh sends it once this
//      script writes DIR/ready, and writes its hash to DIR/tx.hash) shows up in the live block
//      list with its stage, and searching its hash shows its detail with a finality stage;
//   5. a screenshot of the page is saved.
//
//   node webview.mjs WEB_URL DIR
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const [url, dir] = process.argv.slice(2);
if (!url || !dir) {
  console.error('usage: node webview.mjs WEB_URL DIR');
  process.exit(2);
}
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const fail = (msg) => { throw new Error(msg); };
const info = (msg) => console.log('INFO: ' + msg);

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const errors = [];
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1600 });
  page.on('pageerror', (e) => errors.push('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push('console error: ' + m.text()); });
  page.on('requestfailed', (r) => {
    // The event stream is cut when the page closes; anything else failing is a fault.
    if (!r.url().endsWith('/events')) errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });

  const res = await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 20000 });
  if (!res || res.status() !== 200) fail(`GET ${url}: status ${res && res.status()}`);
  const csp = res.headers()['content-security-policy'] || '';
  if (!csp.includes("default-src 'self'")) fail(`no same-origin content security policy: '${csp}'`);

  const height = () => page.$eval('#height', (e) => Number(e.textContent));
  await page.waitForFunction(() => /^\d+$/.test(document.querySelector('#height').textContent), { timeout: 20000 });
  await page.waitForSelector('#timeline-svg g.slot-row', { timeout: 20000 });
  const h0 = await height();
  const topSlot = () => page.$eval('#slots tbody tr:nth-child(1)', (r) => Number(r.dataset.slot));
  const s0 = await topSlot();
  const chainId = await page.$eval('#chain-id', (e) => e.textContent);
  info(`loaded: chain id ${chainId}, height ${h0}, newest slot row ${s0}`);
  await page.waitForFunction(() => document.querySelector('#live').classList.contains('on'), { timeout: 20000 });

  // Live: the height and the timeline move without a reload.
  await page.waitForFunction((h) => Number(document.querySelector('#height').textContent) >= h + 2, { timeout: 30000 }, h0);
  const h1 = await height();
  const s1 = await topSlot();
  if (!(s1 > s0)) fail(`the slot table did not advance: newest slot ${s0} then ${s1}`);
  const rows = await page.$$eval('#timeline-svg g.slot-row', (gs) => gs.map((g) => Number(g.dataset.slot)));
  if (!rows.includes(h1)) fail(`the timeline has no row for slot ${h1} at height ${h1}: rows ${rows}`);
  info(`live: height ${h0} -> ${h1}, newest slot ${s0} -> ${s1} without a reload; timeline rows ${Math.min(...rows)}..${Math.max(...rows)}`);

  // The web port only reads.
  const refused = await page.evaluate(async () => {
    const r = await fetch('/rpc', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: ['0x00'] }) });
    return r.json();
  });
  if (!refused.error || refused.error.code !== -32601 || !/rpc_addr/.test(refused.error.message)) {
    fail('the web port did not refuse eth_sendRawTransaction: ' + JSON.stringify(refused));
  }

  // A transaction sent with cast shows up live, with its stage.
  fs.writeFileSync(path.join(dir, 'ready'), String(h1));
  const hashFile = path.join(dir, 'tx.hash');
  const deadline = Date.now() + 60000;
  while (!fs.existsSync(hashFile)) {
    if (Date.now() > deadline) fail('no transaction hash from run.sh within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const hash = fs.readFileSync(hashFile, 'utf8').trim().toLowerCase();
  await page.waitForFunction(
    (h) => [...document.querySelectorAll('#blocks [data-tx]')].some((d) => d.dataset.tx.toLowerCase() === h && d.querySelector('.badge')),
    { timeout: 30000 }, hash);
  const listed = await page.$$eval('#blocks [data-tx]', (ds, h) => {
    const d = ds.find((x) => x.dataset.tx.toLowerCase() === h);
    return { block: d.closest('tr').dataset.block, stage: d.querySelector('.badge').textContent };
  }, hash);
  info(`the cast transaction ${hash.slice(0, 10)}… appeared in block ${listed.block} of the live list, stage ${listed.stage}`);

  await page.click('#q', { clickCount: 3 });
  await page.type('#q', hash);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#detail[data-kind="tx"] #tx-stage'), { timeout: 15000 });
  const stage = await page.$eval('#tx-stage', (e) => e.dataset.stage);
  if (!['sequenced', 'proven', 'aggregated', 'finalized'].includes(stage)) fail(`the searched transaction's stage is '${stage}'`);
  const status = await page.$eval('#detail', (d) => d.textContent);
  if (!/success/.test(status)) fail('the detail does not show the receipt status: ' + status.slice(0, 300));
  info(`search: ${hash.slice(0, 10)}… shows stage ${stage} and a successful receipt`);

  // The detail view follows the stage too: it is redrawn on each head (same route, no reload).
  const before = await page.evaluate(() => performance.getEntriesByType('navigation').length);
  await page.waitForFunction((h) => Number(document.querySelector('#height').textContent) >= h + 1, { timeout: 20000 }, await height());
  const after = await page.evaluate(() => performance.getEntriesByType('navigation').length);
  if (after !== before) fail('the page reloaded');

  const shot = path.join(dir, 'webview.png');
  await page.screenshot({ path: shot, fullPage: true });
  info(`screenshot: ${shot}`);
  if (errors.length) fail(errors.join('; '));
} finally {
  await browser.close();
}
