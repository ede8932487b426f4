// Browser: the devices view lists JT/T 808 terminal registrations for park roles, and resetting
// one (with a reason) lets that terminal register once more — checked over a real socket — with
// who and why recorded. An enterprise user sees no reset action.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, ADMIN_PASSWORD } from '../integration/harness.mjs';
import { MSG, Terminal, register2013 } from '../integration/jt808lib.mjs';
import { launchChromium, loginAs } from './browserlib.mjs';

let d, browser, admin;
const errors = [];
const PHONE = '13700000042';

before(async () => {
  d = await new Daemon().start();
  admin = await d.login();
  const r = await d.post('/api/v1/users', { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' }, { token: admin });
  assert.equal(r.status, 201);
  browser = await launchChromium();
});
after(async () => { await browser?.close(); await d?.stop(); });

async function page() {
  const ctx = await browser.newContext({ viewport: { width: 1600, height: 1000 }, locale: 'zh-CN' });
  const p = await ctx.newPage();
  p.on('console', (m) => { if (m.type() === 'error' && !/401/.test(m.text())) errors.push(m.text()); });
  p.on('pageerror', (e) => errors.push(String(e)));
  return p;
}

const login = (p, user, password) => loginAs(p, d.base, user, password);

async function register() {
  const t = await new Terminal(d.ports.jt808, { phone: PHONE }).connect();
  t.send(MSG.REGISTER, register2013({ plate: [...Buffer.from('TEST42')] }));
  const r = await t.next(MSG.REGISTER_REPLY);
  t.close();
  return r.body[2];
}

test('an admin resets a terminal registration from the devices view, with a reason', async () => {
  assert.equal(await register(), 0);
  assert.equal(await register(), 3, 'registered: a second registration is refused');
  const p = await page();
  await login(p, 'admin', ADMIN_PASSWORD);
  await p.goto(d.base + '/#/devices');
  const btn = p.locator(`#jt-terminals button[data-phone="${PHONE}"]`);
  await btn.waitFor({ timeout: 20000 });
  assert.match(await p.textContent('#jt-terminals'), /被拒注册/);
  await btn.click();
  await p.locator('#reset-form').waitFor();
  await p.click('#btn-reset'); // no reason: refused in the form
  await p.locator('#reset-form [role=alert]').waitFor();
  assert.match(await p.textContent('#reset-form [role=alert]'), /请填写重置原因/);
  await p.fill('#reset-reason', '终端更换');
  await p.click('#btn-reset');
  await p.locator('#reset-form').waitFor({ state: 'detached' });
  const h = (await d.get(`/api/v1/jt808/terminals/${PHONE}/resets`, { token: admin })).json;
  assert.equal(h.resets.length, 1);
  assert.equal(h.resets[0].by, 'admin');
  assert.equal(h.resets[0].reason, '终端更换');
  assert.equal(h.resets[0].state, 'pending');
  assert.equal(await register(), 0, 'the reset lets it register once more');
  assert.equal(await register(), 3);
  // English strings
  await p.click('#lang');
  await p.waitForFunction(() => /Vehicle terminal registrations/.test(document.body.textContent));
  assert.match(await p.textContent('#jt-terminals'), /Reset registration/);
  await p.click('#lang');
  await p.context().close();
});

test('an enterprise user gets no reset action', async () => {
  const p = await page();
  await login(p, 'ent1', 'ent1-password');
  await p.goto(d.base + '/#/devices');
  await p.locator('#devices-page').waitFor();
  await p.waitForTimeout(500);
  assert.equal(await p.locator('#jt-terminals').count(), 0);
  await p.context().close();
});

test('no console errors', () => {
  assert.deepEqual(errors, []);
});
