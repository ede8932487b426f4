// Browser: supervision beyond the inbox in headless Chromium against a real daemon — the four-colour
// risk points drawn on the park map (a dot per located point, coloured by level, with a tooltip);
// 挂牌督办 from the proposed candidates to the listing and its badge on the board; the regulator's
// report page with its tables, and its print layout without the shell; no console errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, ADMIN_PASSWORD, DATA } from '../integration/harness.mjs';
import { launchChromium } from './browserlib.mjs';

let d, browser, admin;
const errors = [];
const POINTS = [
  { id: 'RP-R', name: '液氯储罐区', grade: '重大', lon: 118.158, lat: 36.178, colour: 'red', rgb: '#ff3b3b' },
  { id: 'RP-O', name: '装卸站台', grade: '较大', lon: 118.161, lat: 36.181, colour: 'orange', rgb: '#ff8c1a' },
  { id: 'RP-Y', name: '循环水站', grade: '一般', lon: 118.163, lat: 36.177, colour: 'yellow', rgb: '#f5d90a' },
  { id: 'RP-B', name: '办公楼', grade: '低', lon: 118.157, lat: 36.183, colour: 'blue', rgb: '#3c9dff' },
];

function model() {
  const m = JSON.parse(readFileSync(path.join(DATA, 'small-park.json'), 'utf8'));
  for (const dev of m.devices) if (dev.modbus) dev.modbus.port = 9;
  m.departments = [{ id: 'AJ', name: '园区安监局', kind: '安监' }];
  m.park.site_plan = {
    type: 'FeatureCollection',
    features: [
      { type: 'Feature', properties: { id: 'PARK', kind: 'park_boundary', name: '园区' },
        geometry: { type: 'Polygon', coordinates: [[[118.15, 36.17], [118.19, 36.17], [118.19, 36.19], [118.15, 36.19], [118.15, 36.17]]] } },
      { type: 'Feature', properties: { id: 'R-E1', kind: 'enterprise', enterprise: 'E1', name: 'E1' },
        geometry: { type: 'Polygon', coordinates: [[[118.155, 36.175], [118.165, 36.175], [118.165, 36.185], [118.155, 36.185], [118.155, 36.175]]] } },
    ],
  };
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'pw-browser-sv-')), 'park.json');
  writeFileSync(file, JSON.stringify(m));
  return file;
}

before(async () => {
  d = await new Daemon({ model: model() }).start();
  admin = await d.login();
  for (const p of POINTS) {
    const r = await d.req('PUT', `/api/v1/risk-points/${p.id}`, { body: { enterprise: 'E1', name: p.name, grade: p.grade, lon: p.lon, lat: p.lat }, token: admin });
    assert.equal(r.status, 200, r.text);
  }
  // a located point of another level class would not matter; one without a location is not drawn
  assert.equal((await d.req('PUT', '/api/v1/risk-points/RP-X', { body: { enterprise: 'E1', name: '无坐标', grade: '低' }, token: admin })).status, 200);
  browser = await launchChromium();
});
after(async () => { await browser?.close(); await d?.stop(); });

async function page() {
  const ctx = await browser.newContext({ viewport: { width: 1600, height: 1000 }, locale: 'zh-CN' });
  const p = await ctx.newPage();
  p.on('console', (m) => { if (m.type() === 'error' && !/401/.test(m.text())) errors.push(m.text()); });
  p.on('pageerror', (e) => errors.push(String(e)));
  await p.goto(d.base + '/');
  await p.locator('#login-view').waitFor();
  await p.fill('input[name=user]', 'admin');
  await p.fill('input[name=password]', ADMIN_PASSWORD);
  await p.click('#login-form button[type=submit]');
  await p.locator('#nav').waitFor();
  return p;
}

