// Browser: hostile names from devices and users never become markup. A JT/T 808 terminal
// registers with the plate `<img src=x onerror=…>` over a real socket, an enterprise and an
// environmental station carry the same kind of name in the park model (imported through the real
// API); headless Chromium hovers the map's vehicle and enterprise region and opens the station's
// missing-data heatmap tooltip. Each tooltip must show the name as text, no <img> may appear, no
// handler may run (and the CSP must not have had to refuse one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Daemon, DATA, ADMIN_PASSWORD, until } from '../integration/harness.mjs';
import { MSG, Terminal, register2013, location } from '../integration/jt808lib.mjs';

const PLATE = '<img src=x onerror=__x=3>'; // V1's plate in the model
const WIRE_PLATE = '<img src=x onerror=__x=4>'; // what an unknown terminal registers with
const ENT = '<img src=x onerror=__x=1>甲化工';
const STATION = '<img src=x onerror=__x=2>空气站';
let d, browser, admin, term, stranger;
const errors = [];

function hostileModel() {
  const m = JSON.parse(readFileSync(path.join(DATA, 'small-park.json'), 'utf8'));
  for (const dev of m.devices) if (dev.modbus) dev.modbus.port = 9;
  m.enterprises[0].name = ENT;
  m.vehicles[0].plate = PLATE;
  m.devices.find((x) => x.id === 'AQ-01').name = STATION;
  m.park.site_plan = {
    type: 'FeatureCollection',
    features: [
      { type: 'Feature', properties: { id: 'PARK', kind: 'park_boundary', name: '园区' },
        geometry: { type: 'Polygon', coordinates: [[[118.15, 36.17], [118.19, 36.17], [118.19, 36.19], [118.15, 36.19], [118.15, 36.17]]] } },
      { type: 'Feature', properties: { id: 'R-E1', kind: 'enterprise', enterprise: 'E1', name: ENT },
        geometry: { type: 'Polygon', coordinates: [[[118.155, 36.175], [118.165, 36.175], [118.165, 36.185], [118.155, 36.185], [118.155, 36.175]]] } },
    ],
  };
  return m;
}

before(async () => {
  d = await new Daemon({ set: ['jt808.unknown_terminals=accept'] }).start();
  admin = await d.login();
  // the hostile model goes in through the API, as an administrator would import it
  const r = await d.post('/api/v1/model/import?replace=1', hostileModel(), { token: admin });
  assert.equal(r.status, 200, r.text);
  // V1's terminal registers with the hostile plate and reports a position inside the park
  term = await new Terminal(d.ports.jt808, { phone: '013800000001' }).connect();
  term.send(MSG.REGISTER, register2013({ plate: [...Buffer.from(PLATE, 'latin1')] }));
  const reg = await term.next(MSG.REGISTER_REPLY);
  assert.equal(reg.body[2], 0, 'registered');
  term.send(MSG.AUTH, [...reg.body.subarray(3)]);
  await term.next(MSG.PLAT_REPLY);
  term.send(MSG.LOCATION, location({ lat: 36.18, lon: 118.175, speed: 12, ts: Math.floor(Date.now() / 1000) * 1000 }));
  await term.next(MSG.PLAT_REPLY);
  // an unknown terminal (accepted) registers with a hostile plate over the wire
  stranger = await new Terminal(d.ports.jt808, { phone: '013999999999' }).connect();
  stranger.send(MSG.REGISTER, register2013({ plate: [...Buffer.from(WIRE_PLATE, 'latin1')] }));
  const reg2 = await stranger.next(MSG.REGISTER_REPLY);
  assert.equal(reg2.body[2], 0, 'registered');
  stranger.send(MSG.AUTH, [...reg2.body.subarray(3)]);
  await stranger.next(MSG.PLAT_REPLY);
  stranger.send(MSG.LOCATION, location({ lat: 36.186, lon: 118.182, speed: 5, ts: Math.floor(Date.now() / 1000) * 1000 }));
  await stranger.next(MSG.PLAT_REPLY);
  await until(async () => (await d.get('/api/v1/vehicles/live', { token: admin })).json?.filter((v) => v.lat != null).length === 2, { what: 'two live vehicles' });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => { term?.close(); stranger?.close(); await browser?.close(); await d?.stop(); });

async function loggedIn() {
  const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: 'zh-CN' });
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

// Hovers the pixel of [lon, lat] in the chart that has a geo component (the park map); returns
// the tooltip's text once it shows `want`.
async function hoverMap(p, lonlat, want) {
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
  }, lonlat);
  assert.ok(pos, 'the park map is drawn');
  await p.mouse.move(pos.x - 3, pos.y - 3);
  await p.mouse.move(pos.x, pos.y);
  return tooltipText(p, want);
}

async function tooltipText(p, want) {
  await p.waitForFunction((w) => [...document.querySelectorAll('.chart div')].some((e) => e.textContent.includes(w)), want, { timeout: 10000 });
  return p.evaluate((w) => [...document.querySelectorAll('.chart div')].filter((e) => e.textContent.includes(w)).map((e) => ({ text: e.textContent, imgs: e.querySelectorAll('img').length }))[0], want);
}

