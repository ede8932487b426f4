// JT/T 808 over a real TCP socket: registration (2013 and 2019) with a persisted auth code,
// authentication required first, heartbeats, durable 0x8001 replies checked byte for byte,
// positions along a route that leaves its corridor and stops outside the parking lot (entry/exit
// log and vehicle alarms), blind-area back-fill, garbage and bad checksums, position query,
// time query, deregistration.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Daemon, sleep, cli } from './harness.mjs';
import {
  MSG, Terminal, frame, location, register2013, register2019, auth2019, reply8001, batch,
} from './jt808lib.mjs';

const PHONE = '013800000001'; // V1 in small-park.json (hazmat class 3, enterprise E1)
const NORM = '13800000001';
const PLATE_GBK = [0xc2, 0xb3, ...Buffer.from('C12345')]; // 鲁C12345
let d, admin, code;

before(async () => {
  d = await new Daemon({ set: ['vehicles.max_stop_outside_lot=2s', 'vehicles.speeding_for=1s', 'jt808.reassembly_budget=8KiB'] }).start();
  admin = await d.login();
});
after(async () => { await d.stop(); });

const exportLines = (text) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const metric = async (re) => { const m = await d.get('/metrics'); const x = re.exec(m.text); return x ? Number(x[1]) : 0; };

// The platform's 0x8001 to `t`, byte for byte: our serial `ps`, answering serial rs of msg id.
function expect8001(t, ps, rs, id, result) {
  return frame({ id: MSG.PLAT_REPLY, phone: t.phone, serial: ps, body: reply8001(rs, id, result), ed2019: t.ed2019 });
}

async function until(fn, what, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await sleep(100);
  }
}

let t1; // V1's terminal, kept across tests
let ps = 0; // the platform's next serial on t1's connection

async function send(t, id, body, result = 0) {
  const rs = t.send(id, body);
  const r = await t.next(MSG.PLAT_REPLY);
  assert.deepEqual(r.wire, expect8001(t, ps++, rs, id, result), `0x8001 to 0x${id.toString(16)}`);
  return r;
}

test('2013: a message before authentication gets result 1; registration issues an auth code', async () => {
  t1 = await new Terminal(d.ports.jt808, { phone: PHONE }).connect();
  await send(t1, MSG.HEARTBEAT, [], 1);
  const rs = t1.send(MSG.REGISTER, register2013({ plate: PLATE_GBK }));
  const r = await t1.next(MSG.REGISTER_REPLY);
  assert.equal(r.body.readUInt16BE(0), rs);
  assert.equal(r.body[2], 0);
  code = r.body.subarray(3).toString('latin1');
  assert.match(code, /^[0-9a-f]{16}$/);
  assert.deepEqual(r.wire, frame({ id: MSG.REGISTER_REPLY, phone: PHONE, serial: ps++, body: [rs >> 8, rs & 255, 0, ...Buffer.from(code)] }));
  // a location before authentication is refused and not stored
  await send(t1, MSG.LOCATION, location({ lat: 36.18, lon: 118.17, ts: Date.now() }), 1);
  // a wrong code fails, the issued one works
  await send(t1, MSG.AUTH, [...Buffer.from('0000000000000000')], 1);
  await send(t1, MSG.AUTH, [...Buffer.from(code)], 0);
  await send(t1, MSG.HEARTBEAT, [], 0);
  assert.ok(await metric(/parkwatch_jt808_auth_failures_total (\d+)/) >= 1);
  assert.ok(await metric(/parkwatch_jt808_unauthenticated_total (\d+)/) >= 2);
  // registering again: terminal already registered (result 3), and no code
  const rs2 = t1.send(MSG.REGISTER, register2013({ plate: PLATE_GBK }));
  const r2 = await t1.next(MSG.REGISTER_REPLY);
  assert.deepEqual(r2.wire, frame({ id: MSG.REGISTER_REPLY, phone: PHONE, serial: ps++, body: [rs2 >> 8, rs2 & 255, 3] }));
  const terms = (await d.get('/api/v1/jt808/terminals', { token: admin })).json;
  const me = terms.terminals.find((x) => x.phone === NORM);
  assert.equal(me.vehicle, 'V1');
  assert.equal(me.authenticated, true);
  assert.equal(me.quarantined, false);
});

