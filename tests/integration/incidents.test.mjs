// Incidents end to end over the wire: HJ 212 wind (a01007/a01008 from an env station) and H2S
// detector readings through the real HJ 212 listener → the rules raise a gas alarm → the incident
// engine opens an incident, estimates the source near the truth, draws zones downwind, lists the
// gathering place downwind (and not the school upwind), opens a work order to the enterprise in
// the red zone, publishes SSE `incident` events; the wind turns → the zones redraw; the incident
// survives a restart; enterprise users see only what concerns them; hostile ids and parameters.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Daemon, DATA, freePort, sleep, until } from './harness.mjs';
import { Station, frame, local14, qnOf } from './hj212lib.mjs';
import { MSG, Terminal, location, register2013 } from './jt808lib.mjs';

const MODEL = path.join(DATA, 'incident-park.json');
const model = JSON.parse(readFileSync(MODEL, 'utf8'));
const LON0 = 118.17, LAT0 = 36.18;
const phi = LAT0 * Math.PI / 180;
const MLAT = 111132.954 - 559.822 * Math.cos(2 * phi) + 1.175 * Math.cos(4 * phi);
const MLON = 111412.84 * Math.cos(phi) - 93.5 * Math.cos(3 * phi);
const xy = ([lon, lat]) => [(lon - LON0) * MLON, (lat - LAT0) * MLAT];

// The truth: 0.05 kg/s of H2S from the tank farm E1-TF1 at (0, 0).
const Q = 0.05;
// The steady ground plume as the engine's model has it (docs/emergency.md): class D (σθ ≈ 8°),
// urban roughness z0 = 1 m (σy open country, σz urban), transport wind at 3 m from the log
// profile, ppm at 20 °C and 101.3 kPa.
const U10 = 3;
const U3 = U10 * Math.log((3 + 1) / 1) / Math.log((10 + 1) / 1);
const sy = (x) => 0.08 * x / Math.sqrt(1 + 0.0001 * x);
const sz = (x) => 0.14 * x / Math.sqrt(1 + 0.0003 * x);
const ppm = (kg) => kg * 1e9 * 8.314462618 * 293.15 / (34.08 * 101300);
// reading of a detector at (x, y) for a wind blowing from `from` degrees
function reading([x, y], from) {
  const to = (from + 180) * Math.PI / 180;
  const ax = Math.sin(to), ay = Math.cos(to);
  const d = x * ax + y * ay, c = -x * ay + y * ax;
  if (d <= 1) return 0.1;
  const v = ppm(Q / (Math.PI * U3 * sy(d) * sz(d))) * Math.exp(-c * c / (2 * sy(d) ** 2));
  return Math.min(100, 0.1 + v);
}

const detectors = model.devices.filter((v) => v.kind === 'gas_detector');
const wind = model.devices.find((v) => v.id === 'W1');

let d, tok = {}, hookServer;
const stations = new Map();
const hooks = []; // webhook bodies received

// the archive's leaves (as tests/integration/archive_sources.test.mjs reads them)
async function archiveSize() {
  const r = await d.get('/archive/checkpoint', { token: tok.admin });
  assert.equal(r.status, 200, r.text);
  return Number(r.text.split('\n')[1]);
}
async function operatorLeaves(min) {
  const n = await until(async () => { const v = await archiveSize(); return v >= min && v; },
    { what: `a checkpoint of at least ${min} leaves`, timeout: 15000 });
  const out = [];
  for (let b = 0; b * 256 < n; b++) {
    const w = Math.min(256, n - b * 256);
    const p = `/archive/tile/entries/${String(b).padStart(3, '0')}${w < 256 ? `.p/${w}` : ''}`;
    const res = await fetch(d.base + p, { headers: { Authorization: `Bearer ${tok.admin}` } });
    assert.equal(res.status, 200, p);
    const buf = Buffer.from(await res.arrayBuffer());
    for (let o = 0; o < buf.length;) {
      const len = buf.readUInt16BE(o);
      const leaf = buf.subarray(o + 2, o + 2 + len);
      const sl = leaf[10];
      if (leaf[1] === 9) {
        const txt = leaf.subarray(11 + sl).toString('utf8');
        const nl = txt.indexOf('\n');
        out.push({ source: leaf.subarray(11, 11 + sl).toString(), ...JSON.parse(nl < 0 ? txt : txt.slice(0, nl)) });
      }
      o += 2 + len;
    }
  }
  return out;
}

