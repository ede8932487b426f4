// JT/T 808 over a real TCP socket: registration (2013 and 2019) with a persisted auth code,
// authentication required first, heartbeats, durable 0x8001 replies checked byte for byte,
// positions along a route that leaves its corridor and stops outside the parking lot (entry/exit
// log and vehicle alarms), blind-area back-fill, garbage and bad checksums, position query,
// time query, deregistration.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, sleep } from './harness.mjs';
import {
  MSG, Terminal, frame, location, register2013, register2019, auth2019, reply8001, batch,
} from './jt808lib.mjs';

const PHONE = '013800000001'; // V1 in small-park.json (hazmat class 3, enterprise E1)
const NORM = '13800000001';
const PLATE_GBK = [0xc2, 0xb3, ...Buffer.from('C12345')]; // 鲁C12345
let d, admin, code;

before(async () => {
  d = await new Daemon({ set: ['vehicles.max_stop_outside_lot=2s', 'vehicles.speeding_for=1s'] }).start();
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
  // registering again returns the same (persisted) code
  const rs2 = t1.send(MSG.REGISTER, register2013({ plate: PLATE_GBK }));
  const r2 = await t1.next(MSG.REGISTER_REPLY);
  ps++;
  assert.equal(r2.body.readUInt16BE(0), rs2);
  assert.equal(r2.body.subarray(3).toString('latin1'), code);
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

test('deregistration forgets the auth code', async () => {
  await send(t1, MSG.DEREGISTER, [], 0);
  await send(t1, MSG.HEARTBEAT, [], 1);
  await send(t1, MSG.AUTH, [...Buffer.from(code)], 1);
  t1.close();
});