test('risk points on the park map, coloured by level', async () => {
  const p = await page();
  await p.goto(d.base + '/#/screen');
  const layer = await p.waitForFunction(async () => {
    const ec = await import('/vendor/echarts.esm.min.mjs');
    for (const el of document.querySelectorAll('.chart')) {
      const c = ec.getInstanceByDom(el);
      const s = c && c.getOption().geo?.length && c.getOption().series.find((x) => x.name === 'risk-points');
      if (s && s.data.length) return s.data.map((x) => ({ id: x.id, colour: x.itemStyle.color, lon: x.value[0] }));
    }
    return null;
  }, null, { timeout: 15000 });
  const drawn = await layer.jsonValue();
  assert.deepEqual(drawn.map((x) => x.id).sort(), POINTS.map((x) => x.id).sort(), 'every located point, and only those');
  for (const pt of POINTS) assert.equal(drawn.find((x) => x.id === pt.id).colour, pt.rgb, pt.id);
  // hovering the red point names it
  const pos = await p.evaluate(async (ll) => {
    const ec = await import('/vendor/echarts.esm.min.mjs');
    for (const el of document.querySelectorAll('.chart')) {
      const c = ec.getInstanceByDom(el);
      if (!c || !c.getOption().geo?.length) continue;
      const [x, y] = c.convertToPixel({ geoIndex: 0 }, ll);
      const r = el.getBoundingClientRect();
      return { x: r.left + x, y: r.top + y };
    }
    return null;
  }, [POINTS[0].lon, POINTS[0].lat]);
  await p.mouse.move(pos.x - 4, pos.y - 4);
  await p.mouse.move(pos.x, pos.y);
  await p.waitForFunction((w) => [...document.querySelectorAll('.chart div')].some((e) => e.textContent.includes(w)), POINTS[0].name, { timeout: 10000 });
  await p.context().close();
});

test('挂牌督办 from a candidate to the board, and the report page with its print layout', async () => {
  const hz = await d.post('/api/v1/hazards', { enterprise: 'E1', title: '液氯罐区防火堤缺失', grade: '重大' }, { token: admin });
  assert.equal(hz.status, 201, hz.text);
  const p = await page();
  // an escalation is announced wherever the user is: here, on the alarm console
  await p.goto(d.base + '/#/alarms');
  const o = await d.post('/api/v1/workorders', { title: '限时整改', priority: 'P3', enterprise: 'E2',
    due_at: new Date(Date.now() + 3000).toISOString() }, { token: admin });
  assert.equal(o.status, 201, o.text);
  await p.waitForFunction((id) => (document.querySelector('#toast')?.textContent || '').includes(`工单 #${id} 督办升级至 L1`), o.json.id, { timeout: 15000 });
  await p.goto(d.base + '/#/hazards');
  await p.locator('#listing-list tr[data-candidate="E1"]').waitFor();
  // the hazards page has the four-colour risk map too
  await p.waitForFunction(async () => {
    const ec = await import('/vendor/echarts.esm.min.mjs');
    const el = document.querySelector('.risk-map .chart');
    const c = el && ec.getInstanceByDom(el);
    return c && c.getOption().series.some((x) => x.name === 'risk-points' && x.data.length === 4);
  }, null, { timeout: 15000 });
  await p.fill('#ls-reason', '重大隐患挂牌督办');
  await p.click('#listing-list button[data-list="E1"]');
  await p.locator('#listing-list tr[data-listing]').waitFor();
  assert.match(await p.locator('#listing-list tr[data-listing]').textContent(), /重大隐患挂牌督办/);
  assert.equal(await p.locator('#listing-list tr[data-candidate]').count(), 0);
  await p.goto(d.base + '/#/board');
  await p.locator('.board-card[data-unit="E1"] .board-listed').waitFor();
  assert.equal(await p.locator('.board-card[data-unit="E2"] .board-listed').count(), 0);
  // the report
  await p.goto(d.base + '/#/report');
  await p.locator('#rpt-kpis').waitFor();
  await p.locator('#rpt-enterprises tr[data-unit="E1"]').waitFor();
  assert.match(await p.locator('#rpt-period-line').textContent(), /\d{4}-\d{2}/);
  assert.match(await p.locator('#report').textContent(), /挂牌督办/);
  const csv = await p.locator('#rpt-csv').getAttribute('href');
  assert.match(csv, /format=csv/);
  const bad = await p.locator('#rpt-period');
  await bad.fill('2026-13');
  const seen = errors.length;
  await p.click('#rpt-show');
  await p.locator('#rpt-error').waitFor();
  assert.match(await p.locator('#rpt-error').textContent(), /period/);
  // the refused request is the one console error the browser logs for it
  assert.ok(errors.slice(seen).every((e) => /status of 400/.test(e)), errors.slice(seen).join('; '));
  errors.splice(seen);
  await bad.fill('2026');
  await p.click('#rpt-show');
  await p.locator('#rpt-kpis').waitFor();
  await p.emulateMedia({ media: 'print' });
  assert.equal(await p.locator('header.top').isVisible(), false, 'the shell is not printed');
  assert.equal(await p.locator('#rpt-show').isVisible(), false, 'nor the controls');
  assert.equal(await p.locator('.report-page h1.print-only').isVisible(), true);
  await p.emulateMedia({ media: 'screen' });
  await p.context().close();
  assert.deepEqual(errors, []);
});