async function station(mn) {
  if (!stations.has(mn)) {
    const st = new Station(d.ports.hj212);
    await st.connect();
    stations.set(mn, st);
  }
  return stations.get(mn);
}

// one real-time frame (2011), answered 9014 once durable
async function send(mn, ts, cp) {
  const st = await station(mn);
  const qn = qnOf(ts);
  await st.write(frame(`QN=${qn};ST=22;CN=2011;PW=123456;MN=${mn};Flag=5;CP=&&DataTime=${local14(ts)};${cp}&&`));
  await st.next(new RegExp(`QN=${qn};ST=91;CN=9014`), 10000);
}

// n wind samples ending now, `every` ms apart, direction jittered ±8° around `from`
async function sendWind(from, n = 8, every = 5000) {
  const now = Date.now();
  for (let i = n - 1; i >= 0; i--) {
    const dir = (from + (i % 2 ? 8 : -8) + 360) % 360;
    await send(wind.hj212.mn, now - i * every,
      `a01007-Rtd=${U10},a01007-Flag=N;a01008-Rtd=${dir},a01008-Flag=N;a01001-Rtd=20,a01001-Flag=N;a01006-Rtd=101.3,a01006-Flag=N`);
  }
}

async function sendReadings(from) {
  const now = Date.now();
  for (const g of detectors)
    await send(g.hj212.mn, now, `a21028-Rtd=${reading(xy(g.location), from).toFixed(3)},a21028-Flag=N`);
}

// Collects the `incident` events of /api/v1/events for one user.
async function events(who) {
  const ctrl = new AbortController();
  const res = await fetch(`${d.base}/api/v1/events`, { headers: { Authorization: `Bearer ${tok[who]}` }, signal: ctrl.signal });
  assert.equal(res.status, 200);
  const out = [];
  (async () => {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev === 'incident') out.push(JSON.parse(data));
        }
      }
    } catch { /* aborted */ }
  })();
  return { out, close: () => ctrl.abort() };
}

const outer = (inc) => inc.zones[inc.zones.length - 1];
// point in polygon (even-odd), local metres
function inside([px, py], ring) {
  let c = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i], [xj, yj] = ring[j];
    if ((yi > py) !== (yj > py) && px < (xj - xi) * (py - yi) / (yj - yi) + xi) c = !c;
  }
  return c;
}
const ring = (z) => z.polygon.coordinates[0].map(xy);

before(async () => {
  const hookPort = await freePort();
  hookServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { hooks.push({ path: req.url, type: req.headers['content-type'], body: JSON.parse(body) }); res.end('ok'); });
  });
  await new Promise((r) => hookServer.listen(hookPort, '127.0.0.1', r));
  d = await new Daemon({
    model: MODEL,
    set: ['incidents.poll=200ms', 'incidents.min_interval=1s', 'incidents.period=20s', 'incidents.close_after=6s',
      'archive.checkpoint_interval=1s',
      `incidents.webhook_urls=http://127.0.0.1:${hookPort}/hook`],
  }).start();
  tok.admin = await d.login();
  for (const u of [
    { name: 'ent2', password: 'ent2-password', role: 'enterprise', enterprise: 'E2' },
    { name: 'ent3', password: 'ent3-password', role: 'enterprise', enterprise: 'E3' },
    { name: 'viewer', password: 'viewer-password', role: 'viewer' },
  ]) assert.equal((await d.post('/api/v1/users', u, { token: tok.admin })).status, 201);
  tok.ent2 = await d.login('ent2', 'ent2-password');
  tok.ent3 = await d.login('ent3', 'ent3-password');
  tok.viewer = await d.login('viewer', 'viewer-password');
});