test('positions along a route: entry logged, leaving the corridor and stopping outside the lot raise alarms', async () => {
  const T0 = Math.floor(Date.now() / 1000) * 1000 - 30000; // device times have whole seconds
  const pos = async (i, lat, lon, speed, extra = {}) => send(t1, MSG.LOCATION, location({ lat, lon, speed, heading: 0, ts: T0 + i * 1000, mileage: 1000 + i, ...extra }));
  await pos(0, 36.166, 118.170, 30); // outside the park, on the approach road
  await pos(1, 36.171, 118.170, 15); // through the south gate
  await pos(2, 36.176, 118.170, 15); // on the route
  // stored durably before the reply: vehicle_lat is in the store
  const e = exportLines((await d.get(`/api/v1/export?match[]=vehicle_lat{phone="${NORM}"}&start=${T0 / 1000 - 1}`, { token: admin })).text);
  assert.deepEqual(e[0].metric, { __name__: 'vehicle_lat', phone: NORM });
  assert.deepEqual(e[0].values, [36.166, 36.171, 36.176]);
  assert.deepEqual(e[0].timestamps, [T0, T0 + 1000, T0 + 2000]);
  const mil = exportLines((await d.get(`/api/v1/export?match[]=vehicle_mileage_km{phone="${NORM}"}&start=${T0 / 1000 - 1}`, { token: admin })).text);
  assert.deepEqual(mil[0].values, [1000, 1001, 1002]);

  const entries = (await d.get('/api/v1/vehicles/entries', { token: admin })).json.entries;
  assert.equal(entries.length, 1);
  assert.equal(entries[0].vehicle, 'V1');
  assert.equal(entries[0].plate, '鲁C12345');
  assert.equal(entries[0].direction, 'in');
  assert.equal(entries[0].gate, 'G-GATE-S');
  assert.equal(Date.parse(entries[0].ts), T0 + 1000);

  let live = (await d.get('/api/v1/vehicles/live', { token: admin })).json.find((v) => v.id === 'V1');
  assert.equal(live.in_park, true);
  assert.equal(live.online, true);
  assert.deepEqual(live.geofences.sort(), ['G-PARK', 'G-ROUTE']);
  assert.deepEqual(live.alarms, []);

  await pos(3, 36.176, 118.175, 10); // ~450 m east of the corridor
  await pos(4, 36.176, 118.175, 0); // stops there
  await pos(5, 36.176, 118.175, 0);
  await pos(7, 36.176, 118.175, 0); // 3 s stopped > 2 s
  const alarms = (await d.get('/api/v1/vehicles/alarms', { token: admin })).json.filter((a) => a.vehicle === 'V1');
  assert.deepEqual(alarms.map((a) => a.kind).sort(), ['off_route', 'stop_outside_lot']);
  assert.equal(alarms[0].plate, '鲁C12345');
  live = (await d.get('/api/v1/vehicles/live', { token: admin })).json.find((v) => v.id === 'V1');
  assert.equal(live.in_parking_lot, false);
  assert.equal(live.speed_kmh, 0);
  // an enterprise-scoped list would hide it from E2 — checked through the scope filter below

  // into the lot: both alarms clear
  await pos(8, 36.183, 118.183, 5);
  live = (await d.get('/api/v1/vehicles/live', { token: admin })).json.find((v) => v.id === 'V1');
  assert.equal(live.in_parking_lot, true);
  assert.deepEqual(live.alarms, []);

  // speeding along the corridor (limit 20 km/h) for more than 1 s
  await pos(9, 36.183, 118.185, 45);
  await pos(11, 36.183, 118.187, 45);
  assert.ok((await d.get('/api/v1/vehicles/alarms', { token: admin })).json.some((a) => a.vehicle === 'V1' && a.kind === 'speeding'));
  // out through the east side: exit row
  await pos(12, 36.183, 118.1895, 15);
  await pos(13, 36.183, 118.1915, 15);
  const ent = (await d.get('/api/v1/vehicles/entries?limit=1', { token: admin })).json;
  assert.equal(ent.entries[0].direction, 'out');
  assert.equal(ent.entries[0].gate, 'G-GATE-E');
  assert.equal(typeof ent.next, 'number');
  const older = (await d.get(`/api/v1/vehicles/entries?limit=5&before=${ent.next}`, { token: admin })).json;
  assert.equal(older.entries[0].direction, 'in');
  assert.equal(older.next, null);
  assert.ok(await metric(/parkwatch_vehicle_alarms_raised_total\{kind="off_route"\} (\d+)/) >= 1);

  // the track for replay
  const tr = (await d.get(`/api/v1/vehicles/V1/track?start=${(T0 - 1000) / 1000}&end=${(T0 + 20000) / 1000}`, { token: admin })).json;
  assert.equal(tr.phone, NORM);
  assert.equal(tr.points.length, 12); // i = 0..5, 7..9, 11..13
  assert.deepEqual(tr.points[0], [T0, 36.166, 118.17, 30, 0]);
  const small = (await d.get(`/api/v1/vehicles/V1/track?start=${(T0 - 1000) / 1000}&end=${(T0 + 20000) / 1000}&max=4`, { token: admin })).json;
  assert.ok(small.points.length <= 5 && small.points.length >= 4);
  assert.equal(small.points.at(-1)[0], T0 + 13000);
  assert.equal((await d.get('/api/v1/vehicles/V1/track?start=abc', { token: admin })).status, 400);
  assert.equal((await d.get('/api/v1/vehicles/NOPE/track', { token: admin })).status, 404);
});

test('terminal alarm bits become vehicle alarms and clear', async () => {
  const ts = Date.now();
  await send(t1, MSG.LOCATION, location({ lat: 36.183, lon: 118.1915, speed: 0, ts, alarm: 0x1 }));
  let a = (await d.get('/api/v1/vehicles/alarms', { token: admin })).json;
  assert.ok(a.some((x) => x.vehicle === 'V1' && x.kind === 'terminal_emergency' && x.bit === 0));
  await send(t1, MSG.LOCATION, location({ lat: 36.183, lon: 118.1915, speed: 0, ts: ts + 1000 }));
  a = (await d.get('/api/v1/vehicles/alarms', { token: admin })).json;
  assert.ok(!a.some((x) => x.kind === 'terminal_emergency'));
});

