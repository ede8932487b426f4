// Browser: special-operation permits in headless Chromium against a real daemon — an enterprise
// files a hot-work permit beside its combustible detector in the page and starts it; the
// detector's reading is raised past its 一级 setpoint through /write (the real ingest path) and the
// red finding arrives live on the open permit (SSE `permit`) with the detector's live value; the
// big screen and the enterprise page show the active permit; the park's statistics and the day's
// spot-check list (every 特级 permit is drawn) with an inspector's result; a viewer gets no
// buttons; the English switch; no console errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, ADMIN_PASSWORD } from '../integration/harness.mjs';
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
  const w = await d.req('POST', '/write', { body: [weatherLines({ speed: 2, from: 90 }), 'gas,device=E1-CB-01 concentration=2'].join('\n') });
  assert.equal(w.status, 204, w.text);
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

const stateIs = (p, txt) => p.waitForFunction((x) => document.querySelector('#pt-state')?.textContent === x, txt);
let permitId;

test('an enterprise files and starts hot work; a detector past its 一级 setpoint turns it red, live', async () => {
  const p = await page();
  await login(p, 'ent1', 'ent1-password');
  await p.click('#nav a[data-nav=permits]');
  await p.locator('#pt-tabs').waitFor();
  // an enterprise has no spot-check tab (park roles only)
  assert.equal(await p.locator('#pt-tabs [data-tab=spot]').count(), 0);
  await p.click('#pt-tabs [data-tab=file]');
  await p.locator('#pt-file-form').waitFor();
  await p.selectOption('#pt-f-type', 'hot_work');
  await p.selectOption('#pt-f-grade', 'second');
  await p.selectOption('#pt-f-area', 'E1-U1');
  await p.fill('#pt-f-lon', '118.1736');
  await p.fill('#pt-f-lat', '36.1801');
  await p.fill('#pt-f-equipment', 'P-101 出口管线');
  await p.fill('#pt-f-leader', '王班长');
  await p.fill('#pt-f-guardian', '李监护');
  await p.fill('#pt-f-workers', '张三，李四');
  await p.click('#pt-file-submit');
  await p.locator('#pt-detail').waitFor();
  permitId = await p.getAttribute('#pt-detail', 'data-permit');
  assert.match(permitId, /^PT-\d+$/);
  await stateIs(p, '已报备');
  // the permit's own enterprise acts on it
  await p.locator('#pt-btn-start').waitFor();
  // an analysis, then start
  await p.fill('#pt-analysis-form input[data-f=point]', '动火点');
  await p.fill('#pt-analysis-form input[data-f=gas]', 'CH4');
  await p.fill('#pt-analysis-form input[data-f=value]', '0.1');
  await p.fill('#pt-analysis-form input[data-f=unit]', '%');
  await p.fill('#pt-analysis-form input[data-f=analyst]', '赵分析');
  await p.click('#pt-btn-analysis');
  await p.waitForFunction(() => /赵分析/.test(document.querySelector('#pt-analyses').textContent));
  await p.click('#pt-btn-start');
  await stateIs(p, '作业中');
  // the nearby detector with its live value
  await p.locator('#pt-nearby tr[data-point="E1-CB-01.combustible"]').waitFor();
  assert.equal(await p.getAttribute('#pt-worst', 'data-sev') === 'red', false);

  // the detector reaches its 一级 setpoint (25 %LEL): a red finding, live on the open page
  const w = await d.req('POST', '/write', { body: 'gas,device=E1-CB-01 concentration=30' });
  assert.equal(w.status, 204);
  await p.waitForFunction(() => document.querySelector('#pt-findings li[data-sev=red]'), null, { timeout: 10000 });
  await p.waitForFunction(() => document.querySelector('#pt-worst')?.dataset.sev === 'red');
  // the red finding is an alarm in the console, in words, with the permit as its source
  await p.goto(`${d.base}/#/alarms`);
  await p.waitForFunction((id) => [...document.querySelectorAll('.alarm-list .arow')].some((r) => r.textContent.includes(id) && /特殊作业核查 · 附近可燃气体浓度升高/.test(r.textContent)), permitId);
  await p.goto(`${d.base}/#/permits`);
  await p.locator('#pt-tabs').waitFor();
  // a CSV sheet: the good row is filed, the bad one is reported by line and column
  await p.click('#pt-tabs [data-tab=import]');
  const t0 = new Date(Date.now() + 3600e3).toISOString(), t1 = new Date(Date.now() + 3 * 3600e3).toISOString();
  await p.fill('#pt-import-text', ['type,grade,area,lon,lat,outdoor,equipment,planned_start,planned_end,leader,workers,guardian',
    `受限空间,,E1-U1,118.1729,36.1789,否,V-301,${t0},${t1},周工,甲;乙,钱监护`,
    `动火,二级,E1-U1,118.1729,north,是,V-302,${t0},${t1},周工,甲,钱监护`].join('\n'));
  await p.click('#pt-import-send');
  await p.waitForFunction(() => /已导入 1 张，拒绝 1 张/.test(document.querySelector('#pt-import-result').textContent));
  assert.match(await p.textContent('#pt-import-rejected li[data-line="3"]'), /line 3: column lat/);
  // and on the enterprise's page
  await p.goto(`${d.base}/#/enterprise/E1`);
  await p.locator(`#ent-permits li[data-permit="${permitId}"][data-worst=red]`).waitFor();
  await p.context().close();
});