after(async () => {
  for (const st of stations.values()) st.close();
  await d?.stop();
  hookServer?.close();
});

let inc; // the incident as the admin last saw it

test('gathering places are a model kind: listed, exported as JSON and CSV', async () => {
  const r = await d.get('/api/v1/gathering_places', { token: tok.ent3 });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.map((g) => g.id), ['GP-CANTEEN', 'GP-SCHOOL']);
  assert.equal(r.json[1].class, 1);
  const csv = await d.get('/api/v1/gathering_places?format=csv', { token: tok.admin });
  assert.match(csv.text, /^id,name,kind,class,lon,lat,people,phone\r\nGP-CANTEEN,下风向食堂,canteen,3,/);
  assert.equal((await d.get('/api/v1/gathering_places?format=xml', { token: tok.admin })).status, 400);
  const ex = await d.get('/api/v1/model/export', { token: tok.admin });
  assert.equal(ex.json.gathering_places.length, 2);
  // the CSV ledger through the import route: a bad row names its line and column, a good one lands
  const hdr = 'id,name,kind,class,lon,lat,people,phone\r\n';
  const post = (body) => d.post('/api/v1/model/import?csv=gathering_places', body,
    { token: tok.admin, headers: { 'Content-Type': 'text/csv' } });
  let imp = await post(hdr + 'GP-FAR,远处村,mall,3,118.25,36.25,300,0533-6\r\n');
  assert.equal(imp.status, 400);
  assert.match(imp.json.error, /:2: column "kind"/);
  imp = await post(hdr + 'GP-FAR,远处村,village,3,118.25,36.25,300,0533-6\r\n');
  assert.equal(imp.status, 200, imp.text);
  assert.equal((await d.get('/api/v1/gathering_places', { token: tok.viewer })).json.length, 3);
});

