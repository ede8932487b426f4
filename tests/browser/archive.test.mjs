// Browser: 下载存证 — on the environmental page, the value of an HJ 212 station received over a
// real socket offers the archive receipt of its frame to admin/supervisor, and the link
// downloads a c2sp.org/tlog-proof receipt that Sigstore's verifier accepts; a viewer sees no link.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, ADMIN_PASSWORD, until } from '../integration/harness.mjs';
import { frame, local14, qnOf, Station } from '../integration/hj212lib.mjs';
import { verifyReceipt } from '../verifiers/sigstore-check.mjs';
import { launchChromium } from './browserlib.mjs';

const MN = '010000A8900016F000169DC0'; // AQ-01 in small-park.json
let d, browser, admin;

before(async () => {
  d = await new Daemon({ set: ['archive.checkpoint_interval=1s', 'modbus.poll_interval=1h'] }).start();
  admin = await d.login();
  assert.equal((await d.post('/api/v1/users', { name: 'view1', password: 'view1-password', role: 'viewer' }, { token: admin })).status, 201);
  browser = await launchChromium();
});
after(async () => { await browser?.close(); await d?.stop(); });

async function login(user, password) {
  const ctx = await browser.newContext({ viewport: { width: 1600, height: 1000 }, locale: 'zh-CN', acceptDownloads: true });
  const p = await ctx.newPage();
  await p.goto(d.base + '/');
  await p.locator('#login-view').waitFor();
  await p.fill('input[name=user]', user);
  await p.fill('input[name=password]', password);
  await p.click('#login-form button[type=submit]');
  await p.locator('#nav').waitFor();
  return p;
}

test('the environmental page offers the receipt of the frame that carried a value', async () => {
  const st = new Station(d.ports.hj212);
  await st.connect();
  const ts = Date.now() - 60000;
  await st.write(frame(`QN=${qnOf(ts)};ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=${local14(ts)};a21026-Rtd=37.5,a21026-Flag=N&&`));
  await st.next(/CN=9014/);
  st.close();
  await until(async () => Number((await d.get('/archive/checkpoint', { token: admin })).text.split('\n')[1]) >= 2,
    { what: 'the frame in a checkpoint' });
  const vkey = (await d.get('/archive/vkey')).text.trim();

  const p = await login('admin', ADMIN_PASSWORD);
  await p.goto(d.base + '/#/env');
  const link = p.locator('#factors a.receipt').first();
  await link.waitFor({ timeout: 10000 });
  assert.equal(await link.textContent(), '下载存证');
  const [dl] = await Promise.all([p.waitForEvent('download'), link.click()]);
  assert.match(dl.suggestedFilename(), /^leaf-\d+\.tlog-proof$/);
  const text = (await import('node:fs')).readFileSync(await dl.path(), 'utf8');
  const leaf = Buffer.from(/^extra (.+)$/m.exec(text)[1], 'base64');
  assert.match(leaf.toString('latin1'), /a21026-Rtd=37\.5,a21026-Flag=N/);
  verifyReceipt(vkey, text, leaf);
  await p.context().close();

  const v = await login('view1', 'view1-password');
  await v.goto(d.base + '/#/env');
  await v.locator('#factors tbody tr').first().waitFor();
  assert.equal(await v.locator('#factors a.receipt').count(), 0);
  await v.context().close();
});

// 下载存证 on a point's history: each stored value of an HJ 212 point downloads the receipt of
// the frame that carried it; the English UI names it "Receipt"; a viewer has no such action.
test("a point's history offers the receipt of each stored value", async () => {
  const st = new Station(d.ports.hj212);
  await st.connect();
  const ts = Math.floor((Date.now() - 120000) / 1000) * 1000;
  await st.write(frame(`QN=${qnOf(ts)};ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=${local14(ts)};a21026-Rtd=41.25,a21026-Flag=N&&`));
  await st.next(/CN=9014/);
  st.close();
  const size = async () => Number((await d.get('/archive/checkpoint', { token: admin })).text.split('\n')[1]);
  const before = await size();
  await until(async () => (await d.get(`/api/v1/archive/proof?match[]=${encodeURIComponent(`hj212_rtd{mn="${MN}",code="a21026",cn="2011"}`)}&ts=${ts / 1000}`,
    { token: admin })).status === 200, { what: `the frame in a checkpoint (size was ${before})` });
  const vkey = (await d.get('/archive/vkey')).text.trim();

  const p = await login('admin', ADMIN_PASSWORD);
  await p.goto(d.base + '/#/point/AQ-01-SO2');
  await p.locator('#history-chart').waitFor();
  // the default range is downsampled: a bucket average is no stored value, so no receipt
  await p.locator('#receipt-raw-hint').waitFor();
  assert.equal(await p.locator('a.receipt').count(), 0);
  await p.click('#ranges [data-range="1h"]');
  const row = p.locator(`#stored-values tr[data-ts="${ts}"]`);
  await row.waitFor({ timeout: 10000 });
  assert.match(await row.textContent(), /41\.25/);
  const link = row.locator('a.receipt');
  assert.equal(await link.textContent(), '下载存证');
  const [dl] = await Promise.all([p.waitForEvent('download'), link.click()]);
  assert.match(dl.suggestedFilename(), /^leaf-\d+\.tlog-proof$/);
  const text = (await import('node:fs')).readFileSync(await dl.path(), 'utf8');
  const leaf = Buffer.from(/^extra (.+)$/m.exec(text)[1], 'base64');
  assert.match(leaf.toString('latin1'), /a21026-Rtd=41\.25,a21026-Flag=N/);
  verifyReceipt(vkey, text, leaf);

  // the English switch names the action in English
  await p.evaluate(() => localStorage.setItem('pw_lang', 'en'));
  await p.reload();
  await p.click('#ranges [data-range="1h"]');
  await p.locator(`#stored-values tr[data-ts="${ts}"] a.receipt`).waitFor({ timeout: 10000 });
  assert.equal(await p.locator(`#stored-values tr[data-ts="${ts}"] a.receipt`).textContent(), 'Receipt');
  await p.context().close();

  const v = await login('view1', 'view1-password');
  await v.goto(d.base + '/#/point/AQ-01-SO2');
  await v.click('#ranges [data-range="1h"]');
  await v.waitForFunction(() => /\d/.test(document.querySelector('#live-value b')?.textContent || ''), null, { timeout: 10000 });
  await v.locator('#ranges [data-range="1h"].on').waitFor();
  assert.equal(await v.locator('#stored-values').count(), 0);
  assert.equal(await v.locator('a.receipt').count(), 0);
  await v.context().close();
});
