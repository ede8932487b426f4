// Screenshots of the web dashboard for docs/ and the README, taken against the demo park.
//
//   DEPS=0 make && node scripts/screenshots.mjs [--out docs/img] [--keep]
//
// Starts a daemon on a fresh data directory loaded with demo/park.json (test harness), feeds it
// six hours of environmental history, current gas and tank values, a few alarms (some
// acknowledged, one closed), gate passages and hazmat vehicles over JT/T 808, then drives
// Chromium (playwright-core, /usr/bin/chromium) through the main views. Chinese labels need a CJK
// font on the machine (Debian: fonts-wqy-microhei or fonts-noto-cjk). --keep leaves the daemon
// running and prints its address.
import { chromium } from 'playwright-core';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, ROOT, ADMIN_PASSWORD, sleep } from '../tests/integration/harness.mjs';
import { MSG, Terminal, location, register2013 } from '../tests/integration/jt808lib.mjs';
import { Station, frame as hj212Frame, local14 } from '../tests/integration/hj212lib.mjs';

const args = process.argv.slice(2);
const OUT = path.resolve(ROOT, args.includes('--out') ? args[args.indexOf('--out') + 1] : 'docs/img');
const KEEP = args.includes('--keep');
mkdirSync(OUT, { recursive: true });

// deterministic pseudo-random numbers
let seed = 20261123;
const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };

// The demo's Modbus controllers point at 127.0.0.1:15020, where the park simulator may be serving
// other values: point them at the discard port so that only the data fed here is shown.
const park = JSON.parse(readFileSync(path.join(ROOT, 'demo/park.json'), 'utf8'));
for (const dev of park.devices) if (dev.modbus) dev.modbus.port = 9;
const modelFile = path.join(mkdtempSync(path.join(tmpdir(), 'pw-shots-')), 'park.json');
writeFileSync(modelFile, JSON.stringify(park));
if (park.park.site_plan) copyFileSync(path.join(ROOT, 'demo', park.park.site_plan), path.join(path.dirname(modelFile), park.park.site_plan));
// (the Modbus ports are set here: keepModbusPorts keeps the model beside its site plan)
const d = await new Daemon({ model: modelFile, set: ['rules.offline_after=0'], keepModbusPorts: true }).start();
const token = await d.login();
const api = (p) => d.get(p, { token }).then((r) => r.json);
const post = (p, body) => d.post(p, body, { token });
const points = await api('/api/v1/points');
const devices = await api('/api/v1/devices');

// line protocol from a series `meas_field{k="v",...}` (the part before the first _ is the measurement)
function line(series, value, ts) {
  const m = /^([a-z0-9]+)_([a-z0-9_]+)\{(.*)\}$/.exec(series);
  if (!m) return null;
  const tags = [...m[3].matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => `${k}=${v.replace(/([ ,=])/g, '\\$1')}`).join(',');
  return `${m[1]},${tags} ${m[2]}=${Number(value.toFixed(4))} ${ts}`;
}
async function write(lines) {
  for (let i = 0; i < lines.length; i += 5000) {
    const r = await d.req('POST', '/write?precision=ms', { body: lines.slice(i, i + 5000).join('\n') });
    if (r.status !== 204) throw new Error(`write: ${r.status} ${r.text}`);
  }
}

const now = Date.now();
const H = 3600e3;

// environmental stations: six hours of real-time data every 5 minutes, hourly averages for a day;
// two stations miss a few hours
{
  const lines = [];
  const env = points.filter((p) => /^hj212_rtd/.test(p.series || ''));
  const gaps = new Set(['P-VOC-02', 'E07-WW-01']);
  for (const p of env) {
    const lim = p.setpoints?.limit ?? (p.range ? p.range[1] / 4 : 10);
    const base = lim * (0.25 + rnd() * 0.35);
    for (let ts = now - 24 * H; ts <= now; ts += 5 * 60e3) {
      const hAgo = (now - ts) / H;
      if (gaps.has(p.device) && hAgo > 3 && hAgo < 7) continue;
      const v = base * (1 + 0.25 * Math.sin(ts / (2.2 * H) + base) + 0.12 * (rnd() - 0.5));
      lines.push(line(p.series, Math.max(0, v), ts));
    }
    for (let ts = Math.floor((now - 24 * H) / H) * H; ts < now; ts += H) {
      lines.push(line(p.series.replace('hj212_rtd', 'hj212_avg').replace('cn="2011"', 'cn="2061"'), base * (1 + 0.2 * Math.sin(ts / (3 * H))), ts));
    }
  }
  // one VOCs exceedance at the park's boundary station
  const voc = env.find((p) => p.quantity === 'vocs');
  await write(lines.filter(Boolean));
  if (voc) await write([line(voc.series, (voc.setpoints?.limit ?? 2) * 1.6, Date.now())]);
}

