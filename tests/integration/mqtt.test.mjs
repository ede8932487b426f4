// MQTT against a real Mosquitto broker started by the test, with mosquitto_pub as the device:
// telemetry (single records, batches, a device with its own topic prefix) stored durably under the
// points' series, malformed payloads dropped/logged/counted, the persistent session keeping QoS 1
// messages while the daemon is down, reconnecting after a broker restart, and device events
// (fire panel, gates) by MQTT and HTTP with validation, paging, scope and gate occupancy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { Daemon, Mosquitto, sleep, until } from './harness.mjs';

const exportLines = (text) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

const MODEL = {
  version: 1,
  park: { id: 'P', name: '测试园区' },
  enterprises: [{ id: 'E1', name: '一号企业' }, { id: 'E2', name: '二号企业' }],
  devices: [
    {
      id: 'TK-1', name: '储罐1', kind: 'tank_sensor_set', enterprise: 'E1', protocol: 'mqtt', mqtt: { topic: 'park/E1/TK-1' },
      points: [
        { id: 'TK-1.level', name: '液位', quantity: 'level', unit: 'm', series: 'tank_level_m{device="TK-1"}' },
        { id: 'TK-1.temperature', name: '温度', quantity: 'temperature', unit: '°C', series: 'tank_temperature_c{device="TK-1"}' },
      ],
    },
    {
      id: 'TK-2', name: '储罐2', kind: 'tank_sensor_set', enterprise: 'E2', protocol: 'mqtt', mqtt: { topic: 'plant/e2/tank2' },
      points: [{ id: 'TK-2.level', name: '液位', quantity: 'level', unit: 'm', series: 'tank_level_m{device="TK-2"}' }],
    },
    { id: 'FP-1', name: '火灾报警控制器', kind: 'fire_panel', enterprise: 'E1', protocol: 'mqtt', mqtt: { topic: 'park/E1/FP-1' }, points: [] },
    { id: 'FP-2', name: '火灾报警控制器2', kind: 'fire_panel', enterprise: 'E2', protocol: 'mqtt', mqtt: { topic: 'park/E2/FP-2' }, points: [] },
    { id: 'GATE-1', name: '1号门', kind: 'gate', protocol: 'mqtt', mqtt: { topic: 'park/PARK/GATE-1' }, points: [] },
  ],
};

let broker, d, admin, ent1, dir;
const T0 = Date.UTC(2026, 10, 23, 2, 0, 0);

async function series(sel) {
  const r = await d.get(`/api/v1/export?match[]=${encodeURIComponent(sel)}&start=${T0 / 1000 - 86400}`, { token: admin });
  assert.equal(r.status, 200, r.text);
  return exportLines(r.text);
}

async function metric(name) {
  const m = (await d.get('/metrics')).text;
  const line = m.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : 0;
}