test('an H2S leak over HJ 212 opens an incident: source near the truth, zones downwind, who to call', async () => {
  const sse = { admin: await events('admin'), ent2: await events('ent2'), ent3: await events('ent3') };
  await sleep(200);
  assert.equal((await d.get('/api/v1/incidents', { token: tok.admin })).json.length, 0);
  await sendWind(270);
  await sendReadings(270);
  inc = await until(async () => {
    const l = await d.get('/api/v1/incidents?state=open', { token: tok.admin });
    const i = l.json?.length === 1 && l.json[0];
    return i && i.source && i.zones.length === 3 && i.detectors.every((x) => x.role !== 'stale') && i;
  }, { timeout: 20000, what: 'an estimated incident' });
  assert.match(inc.id, /^INC-\d{6}$/);
  assert.equal(inc.chemical, 'H2S');
  assert.equal(inc.state, 'open');
  // the wind as measured
  assert.equal(inc.wind.station, 'W1');
  assert.ok(Math.abs(inc.wind.from_deg - 270) <= 10, JSON.stringify(inc.wind));
  assert.equal(inc.wind.stability, 'D');
  // the source: near (0, 0), the rate within a factor of 3, the envelope a polygon
  const [sx, syy] = xy([inc.source.lon, inc.source.lat]);
  assert.ok(Math.hypot(sx, syy) < 60, `source ${sx.toFixed(0)},${syy.toFixed(0)} m from the truth`);
  assert.ok(inc.source.rate_kg_s > Q / 3 && inc.source.rate_kg_s < Q * 3, `rate ${inc.source.rate_kg_s}`);
  assert.ok(inc.source.rate_range[0] <= inc.source.rate_kg_s && inc.source.rate_range[1] >= inc.source.rate_kg_s);
  assert.equal(inc.source.envelope.type, 'Polygon');
  // the model's release points within 1 km of the first alarm (GD01) were candidates: E1-I1 (at
  // its area's centre), E1-PU1, E2-PU1 — not E3-WH1, 1,006 m away
  assert.equal(inc.source.release_points, 3);
  // the source area (90 % of the weight) holds the truth
  assert.ok(inside([0, 0], inc.source.envelope.coordinates[0].map(xy)), JSON.stringify(inc.source));
  // detectors: roles from the readings
  const role = (p) => inc.detectors.find((x) => x.point === p).role;
  assert.equal(role('GD07.h2s'), 'silent'); // upwind
  assert.ok(['alarming', 'saturated'].includes(role('GD01.h2s')));
  assert.equal(inc.detectors.length, detectors.length);
  // zones point downwind (east)
  assert.deepEqual(inc.zones.map((z) => z.level), ['AEGL-3', 'AEGL-2', 'AEGL-1']);
  const pts = ring(outer(inc));
  const cx = pts.reduce((a, p) => a + p[0], 0) / pts.length;
  assert.ok(cx > 150, `outer zone centroid x=${cx}`);
  assert.ok(Math.min(...pts.map((p) => p[0])) > -60, 'nothing far upwind');
  assert.ok(outer(inc).max_distance_m > 500);
  // impacts: the canteen downwind, not the school upwind; E2 (its workshop on the centreline)
  const ids = inc.impacts.map((i) => `${i.kind}:${i.id}`);

  assert.ok(ids.includes('gathering:GP-CANTEEN'), ids.join(' '));
  assert.ok(!ids.includes('gathering:GP-SCHOOL'));
  assert.ok(!ids.includes('enterprise:E3'));
  const canteen = inc.impacts.find((i) => i.id === 'GP-CANTEEN');
  assert.equal(canteen.phone, '0533-4000004');
  assert.equal(canteen.class, 3);
  assert.ok(canteen.arrival_s === null || canteen.arrival_s >= 0);
  const e2 = inc.impacts.find((i) => i.kind === 'enterprise' && i.id === 'E2');
  assert.ok(e2, ids.join(' '));
  assert.equal(e2.phone, '0533-2000002');
  // who to call first: the most severe level first
  const rank = (lv) => inc.zones.findIndex((z) => z.level === lv);
  for (let i = 1; i < inc.impacts.length; i++)
    assert.ok(rank(inc.impacts[i - 1].level) <= rank(inc.impacts[i].level), 'ordered by level');
  // the red zone opens a P1 work order to each enterprise in it, once
  const reds = inc.impacts.filter((i) => i.kind === 'enterprise' && i.level === 'AEGL-3').map((i) => i.id);
  assert.ok(reds.includes('E2'), `red enterprises: ${reds}`);
  const wo = await until(async () => {
    const r = await d.get('/api/v1/workorders?enterprise=E2', { token: tok.admin });
    return r.json?.filter((o) => o.source === 'incident').length && r.json;
  }, { what: 'a work order for E2' });
  assert.equal(wo.filter((o) => o.source === 'incident').length, 1);
  assert.equal(wo.find((o) => o.source === 'incident').priority, 'P1');
  // timeline
  assert.ok(inc.timeline.length >= 2 && /开启事件/.test(inc.timeline[0].text));
  // SSE: the park and E2 (impacted) got `incident` events, E3 none
  await until(async () => sse.admin.out.some((e) => e.id === inc.id && e.source) && sse.ent2.out.length > 0,
    { what: 'incident events' });
  assert.equal(sse.admin.out[0].event, 'opened');
  assert.ok(sse.admin.out.every((e) => !('impacts' in e) || typeof e.impacts === 'number'));
  assert.equal(sse.ent3.out.length, 0);
  // an enterprise's summary counts only the impacts it may see (its own and the public places),
  // the park's all of them: the same update seen by both
  const seen = await until(async () => {
    const mine = (await d.get(`/api/v1/incidents/${inc.id}`, { token: tok.ent2 })).json;
    const park = (await d.get(`/api/v1/incidents/${inc.id}`, { token: tok.admin })).json;
    const em = sse.ent2.out.find((e) => e.updated_at === mine.updated_at);
    const ep = sse.admin.out.find((e) => e.updated_at === mine.updated_at);
    return park.updated_at === mine.updated_at && em && ep && { mine, park, em, ep };
  }, { what: 'the same update as E2 and the park see it' });
  assert.ok(seen.park.impacts.length > seen.mine.impacts.length, 'others are impacted too');
  assert.equal(seen.em.impacts, seen.mine.impacts.length);
  assert.equal(seen.ep.impacts, seen.park.impacts.length);
  assert.equal(sse.ent2.out.filter((e) => e.updated_at === seen.mine.updated_at).length, 1);
  assert.equal(sse.admin.out.filter((e) => e.updated_at === seen.mine.updated_at).length, 1);
  for (const s of Object.values(sse)) s.close();
  // the webhook got the whole incident JSON
  const hook = await until(async () => hooks.find((h) => h.body.id === inc.id && h.body.source), { what: 'a webhook post' });
  assert.equal(hook.path, '/hook');
  assert.equal(hook.type, 'application/json');
  assert.ok(Array.isArray(hook.body.impacts) && hook.body.zones[0].polygon);
  // each update is archived with its inputs and its result
  const ups = await until(async () => {
    const ls = (await operatorLeaves(1)).filter((l) => l.action === 'incident.update' && l.incident === inc.id && l.result);
    return ls.length && ls;
  }, { what: 'an archived incident update' });
  const last = ups[ups.length - 1];
  assert.equal(last.source, 'incident');
  assert.equal(last.inputs.detectors.length, detectors.length);
  assert.equal(last.inputs.wind.station, 'W1');
  assert.ok(last.inputs.winds.length >= 1);
  assert.ok(last.result.source.length === 2 && last.result.rate_range.length === 2);
});