// gas detectors, tanks and kilns: current values (and six hours of one detector's history)
{
  const lines = [];
  for (const p of points.filter((x) => /^(gas|tank|kiln)_/.test(x.series || ''))) {
    const sp = p.setpoints || {};
    const hi = sp.alarm1 ?? sp.hi ?? (p.range ? p.range[1] : 100);
    let v = sp.lo != null && sp.hi != null ? ((sp.lo + sp.hi) / 2) * (0.97 + rnd() * 0.06) : hi < 0 ? hi * (1.15 + rnd() * 0.2) : p.quantity === 'o2' ? 20.9 : p.quantity === 'level' ? hi * (0.35 + rnd() * 0.4) : hi * (p.series.startsWith('gas') ? rnd() * 0.12 : 0.5 + rnd() * 0.3);
    lines.push(line(p.series, v, now - Math.round(rnd() * 20e3)));
  }
  const demo = points.find((p) => p.id === 'E01-GD-001.combustible');
  for (let ts = now - 6 * H; ts < now - 60e3; ts += 60e3) {
    const x = (ts - (now - 6 * H)) / (6 * H);
    const v = 3 + 4 * Math.sin(x * 9) * Math.sin(x * 2) + (x > 0.62 && x < 0.7 ? 24 * Math.sin((x - 0.62) / 0.08 * Math.PI) : 0) + rnd();
    lines.push(line(demo.series, Math.max(0, v), ts));
  }
  await write(lines.filter(Boolean).sort((a, b) => Number(a.split(' ').pop()) - Number(b.split(' ').pop())));
}

// alarms: gas leaks in a few enterprises, a tank above its high level
{
  const gas = (id) => points.find((p) => p.id.startsWith(id) && /^gas_/.test(p.series));
  const set = [[gas('E04-GD-003'), 'alarm2', 1.3], [gas('E05-GD-011'), 'alarm1', 1.2], [gas('E12-GD-005'), 'alarm2', 1.15],
    [gas('E09-GD-002'), 'alarm1', 1.1], [gas('E17-GD-004'), 'alarm1', 1.3], [gas('E21-GD-001'), 'alarm2', 1.2]].filter(([p]) => p);
  await write(set.map(([p, k, f]) => line(p.series, p.setpoints[k] * f, Date.now())));
  const tank = points.find((p) => p.quantity === 'level' && p.setpoints?.hi);
  if (tank) await write([line(tank.series, tank.setpoints.hi * 1.02, Date.now())]);
  await sleep(1500);
  // one alarm that came and went today: raised, cleared by the value, closed by the operator
  const gone = gas('E02-GD-002');
  if (gone) {
    await write([line(gone.series, gone.setpoints.alarm1 * 1.2, Date.now() - 1000)]);
    await sleep(300);
    await write([line(gone.series, 0.5, Date.now())]);
    await sleep(1500);
  }
  const alarms = await api('/api/v1/alarms?limit=50');
  const byDev = (id) => alarms.find((a) => a.device && a.device.startsWith(id));
  const a1 = byDev('E05-GD-011'), a2 = byDev('E09-GD-002'), a3 = byDev('E02-GD-002');
  if (a1) { await post(`/api/v1/alarms/${a1.id}/ack`, { text: '已通知企业中控室现场确认' }); await post(`/api/v1/alarms/${a1.id}/assign`, { assignee: '王建国' }); }
  if (a2) await post(`/api/v1/alarms/${a2.id}/ack`, {});
  if (a3) {
    if (a3.state !== 'cleared') await post(`/api/v1/alarms/${a3.id}/clear`, { text: '检修完成' });
    await post(`/api/v1/alarms/${a3.id}/close`, { text: '泄漏点已处理，复测正常' });
  }
  await post('/api/v1/silences', { kind: 'device', target: 'E08-GD-010', reason: '探测器标定检修', duration: '4h' });
}

// gates: people and vehicles passing
{
  const ev = [];
  for (let i = 0; i < 60; i++) ev.push({ device: 'GATE-02', subject: 'person', direction: i % 7 === 0 ? 'out' : 'in', ts: now - (60 - i) * 60e3 });
  for (let i = 0; i < 12; i++) ev.push({ device: 'GATE-01', subject: 'vehicle', plate: `鲁C${String(10000 + i * 137).slice(0, 5)}`, direction: i % 4 === 3 ? 'out' : 'in', ts: now - (12 - i) * 300e3 });
  const r = await d.req('POST', '/api/v1/events/device', { body: ev });
  if (r.status !== 201) console.error('gate events:', r.status, r.text);
}