test('blind-area back-fill (0x0704 type 1) is stored in the past without moving the live state', async () => {
  const past = Math.floor(Date.now() / 1000) * 1000 - 3600e3;
  const body = batch(1, [
    location({ lat: 36.1701, lon: 118.1701, speed: 12, ts: past }),
    location({ lat: 36.1702, lon: 118.1702, speed: 13, ts: past + 10000 }),
  ]);
  await send(t1, MSG.BATCH, body, 0);
  const e = exportLines((await d.get(`/api/v1/export?match[]=vehicle_speed_kmh{phone="${NORM}"}&start=${past / 1000 - 1}&end=${past / 1000 + 11}`, { token: admin })).text);
  assert.deepEqual(e[0].values, [12, 13]);
  assert.deepEqual(e[0].timestamps, [past, past + 10000]);
  const live = (await d.get('/api/v1/vehicles/live', { token: admin })).json.find((v) => v.id === 'V1');
  assert.equal(live.lon, 118.1915);
});

test('a frame of 600+ bytes split into small writes grows the input buffer and is answered', async () => {
  const base = Math.floor(Date.now() / 1000) * 1000 - 7200e3;
  const body = batch(1, Array.from({ length: 20 }, (_, i) => location({ lat: 36.17 + i * 1e-4, lon: 118.17, speed: i, ts: base + i * 1000 })));
  assert.ok(body.length > 600);
  const rs = t1.serial++;
  const f = frame({ id: MSG.BATCH, phone: PHONE, serial: rs, body });
  for (let i = 0; i < f.length; i += 50) { t1.write(f.subarray(i, i + 50)); await sleep(2); }
  const r = await t1.next(MSG.PLAT_REPLY);
  assert.deepEqual(r.wire, expect8001(t1, ps++, rs, MSG.BATCH, 0));
  const e = exportLines((await d.get(`/api/v1/export?match[]=vehicle_speed_kmh{phone="${NORM}"}&start=${base / 1000 - 1}&end=${base / 1000 + 20}`, { token: admin })).text);
  assert.equal(e[0].values.length, 20);
});

test('garbage and a bad checksum are dropped and counted; the stream resynchronises on 0x7E', async () => {
  const before = await metric(/parkwatch_jt808_frames_dropped_total\{reason="checksum"\} (\d+)/);
  const g0 = await metric(/parkwatch_jt808_frames_dropped_total\{reason="garbage"\} (\d+)/);
  const bad = frame({ id: MSG.HEARTBEAT, phone: PHONE, serial: 999, body: [] });
  bad[bad.length - 2] ^= 0x55; // corrupt the checksum
  const rs = t1.serial++;
  const good = frame({ id: MSG.HEARTBEAT, phone: PHONE, serial: rs, body: [] });
  const all = Buffer.concat([Buffer.from('garbage\r\n'), bad, good]);
  for (let i = 0; i < all.length; i += 3) { t1.write(all.subarray(i, i + 3)); await sleep(1); }
  const r = await t1.next(MSG.PLAT_REPLY);
  assert.deepEqual(r.wire, expect8001(t1, ps++, rs, MSG.HEARTBEAT, 0));
  await sleep(200);
  assert.equal(t1.frames.length, 0, 'only the good frame is answered');
  assert.equal(await metric(/parkwatch_jt808_frames_dropped_total\{reason="checksum"\} (\d+)/), before + 1);
  assert.ok(await metric(/parkwatch_jt808_frames_dropped_total\{reason="garbage"\} (\d+)/) > g0);
});

test('position query (0x8201) on demand; the 0x0201 answer updates the live state', async () => {
  const r = await d.post('/api/v1/vehicles/V1/locate', undefined, { token: admin });
  assert.equal(r.status, 202);
  const q = await t1.next(MSG.LOCATION_QUERY);
  assert.deepEqual(q.wire, frame({ id: MSG.LOCATION_QUERY, phone: PHONE, serial: ps++, body: [] }));
  const ts = Date.now() + 5000; // newer than every earlier position (whole seconds)
  t1.send(MSG.LOCATION_REPLY, [q.serial >> 8, q.serial & 255, ...location({ lat: 36.1849, lon: 118.1849, ts })]);
  await until(async () => (await d.get('/api/v1/vehicles/live', { token: admin })).json.find((v) => v.id === 'V1').lat === 36.1849, 'live state from 0x0201');
  assert.equal((await d.post('/api/v1/vehicles/NOPE/locate', undefined, { token: admin })).status, 404);
});

test('2019 registration of an unknown terminal: quarantined, stored, listed, no alarms', async () => {
  const t = await new Terminal(d.ports.jt808, { phone: '13912345678', ed2019: true }).connect();
  let s = 0;
  const rs = t.send(MSG.REGISTER, register2019({ plate: PLATE_GBK.slice(0, 2).concat([...Buffer.from('Q99999')]) }));
  const r = await t.next(MSG.REGISTER_REPLY);
  const c = r.body.subarray(3).toString('latin1');
  assert.deepEqual(r.wire, frame({ id: MSG.REGISTER_REPLY, phone: '13912345678', serial: s++, body: [rs >> 8, rs & 255, 0, ...Buffer.from(c)], ed2019: true }));
  const ra = t.send(MSG.AUTH, auth2019(c));
  assert.deepEqual((await t.next(MSG.PLAT_REPLY)).wire, frame({ id: MSG.PLAT_REPLY, phone: '13912345678', serial: s++, body: reply8001(ra, MSG.AUTH, 0), ed2019: true }));
  const now = Date.now();
  const rl = t.send(MSG.LOCATION, location({ lat: 36.1865, lon: 118.1575, speed: 0, ts: now, alarm: 0x1 })); // in the restricted zone, emergency
  assert.deepEqual((await t.next(MSG.PLAT_REPLY)).wire, frame({ id: MSG.PLAT_REPLY, phone: '13912345678', serial: s++, body: reply8001(rl, MSG.LOCATION, 0), ed2019: true }));
  const e = exportLines((await d.get('/api/v1/export?match[]=vehicle_lat{phone="13912345678"}', { token: admin })).text);
  assert.deepEqual(e[0].values, [36.1865]);
  const terms = (await d.get('/api/v1/jt808/terminals', { token: admin })).json;
  const q = terms.quarantine.find((x) => x.phone === '13912345678');
  assert.equal(q.quarantined, true);
  assert.equal(q.plate, '鲁Q99999');
  assert.equal(terms.terminals.find((x) => x.phone === '13912345678').edition, '2019');
  const a = (await d.get('/api/v1/vehicles/alarms', { token: admin })).json;
  assert.ok(!a.some((x) => x.phone === '13912345678'));
  // time query (2019) → 0x8004 with the server time in UTC
  t.send(MSG.TIME_QUERY);
  const tr = await t.next(MSG.TIME_REPLY);
  assert.equal(tr.serial, s++);
  assert.equal(tr.body.length, 6);
  // unsupported message → result 3
  const ru = t.send(0x0900, [1, 2, 3]);
  assert.deepEqual((await t.next(MSG.PLAT_REPLY)).wire, frame({ id: MSG.PLAT_REPLY, phone: '13912345678', serial: s++, body: reply8001(ru, 0x0900, 3), ed2019: true }));
  t.close();
});

