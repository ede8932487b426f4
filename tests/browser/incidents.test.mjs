// Browser: incidents in headless Chromium against a real daemon — the weather station's wind and
// H2S detector readings written through /write (the real ingest path) raise a toxic alarm that
// opens an incident; the incident view draws its source, envelope and zones on the park map,
// lists the detectors by role, whom to call first with phone numbers and the timeline; a further
// reading updates the open page live (SSE `incident`); the big screen shows the open incident; a
// viewer gets no close button; the park closes it; the English switch; no console errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, ADMIN_PASSWORD, until } from '../integration/harness.mjs';
import { parkModel, weatherLines } from './park-fixture.mjs';
import { launchChromium, loginAs } from './browserlib.mjs';

let d, browser, token;
const errors = [];

before(async () => {
  d = await new Daemon({ model: parkModel() }).start();
  token = await d.login();
  for (const u of [{ name: 'view1', password: 'view1-password', role: 'viewer' },
    { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' }]) {
    assert.equal((await d.post('/api/v1/users', u, { token })).status, 201);
  }
  browser = await launchChromium();
});
after(async () => { await browser?.close(); await d?.stop(); });

async function page(viewport = { width: 1600, height: 1000 }, allow = /401/) {
  const ctx = await browser.newContext({ viewport, locale: 'zh-CN' });
  const p = await ctx.newPage();
  p.on('console', (m) => { if (m.type() === 'error' && !allow.test(m.text())) errors.push(m.text()); });
  p.on('pageerror', (e) => errors.push(String(e)));
  return p;
}

const login = (p, user, password) => loginAs(p, d.base, user, password);

const write = async (body) => {
  const r = await d.req('POST', '/write', { body });
  assert.equal(r.status, 204, r.text);
};

test('a toxic alarm opens an incident: source, zones, detectors, whom to call, live updates, close', async () => {
  // wind from the west; the east detector alarms (二级), its neighbours read less or nothing
  await write(weatherLines({ speed: 3, from: 270 }));
  await write(['gas,device=E1-HS-02 concentration=0', 'gas,device=E1-HS-03 concentration=0'].join('\n'));
  await write('gas,device=E1-HS-01 concentration=30');
  const incs = await until(async () => {
    const r = await d.get('/api/v1/incidents?state=open', { token });
    return r.status === 200 && r.json.length ? r.json : null;
  }, { timeout: 15000, what: 'an open incident' });
  const id = incs[0].id;

  const p = await page();
  await login(p, 'admin', ADMIN_PASSWORD);
  // the big screen shows it
  await p.locator(`#screen-incidents a[data-id="${id}"]`).waitFor();
  await p.click(`#screen-incidents a[data-id="${id}"]`);
  await p.locator(`#inc-detail[data-id="${id}"]`).waitFor();
  assert.equal(await p.getAttribute('#inc-detail', 'data-state'), 'open');
  // drawn on the map: zones and the source
  await p.waitForFunction(() => Number(document.querySelector('#inc-map').dataset.zones) >= 1);
  assert.equal(await p.getAttribute('#inc-map', 'data-source'), '1');
  const inc = (await d.get(`/api/v1/incidents/${id}`, { token })).json;
  // one alarming detector cannot size the leak: a bounded range (it was 3.4e11 kg/s), flagged
  const [lo, hi] = inc.source.rate_range;
  assert.ok(lo > 0 && lo <= inc.source.rate_kg_s && inc.source.rate_kg_s <= hi && hi <= 1000, JSON.stringify(inc.source.rate_range));
  assert.ok(inc.flags.includes('poorly_constrained'), JSON.stringify(inc.flags));
  assert.equal(await p.locator('#inc-zones tr[data-level]').count(), inc.zones.length);
  // detectors by role
  assert.equal(await p.getAttribute('#inc-detectors tr[data-point="E1-HS-01.h2s"]', 'data-role'), 'alarming');
  // whom to call: in the server's order, with phone numbers
  const rows = await p.$$eval('#inc-impacts tr[data-id]', (trs) => trs.map((tr) => tr.dataset.id));
  assert.deepEqual(rows, inc.impacts.map((i) => i.id));
  assert.match(await p.textContent('#inc-impacts tr[data-id=E1]'), /13800000001/); // E1's duty phone
  assert.ok(await p.locator('#inc-timeline li').count() >= 1);

  // a further reading: the neighbour joins as alarming, live on the open page
  await write('gas,device=E1-HS-02 concentration=25');
  await p.waitForFunction(() => document.querySelector('#inc-detectors tr[data-point="E1-HS-02.h2s"]')?.dataset.role === 'alarming', null, { timeout: 15000 });

  // a viewer sees it without the close button
  const v = await page();
  await login(v, 'view1', 'view1-password');
  await v.goto(`${d.base}/#/incidents/${id}`);
  await v.locator(`#inc-detail[data-id="${id}"]`).waitFor();
  assert.equal(await v.locator('#inc-btn-close').count(), 0);

  // English
  await p.click('#lang');
  await p.waitForFunction(() => /Whom to warn/.test(document.querySelector('#inc-detail').textContent));
  await p.click('#lang');

  // the park closes it
  await p.fill('#inc-text', '泄漏已处置');
  await p.click('#inc-btn-close');
  await p.waitForFunction(() => document.querySelector('#inc-detail')?.dataset.state === 'closed');
  assert.equal((await d.get(`/api/v1/incidents/${id}`, { token })).json.state, 'closed');
  await v.context().close();
  await p.context().close();
  assert.deepEqual(errors, []);
});