before(async () => {
  broker = await new Mosquitto().start();
  dir = mkdtempSync(path.join(tmpdir(), 'pw-mqtt-'));
  const model = path.join(dir, 'model.json');
  writeFileSync(model, JSON.stringify(MODEL));
  d = new Daemon({ model, set: [`mqtt.broker=127.0.0.1:${broker.port}`, 'mqtt.client_id=pw-test'] });
  await d.start();
  admin = await d.login();
  assert.equal((await d.post('/api/v1/users', { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' }, { token: admin })).status, 201);
  ent1 = await d.login('ent1', 'ent1-password');
  await until(async () => (await d.get('/api/v1/mqtt/status', { token: admin })).json?.connected, { what: 'MQTT connected' });
});

after(async () => {
  await d.stop();
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a telemetry record is stored under the points of the device, at its timestamp', async () => {
  broker.pub('park/E1/TK-1/telemetry', { ts: T0, values: { level: 12.5, temperature: -161.5 } });
  const l = await until(async () => { const s = await series('tank_level_m{device="TK-1"}'); return s.length && s; }, { what: 'level stored' });
  assert.deepEqual(l[0].metric, { __name__: 'tank_level_m', device: 'TK-1' });
  assert.deepEqual(l[0].values, [12.5]);
  assert.deepEqual(l[0].timestamps, [T0]);
  const t = await series('tank_temperature_c{device="TK-1"}');
  assert.deepEqual(t[0].values, [-161.5]);
});

test('a batch, RFC 3339 times, a device with its own topic prefix, point ids as names', async () => {
  broker.pub('plant/e2/tank2/telemetry', [
    { ts: T0 + 1000, values: { level: 1 } },
    { ts: new Date(T0 + 2000).toISOString(), values: { 'TK-2.level': 2 } },
    { ts: T0 + 3000, values: { level: 3, unknown_thing: 9 } },
  ]);
  const l = await until(async () => { const s = await series('tank_level_m{device="TK-2"}'); return s.length && s[0].values.length === 3 && s; }, { what: 'batch stored' });
  assert.deepEqual(l[0].values, [1, 2, 3]);
  assert.deepEqual(l[0].timestamps, [T0 + 1000, T0 + 2000, T0 + 3000]);
  assert.ok(await metric('parkwatch_mqtt_values_unknown_total') >= 1);
  assert.match(d.stderr, /values without a point dropped.*device=TK-2.*first=unknown_thing/);
});

test('malformed payloads and unknown devices are dropped, logged with their topic and counted', async () => {
  const before = await metric('parkwatch_mqtt_messages_dropped_total{reason="malformed"}');
  broker.pub('park/E1/TK-1/telemetry', 'this is not json');
  broker.pub('park/E1/TK-1/telemetry', { values: { level: 'high' } });
  broker.pub('park/E1/TK-1/telemetry', { ts: 1700000000, values: { level: 1 } }); // seconds, not ms
  broker.pub('park/E9/NOPE/telemetry', { values: { level: 1 } });
  await until(async () => await metric('parkwatch_mqtt_messages_dropped_total{reason="malformed"}') >= before + 3, { what: 'malformed counted' });
  await until(async () => await metric('parkwatch_mqtt_messages_dropped_total{reason="unknown_device"}') >= 1, { what: 'unknown counted' });
  assert.match(d.stderr, /msg="message dropped" topic=park\/E1\/TK-1\/telemetry reason=malformed err="not JSON"/);
  assert.match(d.stderr, /reason=malformed err="values.level: expected a number/);
  assert.match(d.stderr, /topic=park\/E9\/NOPE\/telemetry reason=unknown_device/);
  // the good data is untouched and the client still works
  broker.pub('park/E1/TK-1/telemetry', { ts: T0 + 60000, values: { level: 13 } });
  await until(async () => (await series('tank_level_m{device="TK-1"}'))[0].values.includes(13), { what: 'later value' });
  assert.deepEqual((await series('tank_level_m{device="TK-1"}'))[0].values, [12.5, 13]);
});

test('fire panel events and gate passages by MQTT land in the event log', async () => {
  broker.pub('park/E1/FP-1/event', { kind: 'fire', loop: 2, zone: 5, detector: 17, ts: T0, id: 'fp1-0001', text: '二层东侧烟感' });
  broker.pub('park/E1/FP-1/event', { kind: 'fire', loop: 2, zone: 5, detector: 17, ts: T0, id: 'fp1-0001', text: '二层东侧烟感' }); // redelivery
  broker.pub('park/PARK/GATE-1/event', [
    { subject: 'person', direction: 'in', ts: T0 + 1 },
    { subject: 'person', direction: 'in', ts: T0 + 2 },
    { subject: 'vehicle', plate: '鲁C12345', direction: 'in', hazmat: true, ts: T0 + 3 },
  ]);
  broker.pub('park/E1/FP-1/event', { kind: 'smoke', zone: 1 }); // invalid kind
  const r = await until(async () => { const x = await d.get('/api/v1/device-events', { token: admin }); return x.json?.events?.length === 4 && x; }, { what: '4 events' });
  const [fire, p1, , v] = r.json.events;
  assert.equal(fire.type, 'fire_panel');
  assert.equal(fire.kind, 'fire');
  assert.equal(fire.device, 'FP-1');
  assert.equal(fire.enterprise, 'E1');
  assert.equal(fire.source, 'mqtt');
  assert.equal(fire.event_id, 'fp1-0001');
  assert.deepEqual([fire.loop, fire.zone, fire.detector, fire.ts, fire.text], [2, 5, 17, T0, '二层东侧烟感']);
  assert.equal(p1.subject, 'person');
  assert.equal(p1.gate, 'GATE-1');
  assert.equal(v.plate, '鲁C12345');
  assert.equal(v.hazmat, true);
  await until(async () => await metric('parkwatch_device_events_duplicate_total') >= 1, { what: 'duplicate counted' });
  assert.match(d.stderr, /topic=park\/E1\/FP-1\/event reason=malformed err="kind: expected one of fire, fault/);
  const occ = await d.get('/api/v1/gates/occupancy', { token: admin });
  assert.equal(occ.json.people, 2);
  assert.equal(occ.json.vehicles, 1);
  assert.equal(occ.json.hazmat_vehicles, 1);
});

test('device events by HTTP: validation names the field, paging, scope, roles', async () => {
  // loopback needs no token (auth.ingest_loopback_open), like /write
  let r = await d.post('/api/v1/events/device', { device: 'GATE-1', subject: 'person', direction: 'out' });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.ids.length, 1);
  r = await d.post('/api/v1/events/device', [
    { device: 'FP-2', kind: 'fault', loop: 1, detector: 3 },
    { device: 'FP-1', kind: 'reset' },
  ], { token: admin });
  assert.equal(r.status, 201, r.text);
  r = await d.post('/api/v1/events/device', [{ device: 'FP-1', kind: 'reset' }, { device: 'GATE-1', subject: 'vehicle', direction: 'in' }]);
  assert.equal(r.status, 400);
  assert.equal(r.json.error, '[1].plate: required for a vehicle passage');
  r = await d.post('/api/v1/events/device', { device: 'NOPE', kind: 'fire', zone: 1 });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /device: unknown device "NOPE"/);
  r = await d.post('/api/v1/events/device', 'not json');
  assert.equal(r.status, 400);
  // an enterprise user may read but not post, and sees only its own devices' events
  assert.equal((await d.post('/api/v1/events/device', { device: 'FP-1', kind: 'reset' }, { token: ent1 })).status, 403);
  const mine = await d.get('/api/v1/device-events?limit=100', { token: ent1 });
  assert.ok(mine.json.events.length >= 2);
  assert.ok(mine.json.events.every((e) => e.enterprise === 'E1'), JSON.stringify(mine.json.events));
  assert.equal((await d.get('/api/v1/device-events?device=FP-2', { token: ent1 })).json.events.length, 0);
  assert.equal((await d.get('/api/v1/gates/occupancy', { token: ent1 })).json.passages, 0);
  // paging through everything, oldest first, two at a time
  const all = [];
  let after = 0;
  for (let i = 0; i < 10; i++) {
    const p = await d.get(`/api/v1/device-events?limit=2&after_id=${after}`, { token: admin });
    all.push(...p.json.events);
    if (p.json.next === null) break;
    after = p.json.next;
  }
  assert.equal(all.length, 7);
  assert.deepEqual(all.map((e) => e.id), [...all.map((e) => e.id)].sort((a, b) => a - b));
  // filters and newest first
  const fires = await d.get('/api/v1/device-events?type=fire_panel&order=desc', { token: admin });
  assert.deepEqual(fires.json.events.map((e) => e.kind), ['reset', 'fault', 'fire']);
  const since = await d.get(`/api/v1/device-events?kind=passage&since=${new Date(T0 + 2).toISOString()}&until=${new Date(T0 + 3).toISOString()}`, { token: admin });
  assert.equal(since.json.events.length, 2);
  assert.equal((await d.get('/api/v1/device-events?kind=smoke', { token: admin })).status, 400);
  assert.match((await d.get('/api/v1/device-events?limit=0', { token: admin })).json.error, /^limit:/);
  // occupancy now: 2 in − 1 out
  const occ = await d.get('/api/v1/gates/occupancy', { token: admin });
  assert.equal(occ.json.people, 1);
});

test('retained messages are not new readings: without a ts they are not stored again on every reconnect', async () => {
  const sel = 'tank_level_m{device="TK-2"}', sel1 = 'tank_level_m{device="TK-1"}';
  const count = async (q, v) => ((await series(q))[0]?.values || []).filter((x) => x === v).length;
  // published live (retain set by the device): delivered with the retain flag clear, a reading
  broker.pub('plant/e2/tank2/telemetry', { values: { level: 42.5 } }, { retain: true });
  await until(async () => (await count(sel, 42.5)) === 1, { what: 'the live reading' });
  broker.pub('park/E1/TK-1/telemetry', { ts: T0 + 60000, values: { level: 43.5 } }, { retain: true });
  await until(async () => (await count(sel1, 43.5)) === 1, { what: 'the reading with its own time' });
  // every reconnect subscribes again, and the broker hands out its retained copies again
  for (let i = 0; i < 2; i++) {
    await d.restart();
    admin = await d.login();
    await until(async () => (await metric('parkwatch_mqtt_retained_skipped_total')) >= 1, { what: 'retained copy seen' });
  }
  await sleep(300);
  assert.equal(await count(sel, 42.5), 1, 'a retained copy without ts was stored with a new time');
  assert.equal(await count(sel1, 43.5), 1, 'the retained reading with its own ts is one sample at that ts');
  const l = (await series(sel1))[0];
  assert.equal(l.timestamps[l.values.indexOf(43.5)], T0 + 60000);
  assert.match(d.stderr, /msg="retained values without a timestamp not stored" topic=plant\/e2\/tank2\/telemetry device=TK-2 n=1/);
  // clear the broker's copies (an empty retained message); the daemon drops the empty payloads
  broker.pub('plant/e2/tank2/telemetry', '', { retain: true });
  broker.pub('park/E1/TK-1/telemetry', '', { retain: true });
});

test('the persistent session keeps QoS 1 messages while the daemon is down', async () => {
  d.proc.kill('SIGTERM');
  await d.exited;
  broker.pub('park/E1/TK-1/telemetry', { ts: T0 + 120000, values: { level: 14 } });
  broker.pub('park/E1/FP-1/event', { kind: 'fault', loop: 1, detector: 9, ts: T0 + 120000 });
  await d.start(); // same data directory and client id
  admin = await d.login();
  await until(async () => (await series('tank_level_m{device="TK-1"}'))[0].values.includes(14), { what: 'queued telemetry' });
  const ev = await until(async () => { const x = await d.get('/api/v1/device-events?type=fire_panel&order=desc&limit=1', { token: admin }); return x.json.events[0]?.ts === T0 + 120000 && x; }, { what: 'queued event' });
  assert.equal(ev.json.events[0].detector, 9);
});

test('the client reconnects by itself after the broker restarts', async () => {
  await broker.stop();
  await until(async () => (await d.get('/api/v1/mqtt/status', { token: admin })).json.connected === false, { what: 'disconnect seen' });
  await sleep(500);
  await broker.start(); // same port
  await until(async () => (await d.get('/api/v1/mqtt/status', { token: admin })).json.connected, { timeout: 20000, what: 'reconnected' });
  broker.pub('park/E1/TK-1/telemetry', { ts: T0 + 180000, values: { level: 15 } });
  await until(async () => (await series('tank_level_m{device="TK-1"}'))[0].values.includes(15), { what: 'value after reconnect' });
  assert.ok(await metric('parkwatch_mqtt_connects_total') >= 2);
});

test('a broker that accepts the TCP connection but never answers CONNECT: the attempt is given up, logged and retried', { timeout: 40000 }, async () => {
  const conns = [];
  const srv = net.createServer((s) => { conns.push(s); s.on('error', () => {}); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const dh = new Daemon({ model: null, set: [`mqtt.broker=127.0.0.1:${srv.address().port}`, 'mqtt.client_id=pw-hung'] });
  await dh.start();
  try {
    await until(() => conns.length >= 1, { what: 'TCP connection' });
    await until(() => /msg="cannot connect to the broker; retrying with backoff" broker=127\.0\.0\.1:\d+ err="no CONNACK in time"/.test(dh.stderr), { timeout: 15000, what: 'the attempt given up' });
    await until(() => conns.length >= 2, { timeout: 10000, what: 'a new attempt' });
    const m = (await dh.get('/metrics')).text;
    assert.match(m, /\nparkwatch_mqtt_connected 0\n/);
    assert.match(m, /\nparkwatch_mqtt_connect_failures_total [1-9]/);
  } finally {
    await dh.stop();
    for (const s of conns) s.destroy();
    await new Promise((r) => srv.close(r));
  }
});