// an unknown HJ 212 station reporting: quarantined, waiting to be registered
try {
  const st = new Station(d.ports.hj212);
  await st.connect();
  const mn = '37032330000001ABCDEF0001';
  await st.write(hj212Frame(`QN=${local14(now)}000;ST=22;CN=2011;PW=123456;MN=${mn};Flag=4;CP=&&DataTime=${local14(now)};a21026-Rtd=18.2,a21026-Flag=N;a34004-Rtd=41,a34004-Flag=N&&`));
  await sleep(500);
  st.close();
} catch (e) { console.error('hj212 station:', e.message); }

// hazmat vehicles over JT/T 808: register, authenticate, enter at the south gate, drive along the
// route corridors; some park in the hazmat lot
const terminals = [];
{
  const vehicles = (await api('/api/v1/vehicles')).slice(0, 16);
  const routes = (await api('/api/v1/geofences')).filter((g) => g.kind === 'route');
  const lot = (await api('/api/v1/geofences')).find((g) => g.kind === 'hazmat_parking');
  for (const [i, v] of vehicles.entries()) {
    try {
      const t = await new Terminal(d.ports.jt808, { phone: v.terminal_phone }).connect();
      t.send(MSG.REGISTER, register2013({ plate: [...Buffer.from(v.plate.slice(1), 'latin1')] }));
      const r = await t.next(MSG.REGISTER_REPLY);
      if (r.body[2] !== 0) { t.close(); continue; }
      t.send(MSG.AUTH, [...r.body.subarray(3)]);
      await t.next(MSG.PLAT_REPLY);
      const route = routes[i % routes.length].polyline;
      const start = now - 40 * 60e3 + i * 90e3;
      // outside the park, south of the gate, then along the route
      t.send(MSG.LOCATION, location({ lat: route[0][1] - 0.003, lon: route[0][0], speed: 35, ts: start }));
      await t.next(MSG.PLAT_REPLY);
      const parked = i % 4 === 0 && lot;
      const steps = 24;
      for (let k = 0; k <= steps; k++) {
        const f = (k / steps) * (parked ? 1 : 0.35 + 0.6 * ((i * 37) % 10) / 10);
        const seg = f * (route.length - 1), j = Math.min(route.length - 2, Math.floor(seg)), u = seg - j;
        let lon = route[j][0] + (route[j + 1][0] - route[j][0]) * u, lat = route[j][1] + (route[j + 1][1] - route[j][1]) * u;
        if (parked && k === steps) { lon = (lot.polygon[0][0] + lot.polygon[1][0]) / 2; lat = lot.polygon[0][1] + 0.0003; }
        t.send(MSG.LOCATION, location({ lat, lon, speed: k === steps ? (parked ? 0 : 18 + (i % 5) * 3) : 20 + (k % 5), heading: 90, ts: start + (k + 1) * 60e3 }));
        await t.next(MSG.PLAT_REPLY);
      }
      terminals.push(t);
    } catch (e) { console.error(`vehicle ${v.id}:`, e.message); }
  }
}
await sleep(1500);

// ---- screenshots ----
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const ctx = await browser.newContext({ viewport: { width: 1920, height: 1080 }, locale: 'zh-CN' });
const p = await ctx.newPage();
p.on('pageerror', (e) => console.error('page error:', e.message));
await p.goto(d.base + '/');
await p.fill('input[name=user]', 'admin');
await p.fill('input[name=password]', ADMIN_PASSWORD);
await p.click('#login-form button[type=submit]');
await p.locator('#screen').waitFor();
await p.evaluate(() => localStorage.setItem('pw_muted', '1'));
await sleep(3500);
const shot = async (name) => { await p.screenshot({ path: path.join(OUT, name) }); console.log('wrote', path.join(OUT, name)); };
await shot('overview.png');

await p.setViewportSize({ width: 1600, height: 960 });
await p.goto(d.base + '/#/alarms?state=active,acknowledged,cleared,closed');
await p.locator('.alarm-list .arow[data-alarm-id]').first().waitFor();
await p.locator('.alarm-list .arow[data-alarm-id] .lv-red').first().click();
await p.locator('#alarm-detail').waitFor();
await sleep(800);
await shot('alarms.png');

await p.goto(d.base + '/#/point/E01-GD-001.combustible');
await p.locator('#point-page canvas').first().waitFor();
await sleep(1500);
await shot('point.png');

await p.goto(d.base + '/#/vehicles');
await p.locator('#vehicles-page canvas').first().waitFor();
await sleep(1000);
const first = await p.$$eval('#track-vehicle option', (os) => os.map((o) => o.value).filter(Boolean)[1]);
if (first) await p.selectOption('#track-vehicle', first);
await sleep(2500);
await shot('vehicles.png');