// lon/lat of local metres (the inverse of xy)
const ll = (x, y) => [LON0 + x / MLON, LAT0 + y / MLAT];

test('a JT/T 808 vehicle driving into the cloud is an impact, with the phone of its enterprise', async () => {
  const t = await new Terminal(d.ports.jt808, { phone: '013900000001' }).connect();
  t.send(MSG.REGISTER, register2013({ plate: [0xc2, 0xb3, ...Buffer.from('C12345')] }));
  const r = await t.next(MSG.REGISTER_REPLY);
  assert.equal(r.body[2], 0);
  t.send(MSG.AUTH, [...r.body.subarray(3)]);
  assert.equal((await t.next(MSG.PLAT_REPLY)).body[4], 0, 'authenticated');
  // 500 m east of the source, 300 m south of the plume, driving north at 30 km/h: its road
  // ahead for five minutes (2.5 km) crosses the plume
  const [lon, lat] = ll(500, -300);
  t.send(MSG.LOCATION, location({ lat, lon, speed: 30, heading: 0, ts: Date.now() }));
  assert.equal((await t.next(MSG.PLAT_REPLY)).body[4], 0);
  const v = await until(async () => {
    const i = (await d.get(`/api/v1/incidents/${inc.id}`, { token: tok.admin })).json;
    return i.impacts.find((m) => m.kind === 'vehicle');
  }, { what: 'the vehicle among the impacts', timeout: 30000 });
  assert.equal(v.id, 'V1');
  assert.equal(v.name, '鲁C12345');
  assert.equal(v.enterprise, 'E2');
  assert.equal(v.phone, '0533-2000002');
  t.close();
});