async function assertInert(p, where) {
  assert.equal(await p.evaluate(() => document.querySelectorAll('img[src="x"]').length), 0, `${where}: no <img> from data`);
  assert.equal(await p.evaluate(() => typeof window.__x), 'undefined', `${where}: no handler ran`);
  assert.deepEqual(errors.filter((e) => /inline event handler|Content Security Policy/i.test(e)), [], `${where}: nothing for the CSP to refuse`);
}

test('the vehicle tooltips on the park map show hostile plates (model and wire) as text', async () => {
  const p = await loggedIn();
  await p.locator('#screen canvas').first().waitFor();
  for (const plate of [PLATE, WIRE_PLATE]) {
    // the vehicles series of the park map shows the tooltip of the vehicle with this plate
    await p.evaluate(async (pl) => {
      const ec = await import('/vendor/echarts.esm.min.mjs');
      for (const el of document.querySelectorAll('.chart')) {
        const c = ec.getInstanceByDom(el);
        if (!c || !c.getOption().geo?.length) continue;
        const si = c.getOption().series.findIndex((x) => x.name === 'vehicles');
        const di = c.getOption().series[si].data.findIndex((v) => v.name === pl);
        c.dispatchAction({ type: 'showTip', seriesIndex: si, dataIndex: di });
      }
    }, plate);
    const tip = await tooltipText(p, plate);
    assert.ok(tip.text.includes(plate), tip.text);
    assert.equal(tip.imgs, 0);
    await assertInert(p, `vehicle tooltip ${plate}`);
  }
  await p.context().close();
});

test('the enterprise region tooltip shows a hostile enterprise name as text', async () => {
  const p = await loggedIn();
  await p.locator('#screen canvas').first().waitFor();
  const tip = await hoverMap(p, [118.158, 36.182], '<img src=x onerror=__x=1>');
  assert.equal(tip.imgs, 0);
  await assertInert(p, 'region tooltip');
  await p.context().close();
});

test('the environmental missing-data heatmap tooltip shows a hostile station name as text', async () => {
  const p = await loggedIn();
  await p.goto(d.base + '/#/env');
  await p.locator('#env-page').waitFor();
  await p.click('button[data-tab=missing]');
  await p.locator('#missing').waitFor();
  // the table cell is Vue text (always safe); the chart tooltip is the ECharts HTML sink
  assert.ok((await p.textContent('#missing')).includes(STATION));
  await p.evaluate(async () => {
    const ec = await import('/vendor/echarts.esm.min.mjs');
    for (const el of document.querySelectorAll('.chart')) {
      const c = ec.getInstanceByDom(el);
      if (c && c.getOption().series?.some((s) => s.type === 'heatmap')) c.dispatchAction({ type: 'showTip', seriesIndex: 0, dataIndex: 0 });
    }
  });
  const tip = await tooltipText(p, '<img src=x onerror=__x=2>');
  assert.ok(tip.text.includes(STATION), tip.text);
  assert.equal(tip.imgs, 0);
  await assertInert(p, 'heatmap tooltip');
  await p.context().close();
});

test('the permit tooltip on the big screen shows a hostile enterprise name and equipment tag as text', async () => {
  const now = Date.now();
  const r = await d.post('/api/v1/permits', { type: 'hot_work', grade: 'second', enterprise: 'E1', location: [118.16, 36.18], outdoor: false,
    equipment: '<img src=x onerror=__x=5>', planned_start: new Date(now + 60e3).toISOString(), planned_end: new Date(now + 3600e3).toISOString(),
    leader: '王', workers: ['甲'], guardian: '丙' }, { token: admin });
  assert.equal(r.status, 201, r.text);
  const p = await loggedIn();
  await p.locator('#screen canvas').first().waitFor();
  await p.waitForFunction(() => document.querySelector('#screen-permits')?.dataset.active === '1');
  await p.evaluate(async () => {
    const ec = await import('/vendor/echarts.esm.min.mjs');
    for (const el of document.querySelectorAll('.chart')) {
      const c = ec.getInstanceByDom(el);
      if (!c || !c.getOption().geo?.length) continue;
      const si = c.getOption().series.findIndex((x) => x.name === 'permits');
      c.dispatchAction({ type: 'showTip', seriesIndex: si, dataIndex: 0 });
    }
  });
  const tip = await tooltipText(p, r.json.id);
  assert.ok(tip.text.includes('<img src=x onerror=__x=1>'), tip.text); // the enterprise's (short) name
  assert.ok(tip.text.includes('<img src=x onerror=__x=5>'), tip.text); // the equipment tag
  assert.equal(tip.imgs, 0);
  await assertInert(p, 'permit tooltip');
  // the permit page writes the equipment tag as text
  await p.goto(`${d.base}/#/permits/${r.json.id}`);
  await p.locator('#pt-detail').waitFor();
  assert.ok((await p.textContent('#pt-detail')).includes('<img src=x onerror=__x=5>'));
  await assertInert(p, 'permit detail');
  await p.context().close();
});
