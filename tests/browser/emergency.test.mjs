// Browser: emergency response in headless Chromium against a real daemon — the drill form (演练):
// the wind prefilled from the park's weather station (HJ 212 a01007/a01008 written to the daemon),
// the release point picked by a click on the park map, the calculation posted to
// /api/v1/dispersion and its zones drawn and listed with the same numbers the API gives, the
// impacts with their phone numbers, the validity flags in words; an enterprise user sees only its
// own impacts; the English switch; no console errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, ADMIN_PASSWORD } from '../integration/harness.mjs';
import { parkModel, weatherLines } from './park-fixture.mjs';
import { launchChromium, loginAs } from './browserlib.mjs';

let d, browser;
const errors = [];
before(async () => {
  d = await new Daemon({ model: parkModel() }).start();
  const admin = await d.login();
  assert.equal((await d.post('/api/v1/users', { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' }, { token: admin })).status, 201);
  // the station's latest reading: wind from the west at 5 m/s, 20 °C, 101.3 kPa
  const r = await d.req('POST', '/write', { body: weatherLines() });
  assert.equal(r.status, 204, r.text);
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

test('drill: wind from the station, source from a map click, zones and impacts as the API computes them', async () => {
  const p = await page(undefined, /401|status of 400/); // the refused rate below answers 400 by design
  await login(p, 'admin', ADMIN_PASSWORD);
  await p.click('#nav a[data-nav=drill]');
  await p.locator('#drill-form').waitFor();
  // the wind is prefilled from the station
  await p.waitForFunction(() => document.querySelector('#drill-speed').value === '5' && document.querySelector('#drill-from').value === '270');
  assert.match(await p.textContent('#drill-weather'), /园区气象站 \(WS-01\)/);
  assert.equal(await p.inputValue('#drill-temperature'), '20');
  assert.equal(await p.inputValue('#drill-pressure'), '101.3');
  // the chemical list comes from /api/v1/chemicals
  assert.ok(await p.locator('#drill-chemical option[value=h2s]').count());

  // no source yet: a clear message, nothing posted
  await p.click('#drill-run');
  assert.match(await p.textContent('#drill-error'), /泄漏点/);

  // a click on the map sets the source inside the site plan
  const box = await p.locator('#drill-chart').boundingBox();
  await p.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  await p.waitForFunction(() => document.querySelector('#drill-lon').value !== '');
  const lon = Number(await p.inputValue('#drill-lon')), lat = Number(await p.inputValue('#drill-lat'));
  assert.ok(lon > 118.155 && lon < 118.2 && lat > 36.17 && lat < 36.195, `${lon},${lat}`);

  // exact inputs, as the dispersion integration test uses them
  await p.fill('#drill-lon', '118.17');
  await p.fill('#drill-lat', '36.18');
  await p.fill('#drill-rate', '1');
  await p.fill('#drill-duration', '60');
  await p.selectOption('#drill-stability', 'D');
  await p.selectOption('#drill-terrain', 'open');
  await p.click('#drill-run');
  await p.locator('#drill-zones tr[data-level]').first().waitFor();

  const token = await d.login();
  const api = (await d.post('/api/v1/dispersion', { chemical: 'H2S', source: [118.17, 36.18], release: { rate_kg_s: 1, duration_s: 3600, height_m: 0 },
    wind: { speed_ms: 5, from_deg: 270, height_m: 10 }, stability: 'D', terrain: 'open', temperature_c: 20, pressure_kpa: 101.3 }, { token })).json;
  const rows = await p.$$eval('#drill-zones tr[data-level]', (trs) => trs.map((tr) => [tr.dataset.level, tr.querySelector('.zone-dist').textContent]));
  assert.deepEqual(rows, api.zones.map((z) => [z.level, `${Math.round(z.max_distance_m)} m`]));
  assert.deepEqual(rows.map((r) => r[0]), ['AEGL-3', 'AEGL-2', 'AEGL-1']);
  // drawn on the map: three zone polygons
  assert.equal(await p.getAttribute('#drill-map', 'data-zones'), '3');
  // impacts worst first, E1 with its safety officer's phone
  const imp = await p.$$eval('#drill-impacts tr[data-id]', (trs) => trs.map((tr) => [tr.dataset.kind, tr.dataset.id, tr.dataset.level]));
  assert.deepEqual(imp, api.impacts.map((i) => [i.kind, i.id, i.level]));
  assert.deepEqual(imp, [['area', 'E1-U1', 'AEGL-3'], ['enterprise', 'E1', 'AEGL-3'], ['area', 'E3-A1', 'AEGL-1'], ['enterprise', 'E3', 'AEGL-1']]);
  assert.match(await p.textContent('#drill-impacts tr[data-id=E1]'), /张安全.*13800000001/);
  // the flags in words
  assert.equal(await p.locator('#drill-flags li[data-flag=dense_gas]').count(), 1);
  assert.match(await p.textContent('#drill-flags li[data-flag=beyond_10km]'), /10 km/);
  assert.match(await p.textContent('#drill-result'), /指定/); // stability: given

  // a bad value gets the server's message naming the field
  await p.fill('#drill-rate', '-1');
  await p.click('#drill-run');
  await p.waitForFunction(() => /release\.rate_kg_s/.test(document.querySelector('#drill-error').textContent));

  // English
  await p.click('#lang');
  await p.waitForFunction(() => /Drill/.test(document.querySelector('#drill h1').textContent));
  assert.match(await p.textContent('#drill-flags'), /Dense gas/);
  await p.click('#lang');
  await p.context().close();
});

test('drill: an enterprise user sees only its own enterprise among the impacts', async () => {
  const p = await page();
  await login(p, 'ent1', 'ent1-password');
  await p.goto(d.base + '/#/drill');
  await p.locator('#drill-form').waitFor();
  // the park's weather station is not the enterprise's: no live wind for it, typed in instead
  await p.waitForFunction(() => /无气象站实时数据/.test(document.querySelector('#drill-weather').textContent));
  await p.fill('#drill-speed', '5');
  await p.fill('#drill-from', '270');
  await p.fill('#drill-lon', '118.17');
  await p.fill('#drill-lat', '36.18');
  await p.selectOption('#drill-stability', 'D');
  await p.click('#drill-run');
  await p.locator('#drill-zones tr[data-level]').first().waitFor();
  const ids = await p.$$eval('#drill-impacts tr[data-id]', (trs) => trs.map((tr) => tr.dataset.id));
  assert.deepEqual(ids, ['E1-U1', 'E1']); // E1's unit and E1 itself; E3 is not shown
  await p.context().close();
  assert.deepEqual(errors, []);
});
