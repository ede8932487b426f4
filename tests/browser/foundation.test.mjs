// Browser: the web dashboard in headless Chromium against a real daemon (tests/integration/data/
// small-park.json) — login, the big screen with live data written during the test, the alarm
// console acknowledging an alarm, a point's history chart, the language switch, an enterprise
// user's narrowed view, a viewer without action buttons, and no console errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, ADMIN_PASSWORD, DATA } from '../integration/harness.mjs';
import { loginAs } from './browserlib.mjs';

let d, browser;
const errors = [];

// The small park's Modbus controllers point at 127.0.0.1:15020/15021, where a simulator may be
// serving other values: point them at the discard port so that only this test writes data.
function isolatedModel() {
  const m = JSON.parse(readFileSync(path.join(DATA, 'small-park.json'), 'utf8'));
  for (const dev of m.devices) if (dev.modbus) dev.modbus.port = 9;
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'pw-browser-')), 'park.json');
  writeFileSync(file, JSON.stringify(m));
  return file;
}

before(async () => {
  d = await new Daemon({ model: isolatedModel() }).start();
  const admin = await d.login();
  for (const u of [{ name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' },
    { name: 'view1', password: 'view1-password', role: 'viewer' }]) {
    const r = await d.post('/api/v1/users', u, { token: admin });
    assert.equal(r.status, 201);
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
});
after(async () => { await browser?.close(); await d?.stop(); });

async function page(viewport = { width: 1920, height: 1080 }, allow = /401/) {
  const ctx = await browser.newContext({ viewport, locale: 'zh-CN' });
  const p = await ctx.newPage();
  // the first /api/v1/me before logging in answers 401 by design
  p.on('console', (m) => { if (m.type() === 'error' && !allow.test(m.text())) errors.push(m.text()); });
  p.on('pageerror', (e) => errors.push(String(e)));
  return p;
}

const login = (p, user, password) => loginAs(p, d.base, user, password);

const write = async (body) => {
  const r = await d.req('POST', '/write', { body });
  assert.equal(r.status, 204, r.text);
};

test('admin logs in and sees the big screen in Chinese, then switches to English and back', async () => {
  const p = await page();
  await login(p, 'admin', ADMIN_PASSWORD);
  await p.locator('#screen').waitFor();
  assert.match(await p.textContent('#park-name'), /测试化工园区/);
  assert.match(await p.textContent('#nav'), /报警处置/);
  await p.locator('#screen canvas').first().waitFor();
  await p.click('#lang');
  await p.waitForFunction(() => /Test Chemical Park/.test(document.querySelector('#park-name').textContent));
  assert.match(await p.textContent('#nav'), /Alarms/);
  assert.equal(await p.evaluate(() => localStorage.getItem('pw_lang')), 'en');
  await p.reload();
  await p.waitForFunction(() => /Test Chemical Park/.test(document.querySelector('#park-name')?.textContent || ''));
  await p.click('#lang');
  await p.waitForFunction(() => /测试化工园区/.test(document.querySelector('#park-name').textContent));
  await p.context().close();
});

test('wrong password shows an error and stays on the login form', async () => {
  const p = await page();
  await p.goto(d.base + '/');
  await p.fill('input[name=user]', 'admin');
  await p.fill('input[name=password]', 'not-the-password');
  await p.click('#login-form button[type=submit]');
  await p.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);
  assert.match(await p.textContent('#login-error'), /用户名或密码错误/);
  assert.equal(await p.locator('#nav').count(), 0);
  await p.context().close();
});

test('the big screen shows data written while it is open, without reload', async () => {
  const p = await page();
  await login(p, 'admin', ADMIN_PASSWORD);
  await p.locator('#screen').waitFor();
  await p.waitForFunction(() => document.querySelector('#conn')?.classList.contains('conn-open'));
  assert.equal(await p.textContent('#level-counts [data-level=red] b'), '0');
  // a second-level gas alarm and an environmental value arrive
  await write('gas,device=E1-GD-001 concentration=60');
  await write('hj212,mn=010000A8900016F000169DC0,code=a21026,cn=2011 rtd=42.5');
  await p.locator('#ticker li[data-alarm-id]').first().waitFor({ timeout: 10000 });
  assert.match(await p.textContent('#ticker'), /可燃气体浓度/);
  await p.waitForFunction(() => document.querySelector('#level-counts [data-level=red] b').textContent === '1');
  await p.locator('#alarm-banner').waitFor();
  await p.waitForFunction(() => /42\.5/.test(document.querySelector('.trend[data-q=so2] .trend-v').textContent), null, { timeout: 10000 });
  await p.waitForFunction(() => Number(document.querySelector('#today .fig.warn b').textContent) >= 1, null, { timeout: 10000 });
  await p.context().close();
});

test('acknowledging an alarm in the console changes its state', async () => {
  const token = await d.login();
  const active = (await d.get('/api/v1/alarms?state=active', { token })).json;
  assert.ok(active.length >= 1);
  const id = String(active[0].id);
  const p = await page();
  await login(p, 'admin', ADMIN_PASSWORD);
  await p.goto(d.base + '/#/alarms');
  const row = p.locator(`.alarm-list .arow[data-alarm-id="${id}"]`);
  await row.waitFor();
  assert.match(await row.locator('.a-state').textContent(), /未确认/);
  await row.click();
  await p.waitForFunction((x) => document.querySelector('#alarm-detail h3')?.textContent.includes(`#${x}`), id);
  await p.click('#btn-ack:not([disabled])');
  await p.waitForFunction((x) => /已确认/.test(document.querySelector(`.alarm-list .arow[data-alarm-id="${x}"] .a-state`).textContent), id);
  await p.waitForFunction(() => /确认/.test(document.querySelector('#alarm-detail .history').textContent));
  const r = await d.get(`/api/v1/alarms/${id}`, { token });
  assert.equal(r.json.state, 'acknowledged');
  assert.equal(r.json.acknowledged_by, 'admin');
  await p.context().close();
});

test('a point shows its live value and history chart with a range choice', async () => {
  const p = await page({ width: 1440, height: 900 });
  await login(p, 'admin', ADMIN_PASSWORD);
  await p.goto(d.base + '/#/point/E1-GD-001-P');
  await p.locator('#point-page').waitFor();
  await p.waitForFunction(() => /60/.test(document.querySelector('#live-value b').textContent));
  await p.locator('#point-page .h-history canvas').waitFor();
  await write('gas,device=E1-GD-001 concentration=12.5');
  await p.waitForFunction(() => /12\.5/.test(document.querySelector('#live-value b').textContent), null, { timeout: 10000 });
  await p.click('#ranges [data-range="24h"]');
  await p.waitForFunction(() => document.querySelector('#ranges [data-range="24h"]').classList.contains('on'));
  await p.locator('#point-page .h-history canvas').waitFor();
  await p.context().close();
});

test('an enterprise user sees only its enterprise and cannot reach another', async () => {
  const p = await page({ width: 1440, height: 900 });
  await login(p, 'ent1', 'ent1-password');
  await p.locator('#enterprise-page').waitFor();
  assert.equal(await p.getAttribute('#enterprise-page', 'data-enterprise'), 'E1');
  assert.equal(await p.textContent('#ent-name'), '甲化工有限公司');
  assert.equal(await p.locator('#nav [data-nav=screen]').count(), 0);
  assert.equal(await p.locator('#nav [data-nav=admin]').count(), 0);
  await p.goto(d.base + '/#/enterprise/E2');
  await p.locator('#no-access').waitFor();
  assert.equal(await p.locator('#enterprise-page').count(), 0);
  await p.goto(d.base + '/#/point/E2-GD-001-P');
  await p.locator('#not-found').waitFor();
  await p.goto(d.base + '/#/alarms?state=');
  await p.locator('#alarm-filters').waitFor();
  await p.waitForTimeout(500);
  const ents = await p.locator('.alarm-list .arow[data-alarm-id]').count();
  assert.ok(ents >= 1);
  assert.equal(await p.locator('#f-ent').count(), 0);
  await p.context().close();
});

test('a viewer sees no buttons that would change anything', async () => {
  const p = await page({ width: 1440, height: 900 });
  await login(p, 'view1', 'view1-password');
  await p.locator('#screen').waitFor();
  await p.goto(d.base + '/#/alarms?state=');
  const row = p.locator('.alarm-list .arow[data-alarm-id]').first();
  await row.waitFor();
  await row.click();
  await p.locator('#alarm-detail').waitFor();
  assert.equal(await p.locator('#alarm-actions').count(), 0);
  assert.equal(await p.locator('#btn-ack').count(), 0);
  await p.goto(d.base + '/#/admin');
  await p.locator('#no-access').waitFor();
  await p.context().close();
});

test('the event stream reconnects after a daemon restart, with a banner, and alarms keep coming', async () => {
  // requests fail while the daemon is down: those console messages are expected here
  const p = await page({ width: 1440, height: 900 }, /401|ERR_CONNECTION_REFUSED|Failed to load resource/);
  await login(p, 'admin', ADMIN_PASSWORD);
  await p.locator('#screen').waitFor();
  await p.waitForFunction(() => document.querySelector('#conn')?.classList.contains('conn-open'));
  d.proc.kill('SIGTERM');
  await d.exited;
  await p.locator('#conn-banner').waitFor({ timeout: 10000 });
  assert.match(await p.textContent('#conn-banner'), /连接已断开/);
  await d.spawn();
  await p.waitForFunction(() => document.querySelector('#conn')?.classList.contains('conn-open'), null, { timeout: 15000 });
  assert.equal(await p.locator('#conn-banner').count(), 0);
  await write('gas,device=E2-GD-001 concentration=20');
  await p.waitForFunction(() => /硫化氢浓度/.test(document.querySelector('#ticker').textContent), null, { timeout: 10000 });
  await p.context().close();
});

test('no console errors', () => {
  assert.deepEqual(errors, []);
});