test('an enterprise user sees only its vehicles', async () => {
  const r = await d.post('/api/v1/users', { name: 'e2user', password: 'e2-password-1', role: 'enterprise', enterprise: 'E2' }, { token: admin });
  assert.ok([200, 201].includes(r.status), r.text);
  const tok = await d.login('e2user', 'e2-password-1');
  const live = (await d.get('/api/v1/vehicles/live', { token: tok })).json;
  assert.ok(!live.some((v) => v.id === 'V1'));
  const ent = (await d.get('/api/v1/vehicles/entries', { token: tok })).json;
  assert.equal(ent.entries.length, 0);
  assert.equal((await d.post('/api/v1/vehicles/V1/locate', undefined, { token: tok })).status, 404);
});

// ---- nobody speaks for someone else's vehicle ----

const codeOf = (r) => { assert.equal(r.body[2], 0, `0x8100 result ${r.body[2]}`); return r.body.subarray(3).toString('latin1'); };
async function registered(phone, opts = {}) {
  const t = await new Terminal(d.ports.jt808, { phone, ...opts }).connect();
  t.send(MSG.REGISTER, (opts.ed2019 ? register2019 : register2013)({ plate: [...Buffer.from('TEST01')] }));
  const c = codeOf(await t.next(MSG.REGISTER_REPLY));
  return { t, code: c };
}
async function authed(phone, c, opts = {}) {
  const t = await new Terminal(d.ports.jt808, { phone, ...opts }).connect();
  t.send(MSG.AUTH, opts.ed2019 ? auth2019(c) : [...Buffer.from(c)]);
  return { t, r: (await t.next(MSG.PLAT_REPLY)).body[4] };
}
const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${d.proc.pid}/status`, 'utf8'))[1]);

test("a second client cannot get V1's code, authenticate or raise alarms while V1 is connected", async () => {
  const x = await new Terminal(d.ports.jt808, { phone: PHONE }).connect();
  const rs = x.send(MSG.REGISTER, register2013({ plate: PLATE_GBK }));
  const r = await x.next(MSG.REGISTER_REPLY);
  assert.deepEqual([...r.body], [rs >> 8, rs & 255, 3], 'terminal already registered, no auth code');
  // emergency and a position off the route, unauthenticated: refused, nothing raised
  x.send(MSG.LOCATION, location({ lat: 36.176, lon: 118.175, ts: Date.now(), alarm: 0x1 }));
  assert.equal((await x.next(MSG.PLAT_REPLY)).body[4], 1);
  // guessing codes: three failures close the connection
  for (let i = 0; i < 3; i++) { x.send(MSG.AUTH, [...Buffer.from(`guess${i}guess${i}xx`)]); assert.equal((await x.next(MSG.PLAT_REPLY)).body[4], 1); }
  await until(async () => x.closed, 'connection closed after 3 failed authentications');
  const a = (await d.get('/api/v1/vehicles/alarms', { token: admin })).json;
  assert.ok(!a.some((v) => v.vehicle === 'V1' && v.kind === 'terminal_emergency'));
  assert.ok(await metric(/parkwatch_jt808_registrations_refused_total (\d+)/) >= 2);
  assert.ok(await metric(/parkwatch_jt808_auth_closed_total (\d+)/) >= 1);
  const me = (await d.get('/api/v1/jt808/terminals', { token: admin })).json.terminals.find((v) => v.phone === NORM);
  assert.ok(me.registrations_refused >= 2);
  assert.equal(me.authenticated, true);
  // the real terminal is untouched
  await send(t1, MSG.HEARTBEAT, [], 0);
});

test('an operator reset (API, who and why recorded) lets the replaced terminal register once; the old code stops working', async () => {
  const P = '13700000002';
  const { t: old, code: c1 } = await registered(P);
  old.send(MSG.AUTH, [...Buffer.from(c1)]);
  assert.equal((await old.next(MSG.PLAT_REPLY)).body[4], 0);
  // not without a reason, not for a viewer or an enterprise user, not for an unknown phone
  assert.equal((await d.post(`/api/v1/jt808/terminals/${P}/reset`, {}, { token: admin })).status, 400);
  assert.equal((await d.post(`/api/v1/jt808/terminals/${P}/reset`, { reason: '  ' }, { token: admin })).status, 400);
  assert.equal((await d.post('/api/v1/jt808/terminals/12-34/reset', { reason: 'x' }, { token: admin })).status, 400);
  assert.equal((await d.post('/api/v1/jt808/terminals/13799999999/reset', { reason: 'x' }, { token: admin })).status, 404);
  const u = await d.post('/api/v1/users', { name: 'e1user', password: 'e1-password-1', role: 'enterprise', enterprise: 'E1' }, { token: admin });
  assert.ok([200, 201].includes(u.status), u.text);
  const e1 = await d.login('e1user', 'e1-password-1');
  assert.equal((await d.post(`/api/v1/jt808/terminals/${P}/reset`, { reason: 'mine' }, { token: e1 })).status, 403);
  // a stranger's registration before the reset: result 3
  const { t: x } = { t: await new Terminal(d.ports.jt808, { phone: P }).connect() };
  x.send(MSG.REGISTER, register2013({ plate: [] }));
  assert.equal((await x.next(MSG.REGISTER_REPLY)).body[2], 3);
  x.close();
  const rr = await d.post(`/api/v1/jt808/terminals/0${P}/reset`, { reason: '终端更换 / terminal replaced' }, { token: admin });
  assert.equal(rr.status, 200, rr.text);
  assert.equal(rr.json.phone, P);
  assert.equal(rr.json.by, 'admin');
  assert.equal(rr.json.reason, '终端更换 / terminal replaced');
  // the replacement registers: a fresh code; the session on the old code is closed
  const { t: fresh, code: c2 } = await registered(P);
  assert.notEqual(c2, c1);
  await until(async () => old.closed, 'the session on the replaced code is closed');
  assert.equal((await authed(P, c1)).r, 1, 'the old code no longer authenticates');
  fresh.send(MSG.AUTH, [...Buffer.from(c2)]);
  assert.equal((await fresh.next(MSG.PLAT_REPLY)).body[4], 0);
  // one reset, one registration
  const y = await new Terminal(d.ports.jt808, { phone: P }).connect();
  y.send(MSG.REGISTER, register2013({ plate: [] }));
  assert.equal((await y.next(MSG.REGISTER_REPLY)).body[2], 3);
  y.close();
  const h = (await d.get(`/api/v1/jt808/terminals/${P}/resets`, { token: admin })).json;
  assert.equal(h.registered, true);
  assert.equal(h.resets.length, 1);
  assert.equal(h.resets[0].state, 'used');
  assert.equal(h.resets[0].by, 'admin');
  assert.match(h.resets[0].used_by_peer, /^127\.0\.0\.1:\d+$/);
  assert.ok(await metric(/parkwatch_jt808_registrations_after_reset_total (\d+)/) >= 1);
  // the CLI does the same on the running daemon's data directory
  assert.equal(cli(['terminal', 'reset', P, '--data', d.dir]).status, 2, 'a reason is required');
  const c = cli(['terminal', 'reset', P, '--reason', 'second swap', '--data', d.dir]);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /terminal 13700000002 reset/);
  const { code: c3 } = await registered(P);
  assert.notEqual(c3, c2);
  const hist = JSON.parse(cli(['terminal', 'resets', P, '--data', d.dir]).stdout);
  assert.equal(hist.resets.length, 2);
  assert.match(hist.resets[0].by, /^cli:/);
  assert.equal(hist.resets[0].reason, 'second swap');
  assert.equal(cli(['terminal', 'reset', '13799999999', '--reason', 'x', '--data', d.dir]).status, 1);
  assert.equal(cli(['terminal', '--help']).status, 0);
  fresh.close();
});

test('one session per phone: a new authenticated connection replaces the old one (logged, counted); the real terminal reconnects with its stored code', async () => {
  const P = '13700000003';
  const { t: a, code: c } = await registered(P);
  a.send(MSG.AUTH, [...Buffer.from(c)]);
  assert.equal((await a.next(MSG.PLAT_REPLY)).body[4], 0);
  const n0 = await metric(/parkwatch_jt808_sessions_replaced_total (\d+)/);
  const { t: b, r } = await authed(P, c);
  assert.equal(r, 0);
  await until(async () => a.closed, 'the first session is closed');
  assert.equal(await metric(/parkwatch_jt808_sessions_replaced_total (\d+)/), n0 + 1);
  assert.match(d.stderr, /session replaced by a new connection/);
  b.send(MSG.HEARTBEAT);
  assert.equal((await b.next(MSG.PLAT_REPLY)).body[4], 0);
  const me = (await d.get('/api/v1/jt808/terminals', { token: admin })).json.terminals.find((v) => v.phone === P);
  assert.equal(me.authenticated, true);
  b.close();
  await sleep(100);
  // reconnecting later with the stored code works
  const { t: again, r: r2 } = await authed(P, c);
  assert.equal(r2, 0);
  again.close();
});

test('jt808.duplicate_session = refuse: the second connection is refused and closed, the first stays', async () => {
  const d2 = await new Daemon({ set: ['jt808.duplicate_session=refuse'] }).start();
  try {
    const a = await new Terminal(d2.ports.jt808, { phone: '13700000004' }).connect();
    a.send(MSG.REGISTER, register2013({ plate: [] }));
    const c = codeOf(await a.next(MSG.REGISTER_REPLY));
    a.send(MSG.AUTH, [...Buffer.from(c)]);
    assert.equal((await a.next(MSG.PLAT_REPLY)).body[4], 0);
    const b = await new Terminal(d2.ports.jt808, { phone: '13700000004' }).connect();
    b.send(MSG.AUTH, [...Buffer.from(c)]);
    assert.equal((await b.next(MSG.PLAT_REPLY)).body[4], 1);
    await until(async () => b.closed, 'refused connection closed');
    a.send(MSG.HEARTBEAT);
    assert.equal((await a.next(MSG.PLAT_REPLY)).body[4], 0);
    assert.match(d2.stderr, /second session refused/);
    a.close();
  } finally { await d2.stop(); }
});

test('strangers create no state: authentications for unregistered phones leave no record; 8 registrations per connection at most', async () => {
  const x = await new Terminal(d.ports.jt808, { phone: '19900000000' }).connect();
  for (let i = 1; i <= 3; i++) {
    x.write(frame({ id: MSG.AUTH, phone: `1990000000${i}`, serial: i, body: [...Buffer.from('0123456789abcdef')] }));
    assert.equal((await x.next(MSG.PLAT_REPLY)).body[4], 1);
  }
  await until(async () => x.closed, 'closed after 3 failed authentications');
  const terms = (await d.get('/api/v1/jt808/terminals', { token: admin })).json;
  assert.ok(!terms.terminals.some((v) => v.phone.startsWith('199000000')), 'no record for unregistered phones');
  // one connection registering phone after phone: the 9th session message closes it
  const y = await new Terminal(d.ports.jt808, { phone: '19800000000' }).connect();
  const results = [];
  for (let i = 1; i <= 9; i++) {
    y.write(frame({ id: MSG.REGISTER, phone: `1980000000${i}`, serial: i, body: register2013({ plate: [] }) }));
    const r = await y.next(i < 9 ? MSG.REGISTER_REPLY : MSG.PLAT_REPLY);
    results.push(i < 9 ? r.body[2] : r.body[4]);
  }
  assert.deepEqual(results, [0, 0, 0, 0, 0, 0, 0, 0, 1]);
  await until(async () => y.closed, 'closed after 8 registrations');
  assert.ok(!(await d.get('/api/v1/jt808/terminals', { token: admin })).json.terminals.some((v) => v.phone === '19800000009'));
  assert.ok(await metric(/parkwatch_jt808_session_flood_closed_total (\d+)/) >= 1);
});

test('registrations of phones outside the park model are bounded (2 x jt808.max_connections, at least 64)', async () => {
  const d2 = await new Daemon({ set: ['jt808.max_connections=10'] }).start();
  try {
    const res = [];
    for (let c = 0; c < 9; c++) {
      const t = await new Terminal(d2.ports.jt808, { phone: '0' }).connect();
      for (let i = 0; i < 8; i++) {
        const n = c * 8 + i;
        t.write(frame({ id: MSG.REGISTER, phone: `1970000${String(n).padStart(4, '0')}`, serial: n, body: register2013({ plate: [] }) }));
        res.push((await t.next(MSG.REGISTER_REPLY)).body[2]);
      }
      t.close();
    }
    assert.equal(res.filter((r) => r === 0).length, 64);
    assert.deepEqual(res.slice(64), [4, 4, 4, 4, 4, 4, 4, 4], 'beyond the bound: terminal not in database');
    // V1 (in the park model) still registers
    const v = await new Terminal(d2.ports.jt808, { phone: PHONE }).connect();
    v.send(MSG.REGISTER, register2013({ plate: PLATE_GBK }));
    assert.equal((await v.next(MSG.REGISTER_REPLY)).body[2], 0);
    v.close();
    assert.match((await d2.get('/metrics')).text, /parkwatch_jt808_unknown_terminals_refused_total 8/);
  } finally { await d2.stop(); }
});

// ---- reassembly: not before authentication, within one budget ----

test('unauthenticated subpackages are not reassembled: 16 connections x 1,000 packets cost no memory', async () => {
  const P = '13700000006';
  const before = rss();
  const conns = await Promise.all(Array.from({ length: 16 }, () => new Terminal(d.ports.jt808, { phone: P }).connect()));
  const body = Buffer.alloc(1023, 0x11);
  await Promise.all(conns.map(async (t) => {
    for (let m = 0; m < 4; m++) {
      const frames = [];
      for (let i = 1; i <= 250; i++) frames.push(frame({ id: MSG.BATCH, phone: P, serial: (m * 256 + i) & 0xffff, body, sub: { total: 256, index: i } }));
      t.write(Buffer.concat(frames));
    }
    for (let i = 0; i < 1000; i++) assert.equal((await t.next(MSG.PLAT_REPLY, 20000)).body[4], 1);
  }));
  const grown = rss() - before;
  assert.equal(await metric(/parkwatch_jt808_reassembly_peak_bytes (\d+)/), 0);
  assert.ok(grown < 8 * 1024, `RSS grew by ${grown} kB`);
  for (const t of conns) t.close();
});

test('an authenticated terminal reassembles within jt808.reassembly_budget; beyond it the message is dropped and counted', async () => {
  const P = '13700000007';
  const { t, code: c } = await registered(P);
  t.send(MSG.AUTH, [...Buffer.from(c)]);
  assert.equal((await t.next(MSG.PLAT_REPLY)).body[4], 0);
  const base = Math.floor(Date.now() / 1000) * 1000 - 5 * 3600e3;
  const body = Buffer.from(batch(1, Array.from({ length: 30 }, (_, i) => location({ lat: 36.17, lon: 118.17, speed: i, ts: base + i * 1000 }))));
  const parts = [body.subarray(0, 300), body.subarray(300, 600), body.subarray(600)];
  const s0 = t.serial;
  t.serial += 3;
  parts.forEach((b, i) => t.write(frame({ id: MSG.BATCH, phone: P, serial: s0 + i, body: b, sub: { total: 3, index: i + 1 } })));
  const replies = [await t.next(MSG.PLAT_REPLY), await t.next(MSG.PLAT_REPLY), await t.next(MSG.PLAT_REPLY)];
  assert.deepEqual(replies.map((r) => [r.body.readUInt16BE(0), r.body.readUInt16BE(2), r.body[4]]),
    [[s0, MSG.BATCH, 0], [s0 + 1, MSG.BATCH, 0], [s0 + 2, MSG.BATCH, 0]]);
  const e = exportLines((await d.get(`/api/v1/export?match[]=vehicle_speed_kmh{phone="${P}"}&start=${base / 1000 - 1}&end=${base / 1000 + 40}`, { token: admin })).text);
  assert.equal(e[0].values.length, 30);
  // a message larger than the 8 KiB budget: dropped when it would exceed it, the packet answered 1
  const d0 = await metric(/parkwatch_jt808_frames_dropped_total\{reason="reassembly_budget"\} (\d+)/);
  const big = Buffer.alloc(1000, 0x22);
  const results = [];
  for (let i = 1; i <= 10; i++) {
    t.write(frame({ id: 0x0801, phone: P, serial: (t.serial++) & 0xffff, body: big, sub: { total: 10, index: i } }));
    results.push((await t.next(MSG.PLAT_REPLY)).body[4]);
  }
  assert.deepEqual(results.slice(0, 4), [0, 0, 0, 0]);
  assert.ok(results.includes(1), `results ${results}`);
  assert.ok(await metric(/parkwatch_jt808_frames_dropped_total\{reason="reassembly_budget"\} (\d+)/) > d0);
  assert.ok(await metric(/parkwatch_jt808_reassembly_peak_bytes (\d+)/) <= 8192);
  // the memory comes back once the terminal goes
  t.close();
  await until(async () => (await metric(/parkwatch_jt808_reassembly_bytes (\d+)/)) === 0, 'reassembly memory released');
});

// ---- real devices' quirks ----

// Traccar's JT/T 808 decoder test frame (HuabaoProtocolDecoderTest): vendor items 0xE1, 0x5D, 0xFE
// and 0x7D bytes that were never escaped.
const TRACCAR_0200 = '7E0200008201215233475100030000000000000003015A7F6106CF8CEC003D0000000021071311481901040000005630011931011AE10200755D3D0601CC0024990A7dA0032301CC002499099B2941FC01CC002499099B29430B01CC0024990A7dA0290601CC0024990A7dA015FD01CC0026220994506BFFFE157C010400000001F10C000000000000000000000000997E';

test("Traccar's 0x0200 with vendor items and unescaped 0x7D is stored and acknowledged with result 0", async () => {
  const P = '012152334751';
  const { t, code: c } = await registered(P);
  t.send(MSG.AUTH, [...Buffer.from(c)]);
  assert.equal((await t.next(MSG.PLAT_REPLY)).body[4], 0);
  const u0 = await metric(/parkwatch_jt808_location_items_skipped_total\{reason="unknown"\} (\d+)/);
  t.write(Buffer.from(TRACCAR_0200, 'hex'));
  const r = await t.next(MSG.PLAT_REPLY);
  assert.deepEqual([r.body.readUInt16BE(0), r.body.readUInt16BE(2), r.body[4]], [3, MSG.LOCATION, 0]);
  const ts = Date.UTC(2021, 6, 13, 3, 48, 19); // 21-07-13 11:48:19 UTC+8
  const e = exportLines((await d.get(`/api/v1/export?match[]=vehicle_lat{phone="12152334751"}&start=${ts / 1000 - 1}&end=${ts / 1000 + 1}`, { token: admin })).text);
  assert.deepEqual(e[0].values, [22.708065]);
  assert.deepEqual(e[0].timestamps, [ts]);
  const sat = exportLines((await d.get(`/api/v1/export?match[]=vehicle_satellites{phone="12152334751"}&start=${ts / 1000 - 1}&end=${ts / 1000 + 1}`, { token: admin })).text);
  assert.deepEqual(sat[0].values, [26]);
  assert.equal(await metric(/parkwatch_jt808_location_items_skipped_total\{reason="unknown"\} (\d+)/), u0 + 3);
  assert.ok(await metric(/parkwatch_jt808_quirks_total\{quirk="bare_escape"\} (\d+)/) >= 1);
  t.close();
});

test('a 0x0704 of not-positioned fixes with out-of-range coordinates is stored (status, quality) and acknowledged', async () => {
  const P = '13700000008';
  const { t, code: c } = await registered(P);
  t.send(MSG.AUTH, [...Buffer.from(c)]);
  assert.equal((await t.next(MSG.PLAT_REPLY)).body[4], 0);
  const base = Math.floor(Date.now() / 1000) * 1000 - 6 * 3600e3;
  const body = batch(1, [
    location({ lat: 4294.967295, lon: 4294.967295, speed: 0, ts: base, status: 0x0 }), // all-ones, no fix
    location({ lat: 0, lon: 0, speed: 0, ts: base + 1000, status: 0x1, alarm: 0x1 }), // no fix, emergency
    location({ lat: 36.17, lon: 118.17, speed: 5, ts: base + 2000, status: 0x3 }), // a fix
  ]);
  const rs = t.send(MSG.BATCH, body);
  const r = await t.next(MSG.PLAT_REPLY);
  assert.deepEqual([r.body.readUInt16BE(0), r.body[4]], [rs, 0]);
  const q = (m) => d.get(`/api/v1/export?match[]=${m}{phone="${P}"}&start=${base / 1000 - 1}&end=${base / 1000 + 3}`, { token: admin });
  const st = exportLines((await q('vehicle_status_bits')).text);
  assert.deepEqual(st[0].values, [0, 1, 3]);
  assert.deepEqual(st[0].timestamps, [base, base + 1000, base + 2000]);
  const al = exportLines((await q('vehicle_alarm_bits')).text);
  assert.deepEqual(al[0].values, [0, 1, 0]);
  const lat = exportLines((await q('vehicle_lat')).text);
  assert.deepEqual(lat[0].timestamps, [base + 1000, base + 2000], 'no coordinates for the out-of-range fix');
  assert.ok(await metric(/parkwatch_jt808_quirks_total\{quirk="unpositioned_out_of_range"\} (\d+)/) >= 1);
  // a positioned fix with impossible coordinates is still refused (result 2)
  const rb = t.send(MSG.LOCATION, location({ lat: 95, lon: 118.17, ts: base + 3000, status: 0x3 }));
  const r2 = await t.next(MSG.PLAT_REPLY);
  assert.deepEqual([r2.body.readUInt16BE(0), r2.body[4]], [rb, 2]);
  t.close();
});

test('a terminal whose phone field is a hex id registers, is matched to the model and labelled in lower case', async () => {
  const imp = await d.post('/api/v1/model/import', { version: 1, vehicles: [{ id: 'V-HEX', plate: '鲁C0HEX', enterprise: 'E1', terminal_phone: '00004F07788EF676' }] }, { token: admin });
  assert.equal(imp.status, 200, imp.text);
  const { t, code: c } = await registered('4f07788ef676');
  t.send(MSG.AUTH, [...Buffer.from(c)]);
  assert.equal((await t.next(MSG.PLAT_REPLY)).body[4], 0);
  const ts = Math.floor(Date.now() / 1000) * 1000;
  const rs = t.send(MSG.LOCATION, location({ lat: 36.17, lon: 118.17, ts }));
  const r = await t.next(MSG.PLAT_REPLY);
  assert.deepEqual([r.body.readUInt16BE(0), r.body[4]], [rs, 0]);
  assert.equal(r.phone, '4f07788ef676', 'answered with the phone as it sent it');
  const e = exportLines((await d.get(`/api/v1/export?match[]=vehicle_lat{phone="4f07788ef676"}&start=${ts / 1000 - 1}`, { token: admin })).text);
  assert.deepEqual(e[0].values, [36.17]);
  const me = (await d.get('/api/v1/jt808/terminals', { token: admin })).json.terminals.find((v) => v.phone === '4f07788ef676');
  assert.equal(me.vehicle, 'V-HEX');
  assert.equal(me.known, true);
  assert.ok(await metric(/parkwatch_jt808_quirks_total\{quirk="hex_phone"\} (\d+)/) >= 1);
  // the reset takes the phone in any case
  assert.equal((await d.post('/api/v1/jt808/terminals/4F07788EF676/reset', { reason: 'hex' }, { token: admin })).status, 200);
  t.close();
});

test('an emergency from a terminal without a fix (out-of-range coordinates) is stored, acknowledged and raised', async () => {
  const ts = Math.floor(Date.now() / 1000) * 1000 + 20000; // newer than every earlier position
  await send(t1, MSG.LOCATION, location({ lat: 4294.967295, lon: 4294.967295, ts, status: 0x0, alarm: 0x1 }), 0);
  const a = (await d.get('/api/v1/vehicles/alarms', { token: admin })).json;
  assert.ok(a.some((x) => x.vehicle === 'V1' && x.kind === 'terminal_emergency'));
  const st = exportLines((await d.get(`/api/v1/export?match[]=vehicle_alarm_bits{phone="${NORM}"}&start=${ts / 1000 - 0.5}&end=${ts / 1000 + 0.5}`, { token: admin })).text);
  assert.deepEqual(st[0].values, [1]);
  await send(t1, MSG.LOCATION, location({ lat: 36.183, lon: 118.1915, ts: ts + 1000 }), 0);
  assert.ok(!(await d.get('/api/v1/vehicles/alarms', { token: admin })).json.some((x) => x.vehicle === 'V1' && x.kind === 'terminal_emergency'));
});

test('deregistration forgets the auth code', async () => {
  await send(t1, MSG.DEREGISTER, [], 0);
  await send(t1, MSG.HEARTBEAT, [], 1);
  await send(t1, MSG.AUTH, [...Buffer.from(code)], 1);
  t1.close();
});

test('after a platform restart a terminal authenticates with its stored code, and the code is still not handed out', async () => {
  const P = '13700000009';
  const { t, code: c } = await registered(P);
  t.close();
  await d.restart();
  const { t: a, r } = await authed(P, c);
  assert.equal(r, 0);
  a.send(MSG.HEARTBEAT);
  assert.equal((await a.next(MSG.PLAT_REPLY)).body[4], 0);
  const x = await new Terminal(d.ports.jt808, { phone: P }).connect();
  x.send(MSG.REGISTER, register2013({ plate: [] }));
  assert.deepEqual([...(await x.next(MSG.REGISTER_REPLY)).body.subarray(2)], [3]);
  x.close();
  a.close();
});
