// Browser: the minimal web page in headless Chromium — login, the park overview, the language
// switch, an enterprise user's narrowed view, no console errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { Daemon, ADMIN_PASSWORD } from '../integration/harness.mjs';

let d, browser;
const errors = [];

before(async () => {
  d = await new Daemon().start();
  const admin = await d.login();
  const r = await d.post('/api/v1/users', { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' }, { token: admin });
  assert.equal(r.status, 201);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});
after(async () => { await browser?.close(); await d?.stop(); });

async function page() {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' });
  const p = await ctx.newPage();
  p.on('console', (m) => { if (m.type() === 'error' && !/401/.test(m.text())) errors.push(m.text()); });
  p.on('pageerror', (e) => errors.push(String(e)));
  return p;
}

async function login(p, user, password) {
  await p.goto(d.base + '/');
  await p.locator('#login-view').waitFor();
  await p.fill('input[name=user]', user);
  await p.fill('input[name=password]', password);
  await p.click('#login-form button[type=submit]');
  await p.locator('#overview-view').waitFor();
}

test('admin logs in and sees the park overview in Chinese, then switches to English', async () => {
  const p = await page();
  await login(p, 'admin', ADMIN_PASSWORD);
  await p.locator('#enterprises tbody tr').first().waitFor();
  assert.equal(await p.textContent('#park-name'), '测试化工园区');
  assert.equal(await p.locator('#enterprises tbody tr').count(), 2);
  assert.match(await p.textContent('#stats'), /监测设备/);
  await p.click('#lang');
  await p.waitForFunction(() => document.querySelector('#park-name').textContent === 'Test Chemical Park');
  assert.match(await p.textContent('#stats'), /Devices/);
  await p.click('#lang');
  await p.close();
});

test('wrong password shows an error and stays on the login form', async () => {
  const p = await page();
  await p.goto(d.base + '/');
  await p.fill('input[name=user]', 'admin');
  await p.fill('input[name=password]', 'not-the-password');
  await p.click('#login-form button[type=submit]');
  await p.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);
  assert.equal(await p.isHidden('#overview-view'), true);
  await p.close();
});

test('an enterprise user sees only its enterprise', async () => {
  const p = await page();
  await login(p, 'ent1', 'ent1-password');
  await p.locator('#enterprises tbody tr').first().waitFor();
  const rows = await p.locator('#enterprises tbody tr').evaluateAll((trs) => trs.map((t) => t.dataset.id));
  assert.deepEqual(rows, ['E1']);
  await p.close();
});

test('no console errors', () => {
  assert.deepEqual(errors, []);
});