await p.goto(d.base + '/#/env');
await p.locator('#env-page canvas').first().waitFor();
await sleep(1500);
await shot('environment.png');
await p.click('[data-tab=missing]');
await sleep(2000);
await shot('environment-missing.png');

await p.goto(d.base + '/#/enterprise/E04');
await p.locator('#enterprise-page').waitFor();
await sleep(1500);
await shot('enterprise.png');

await p.goto(d.base + '/#/devices');
await p.locator('#devices-page').waitFor();
await sleep(1500);
await shot('devices.png');

// 应急演练: an H2S release in E05's unit with the wind of the park station
await p.goto(d.base + '/#/drill');
await p.locator('#drill-form').waitFor();
await sleep(1000);
await p.fill('#drill-lon', '118.1599');
await p.fill('#drill-lat', '36.1786');
await p.fill('#drill-rate', '0.5');
await p.fill('#drill-duration', '30');
// (the station history fed above is synthetic: a plausible wind and air instead)
for (const [k, v] of [['speed', '2.6'], ['from', '212'], ['temperature', '12'], ['pressure', '101.2']]) await p.fill(`#drill-${k}`, v);
await p.click('#drill-run');
await p.locator('#drill-zones tr[data-level]').first().waitFor({ timeout: 10000 }).catch(async (e) => { console.error('drill:', await p.textContent('#drill-error')); throw e; });
await sleep(1500);
await shot('drill.png');

// 作业票证: a few permits at E06 (a started 二级 hot work beside a combustible detector that reads
// 12 %LEL, a special-grade one, a confined-space entry), then 应急事件: the H2S detectors of its
// wastewater station alarm under the park station's wind
{
  const at = (min) => new Date(Date.now() + min * 60e3).toISOString();
  const file = async (b, start) => {
    const r = await post('/api/v1/permits', { enterprise: 'E06', outdoor: true, planned_start: at(-5), planned_end: at(240),
      leader: '王建国', workers: ['李强', '赵磊'], guardian: '孙敏', ...b });
    if (r.status !== 201) { console.error('permit:', r.status, r.text); return null; }
    if (start) {
      await post(`/api/v1/permits/${r.json.id}/analyses`, { at: at(-10), point: '动火点', gas: 'combustible', value: 0.1, unit: '%vol', analyst: '周分析' });
      await post(`/api/v1/permits/${r.json.id}/start`, {});
    }
    return r.json.id;
  };
  const hot = await file({ type: 'hot_work', grade: 'second', area: 'E06-PU1', location: [118.17525, 36.1785], equipment: 'P-101 出口管线' }, true);
  await file({ type: 'hot_work', grade: 'special', area: 'E06-TF1', location: [118.1772, 36.1772], equipment: 'T-203', video: 'rtsp://10.0.6.20/ch1' }, true);
  await file({ type: 'confined_space', area: 'E06-PU2', location: [118.1742, 36.1768], equipment: 'R-201 反应釜', outdoor: false }, false);
  await write([line('gas_concentration{device="E06-GD-001"}', 12, Date.now())]);
  await sleep(1500);
  if (hot) {
    await p.goto(`${d.base}/#/permits/${hot}`);
    await p.locator('#pt-detail').waitFor();
    await sleep(2000);
    await shot('permits.png');
  }
  const ws = points.find((x) => x.device === 'P-AQ-01' && x.quantity === 'wind_speed'), wd = points.find((x) => x.device === 'P-AQ-01' && x.quantity === 'wind_direction');
  if (ws && wd) {
    await write([line(ws.series, 2.6, Date.now()), line(wd.series, 212, Date.now())]);
    await write(['E06-GD-041', 'E06-GD-042'].map((id) => line(`gas_concentration{device="${id}"}`, 3.5, Date.now())));
    await write([line('gas_concentration{device="E06-GD-040"}', 22.4, Date.now())]);
    let inc = null;
    // an incident once its source is estimated and its zones drawn (E06's, or one the alarms
    // fed above opened)
    for (let i = 0; i < 600 && !inc; i++) {
      const open = await api('/api/v1/incidents?state=open');
      inc = open.find((x) => x.chemical === 'H2S' && x.source && x.zones.some((z) => z.polygon)) || (i > 300 && open.find((x) => x.source && x.zones.some((z) => z.polygon)));
      if (!inc) await sleep(100);
    }
    if (inc) {
      await p.goto(`${d.base}/#/incidents/${inc.id}`);
      await p.locator('#inc-detail').waitFor();
      await sleep(2000);
      await shot('incident.png');
    }
  }
}

await browser.close();
if (KEEP) {
  console.log(`daemon running at ${d.base} (admin / ${ADMIN_PASSWORD}); Ctrl-C stops it`);
  await new Promise(() => {});
}
for (const t of terminals) t.close();
await d.stop();