test('enterprise users see the incidents that concern them, and only their part', async () => {
  const l2 = await d.get('/api/v1/incidents', { token: tok.ent2 });
  assert.equal(l2.status, 200);
  assert.equal(l2.json.length, 1);
  const v = (await d.get(`/api/v1/incidents/${inc.id}`, { token: tok.ent2 })).json;
  assert.ok(v.source && v.zones.length === 3);
  assert.deepEqual(v.detectors.map((x) => x.point), ['GD10.h2s']);
  assert.ok(v.impacts.length > 0);
  for (const i of v.impacts)
    assert.ok(i.enterprise === 'E2' || i.kind === 'gathering' || i.kind === 'geofence', JSON.stringify(i));
  // nor does the timeline name the others' detectors or orders (hostile review)
  const all = (await d.get(`/api/v1/incidents/${inc.id}`, { token: tok.admin })).json;
  const foreign = [...all.detectors.filter((x) => x.enterprise !== 'E2').map((x) => x.point),
    ...all.impacts.filter((i) => i.enterprise !== 'E2' && i.kind !== 'gathering' && i.kind !== 'geofence').map((i) => i.id)];
  assert.ok(foreign.length > 0 && all.timeline.some((t) => foreign.some((f) => t.text.includes(f))), 'the park\'s timeline names them');
  const word = (t, f) => new RegExp(`(^|[^A-Za-z0-9._:-])${f.replace(/[.]/g, '\\.')}($|[^A-Za-z0-9._:-])`).test(t);
  for (const t of v.timeline) assert.ok(!foreign.some((f) => word(t.text, f)), `E2 sees ${t.text}`);
  assert.ok(v.timeline.length > 0 && v.timeline.length < all.timeline.length, JSON.stringify(v.timeline));
  assert.deepEqual((await d.get('/api/v1/incidents', { token: tok.ent3 })).json, []);
  assert.equal((await d.get(`/api/v1/incidents/${inc.id}`, { token: tok.ent3 })).status, 404);
  assert.equal((await d.post(`/api/v1/incidents/${inc.id}/close`, {}, { token: tok.ent2 })).status, 403);
  assert.equal((await d.post(`/api/v1/incidents/${inc.id}/close`, {}, { token: tok.viewer })).status, 403);
});

test('the wind turns to the north: the zones redraw towards the south', async () => {
  const before = ring(outer(inc));
  assert.ok(Math.min(...before.map((p) => p[1])) > -200, 'nothing far south before');
  const t0 = Date.parse(inc.updated_at);
  await sendWind(0, 6, 1000);
  await sendReadings(0);
  const now = await until(async () => {
    const r = (await d.get(`/api/v1/incidents/${inc.id}`, { token: tok.admin })).json;
    if (Date.parse(r.updated_at) <= t0 || !r.wind || Math.abs(((r.wind.from_deg + 180) % 360) - 180) > 15) return false;
    if (!outer(r)?.polygon) return false;
    return Math.min(...ring(outer(r)).map((p) => p[1])) < -250 && r;
  }, { timeout: 20000, what: 'zones south' });
  assert.ok(now.wind.from_deg < 15 || now.wind.from_deg > 345);
  inc = now;
});

test('an open incident survives a restart', async () => {
  await d.restart();
  for (const st of stations.values()) st.close();
  stations.clear();
  const r = await d.get(`/api/v1/incidents/${inc.id}`, { token: tok.admin });
  assert.equal(r.status, 200);
  assert.equal(r.json.state, 'open');
  assert.ok(r.json.source);
  assert.equal(r.json.detectors.length, detectors.length);
});