test('the park: big screen, statistics, spot checks; a viewer has no buttons', async () => {
  // a special-grade hot work (always drawn for spot checks), filed by the park for E1
  const now = Date.now();
  const r = await d.post('/api/v1/permits', { type: 'hot_work', grade: 'special', enterprise: 'E1', area: 'E1-U1',
    location: { type: 'Point', coordinates: [118.1728, 36.1788] }, outdoor: true, equipment: 'T-201',
    planned_start: new Date(now + 600e3).toISOString(), planned_end: new Date(now + 4 * 3600e3).toISOString(),
    leader: '王', workers: ['甲'], guardian: '丙', video: 'rtsp://cam/1' }, { token });
  assert.equal(r.status, 201, r.text);
  const special = r.json.id;
  assert.equal((await d.post(`/api/v1/permits/${special}/start`, {}, { token })).status, 200);

  const p = await page({ width: 1920, height: 1080 });
  await login(p, 'admin', ADMIN_PASSWORD);
  await p.waitForFunction(() => Number(document.querySelector('#screen-permits')?.dataset.active) >= 2);
  assert.equal(await p.getAttribute('#screen-permits', 'data-special'), '1');
  await p.waitForFunction(() => Number(document.querySelector('#screen-permits')?.dataset.red) >= 1);

  await p.goto(`${d.base}/#/permits`);
  await p.locator(`#pt-list .pt-row[data-permit="${permitId}"][data-worst=red]`).waitFor();
  await p.locator(`#pt-list .pt-row[data-permit="${special}"]`).waitFor();
  await p.selectOption('#pt-filter-type', 'lifting');
  await p.waitForFunction(() => document.querySelectorAll('#pt-list .pt-row').length === 0);
  await p.selectOption('#pt-filter-type', 'confined_space'); // the one imported from CSV
  await p.waitForFunction(() => document.querySelectorAll('#pt-list .pt-row').length === 1);
  await p.selectOption('#pt-filter-type', '');
  await p.locator(`#pt-list .pt-row[data-permit="${permitId}"]`).click();
  await p.locator('#pt-btn-pause').waitFor(); // the park may act too

  // statistics
  await p.click('#pt-tabs [data-tab=stats]');
  await p.locator('#pt-by-type').waitFor();
  const stats = (await d.get('/api/v1/permits/stats', { token })).json;
  assert.equal(await p.getAttribute('#pt-by-type', 'data-values'), Object.values(stats.by_type).sort((a, b) => b - a).join(','));

  // spot checks: the special-grade permit is drawn; record a problem (a note is required)
  await p.click('#pt-tabs [data-tab=spot]');
  const row = p.locator(`#pt-spot-list tr[data-permit="${special}"]`);
  await row.waitFor();
  await row.locator('select[data-f=result]').selectOption('problem');
  await row.locator('button[data-act=record]').click();
  await p.locator('#pt-spot-error').waitFor();
  await row.locator('input[data-f=text]').fill('监护人不在现场');
  await row.locator('button[data-act=record]').click();
  await p.waitForFunction((id) => document.querySelector(`#pt-spot-list tr[data-permit="${id}"]`)?.dataset.result === 'problem', special);
  assert.match(await row.textContent(), /监护人不在现场/);

  // English
  await p.click('#lang');
  await p.waitForFunction(() => /Spot checks/.test(document.querySelector('#pt-tabs').textContent));
  await p.click('#lang');
  await p.context().close();

  const v = await page();
  await login(v, 'view1', 'view1-password');
  await v.goto(`${d.base}/#/permits/${permitId}`);
  await v.locator('#pt-detail').waitFor();
  assert.equal(await v.locator('#pt-actions').count(), 0);
  assert.equal(await v.locator('#pt-analysis-form').count(), 0);
  assert.equal(await v.locator('#pt-tabs [data-tab=file]').count(), 0);
  assert.equal(await v.locator('#pt-tabs [data-tab=spot]').count(), 0);
  await v.context().close();
  assert.deepEqual(errors, []);
});