test('hostile ids and parameters', async () => {
  for (const id of ['INC-abc', 'INC-', '7', 'INC-0000000000000000001', 'INC-999999', '..', 'INC-1x', 'INC--1', '%E4%BA%8B'])
    assert.equal((await d.get(`/api/v1/incidents/${id}`, { token: tok.admin })).status, 404, id);
  for (const q of ['state=bogus', 'limit=0', 'limit=501', 'limit=x', 'limit=1e3'])
    assert.equal((await d.get(`/api/v1/incidents?${q}`, { token: tok.admin })).status, 400, q);
  assert.equal((await d.get('/api/v1/incidents')).status, 401);
  assert.equal((await d.post(`/api/v1/incidents/${inc.id}/close`, '[1]', { token: tok.admin, headers: { 'Content-Type': 'application/json' } })).status, 400);
  assert.equal((await d.post(`/api/v1/incidents/${inc.id}/close`, { reason: 5 }, { token: tok.admin })).status, 400);
  assert.equal((await d.post(`/api/v1/incidents/${inc.id}/close`, { reason: 'x'.repeat(501) }, { token: tok.admin })).status, 400);
  assert.equal((await d.post('/api/v1/incidents/INC-999999/close', {}, { token: tok.admin })).status, 404);
});

test('closing by an operator: closed, recorded, and a second close conflicts', async () => {
  const r = await d.post(`/api/v1/incidents/${inc.id}/close`, { reason: '泄漏已堵住' }, { token: tok.admin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, 'closed');
  assert.equal(r.json.close_reason, '泄漏已堵住');
  assert.equal(r.json.closed_by, 'admin');
  assert.ok(r.json.closed_at);
  assert.match(r.json.timeline[r.json.timeline.length - 1].text, /事件关闭/);
  assert.equal((await d.post(`/api/v1/incidents/${inc.id}/close`, {}, { token: tok.admin })).status, 409);
  assert.equal((await d.get('/api/v1/incidents?state=open', { token: tok.admin })).json.length, 0);
  assert.equal((await d.get('/api/v1/incidents?state=closed', { token: tok.admin })).json.length, 1);
  const closeLeaf = await until(async () => (await operatorLeaves(1)).find((l) => l.action === 'incident.close'),
    { what: 'the close archived' });
  assert.equal(closeLeaf.user, 'admin');
  assert.equal(closeLeaf.detail.incident, inc.id);
  assert.equal(closeLeaf.detail.reason, '泄漏已堵住');
  await until(async () => hooks.some((h) => h.body.id === inc.id && h.body.state === 'closed'), { what: 'the closed incident posted' });
  // new readings do not reopen it, nor open another (its alarms are still the same open alarms)
  await sendReadings(0);
  await sleep(1500);
  assert.equal((await d.get(`/api/v1/incidents/${inc.id}`, { token: tok.admin })).json.state, 'closed');
  assert.equal((await d.get('/api/v1/incidents', { token: tok.admin })).json.length, 1);
});

// HJ 212 DataTime has whole seconds: a sample in the same second as the last is a duplicate
async function sendZeros() {
  await sleep(1100);
  const now = Date.now();
  for (const g of detectors) await send(g.hj212.mn, now, 'a21028-Rtd=0.05,a21028-Flag=N');
}

test('a new release opens a new incident, which closes by itself once every detector is below', async () => {
  await sendZeros();
  await until(async () => {
    const r = await d.get('/api/v1/alarms?state=active', { token: tok.admin });
    const l = r.json?.alarms || r.json;
    return Array.isArray(l) && !l.some((a) => a.rule === 'gas') && l;
  }, { what: 'the gas alarms cleared' });
  await sleep(1100);
  await sendReadings(0);
  const second = await until(async () => {
    const l = (await d.get('/api/v1/incidents?state=open', { token: tok.admin })).json;
    return l?.length === 1 && l[0].id !== inc.id && l[0];
  }, { what: 'a second incident' });
  await sendZeros();
  const closed = await until(async () => {
    const r = (await d.get(`/api/v1/incidents/${second.id}`, { token: tok.admin })).json;
    return r.state === 'closed' && r;
  }, { what: 'the second incident closed by itself', timeout: 20000 });
  assert.equal(closed.closed_by, 'system');
  assert.match(closed.close_reason, /below their alarm level for 6 s/);
});
