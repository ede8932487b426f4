// Supervision beside the rules (issue 15), over real sockets: vehicle alarms go through the same
// transition, restore and restart path as every other alarm — a terminal alarm bit raised before
// a restart clears when the terminal reports the bit clear afterwards; entry/exit rows and gate
// events are durable when acknowledged (they survive kill -9 right after the acknowledgement).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon, Mosquitto, cli, sleep } from './harness.mjs';
import { MSG, Terminal, location, register2013 } from './jt808lib.mjs';
import { frame, local14, qnOf, Station } from './hj212lib.mjs';

const PHONE = '013800000001'; // V1 in small-park.json
const PLATE_GBK = [0xc2, 0xb3, ...Buffer.from('C12345')]; // 鲁C12345
let d, admin, dir;

// small-park.json plus a gate and a fire panel
const here = path.dirname(fileURLToPath(import.meta.url));
const model = JSON.parse(readFileSync(path.join(here, 'data', 'small-park.json'), 'utf8'));
model.devices.push(
  { id: 'GATE-1', name: '1号门', kind: 'gate', protocol: 'mqtt', mqtt: { topic: 'park/PARK/GATE-1' }, points: [] },
  { id: 'FP-1', name: '火灾报警控制器', kind: 'fire_panel', enterprise: 'E1', protocol: 'mqtt', mqtt: { topic: 'park/E1/FP-1' }, points: [] },
);

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'pw-sup-'));
  const file = path.join(dir, 'model.json');
  writeFileSync(file, JSON.stringify(model));
  d = await new Daemon({ model: file }).start();
  admin = await d.login();
});
after(async () => { await d.stop(); rmSync(dir, { recursive: true, force: true }); });

async function until(fn, what, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await sleep(100);
  }
}

// Registers (first time) or authenticates V1's terminal; returns it connected and authenticated.
let savedCode;
const codeOf = async () => savedCode;

async function terminal(code) {
  const t = await new Terminal(d.ports.jt808, { phone: PHONE }).connect();
  if (!code) {
    t.send(MSG.REGISTER, register2013({ plate: PLATE_GBK }));
    const r = await t.next(MSG.REGISTER_REPLY);
    assert.equal(r.body[2], 0);
    code = r.body.subarray(3).toString('latin1');
  }
  savedCode = code;
  t.send(MSG.AUTH, [...Buffer.from(code)]);
  const a = await t.next(MSG.PLAT_REPLY);
  assert.equal(a.body[4], 0, 'authenticated');
  return { t, code };
}

// Sends a location and waits for its 0x8001 (written once the data is durable).
async function position(t, fields) {
  t.send(MSG.LOCATION, location(fields));
  const r = await t.next(MSG.PLAT_REPLY);
  assert.equal(r.body[4], 0, 'location acknowledged');
}

const emergency = async () => (await d.get('/api/v1/alarms', { token: admin })).json
  .find((a) => a.source === 'V1' && a.rule === 'vehicle_terminal_emergency');

test('a vehicle alarm raised before a restart clears when the terminal clears the bit', async () => {
  let { t, code } = await terminal();
  const ts = Date.now();
  await position(t, { lat: 36.176, lon: 118.175, speed: 0, ts, alarm: 0x1 });
  let a = await emergency();
  assert.ok(a, 'raised');
  assert.equal(a.state, 'active');
  assert.equal(a.source_kind, 'vehicle');
  t.close();
  for (const signal of ['SIGTERM', 'SIGKILL']) {
    await d.restart(signal);
    ({ t } = await terminal(code));
    // still set after the restart: nothing changes, no second alarm
    await position(t, { lat: 36.176, lon: 118.175, speed: 0, ts: Date.now(), alarm: 0x1 });
    const open = (await d.get('/api/v1/alarms', { token: admin })).json
      .filter((x) => x.source === 'V1' && x.rule === 'vehicle_terminal_emergency' && x.state !== 'closed');
    assert.equal(open.length, 1);
    assert.equal(open[0].id, a.id);
    assert.equal(open[0].state, 'active');
    assert.ok((await d.get('/api/v1/vehicles/alarms', { token: admin })).json
      .some((x) => x.vehicle === 'V1' && x.kind === 'terminal_emergency'));
    t.close();
  }
  await d.restart('SIGTERM');
  ({ t } = await terminal(code));
  await position(t, { lat: 36.176, lon: 118.175, speed: 0, ts: Date.now(), alarm: 0 });
  a = await until(async () => { const x = await emergency(); return x && x.state === 'cleared' && x; }, 'cleared');
  assert.ok(a.cleared_at || a.state === 'cleared');
  assert.ok(!(await d.get('/api/v1/vehicles/alarms', { token: admin })).json
    .some((x) => x.kind === 'terminal_emergency'));
  t.close();
});

test('entry/exit rows and gate events survive kill -9 right after their acknowledgement', async () => {
  // a gate passage and a fire event by HTTP: 201 once durable, then the process is killed at once
  let r = await d.post('/api/v1/events/device', [
    { device: 'GATE-1', subject: 'vehicle', plate: '鲁C12345', direction: 'in', hazmat: true, id: 'g-1' },
    { device: 'FP-1', kind: 'fire', zone: 4, id: 'f-1' },
  ], { token: admin });
  assert.equal(r.status, 201, r.text);
  const ids = r.json.ids;
  await d.restart('SIGKILL');
  admin = await d.login();
  const ev = (await d.get('/api/v1/device-events?limit=100', { token: admin })).json.events;
  for (const id of ids) assert.ok(ev.some((e) => e.id === id), `event ${id} survived`);
  const occ = (await d.get('/api/v1/gates/occupancy', { token: admin })).json;
  assert.equal(occ.vehicles, 1);
  assert.equal(occ.hazmat_vehicles, 1);
  // the fire event reached the rules on the writer thread
  assert.ok((await d.get('/api/v1/alarms', { token: admin })).json.some((a) => a.source === 'FP-1' && a.rule === 'fire'));
  // redelivered after the crash: recognised, same ids
  r = await d.post('/api/v1/events/device', { device: 'GATE-1', subject: 'vehicle', plate: '鲁C12345', direction: 'in', hazmat: true, id: 'g-1' }, { token: admin });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.duplicates, 1);
  assert.deepEqual(r.json.ids, [ids[0]]);

  // a vehicle crossing the park boundary: its 0x8001 means the entry row is durable
  const { t } = await terminal(await codeOf());
  const ts = Date.now();
  await position(t, { lat: 36.166, lon: 118.170, speed: 20, ts }); // outside
  await position(t, { lat: 36.171, lon: 118.170, speed: 20, ts: ts + 1000 }); // in, south gate
  await d.restart('SIGKILL');
  admin = await d.login();
  const en = (await d.get('/api/v1/vehicles/entries', { token: admin })).json.entries;
  assert.ok(en.some((e) => e.vehicle === 'V1' && e.direction === 'in' && e.gate === 'G-GATE-S' &&
    Date.parse(e.ts) === Math.floor((ts + 1000) / 1000) * 1000), JSON.stringify(en));
  t.close();
});

test('a setpoint lowered with the CLI while serving: the next reading above it raises an alarm', async () => {
  const gasAlarm = async () => (await d.get('/api/v1/alarms', { token: admin })).json
    .find((a) => a.source === 'E1-GD-001-P' && a.rule === 'gas' && a.state !== 'closed');
  let t = Date.now();
  const write = async (v) => {
    t += 1000;
    const r = await d.post('/write?precision=ms', `gas,device=E1-GD-001 concentration=${v} ${t}`);
    assert.equal(r.status, 204, r.text);
  };
  await write(20); // below alarm1 = 25
  assert.equal(await gasAlarm(), undefined);
  // the operator lowers alarm1 to 15 with `parkwatch import` from another process
  const lowered = JSON.parse(JSON.stringify(model));
  lowered.devices.find((x) => x.id === 'E1-GD-001').points[0].setpoints.alarm1 = 15;
  const file = path.join(dir, 'lowered.json');
  writeFileSync(file, JSON.stringify(lowered));
  const logAt = d.stderr.length;
  const r = cli(['import', '--data', d.dir, file]);
  assert.equal(r.status, 0, r.stderr);
  // the daemon notices the new model generation within a few seconds and says so
  await until(() => d.stderr.slice(logAt).includes('park model changed: rules and vehicle supervision reloaded'),
    'reload logged', 8000);
  await write(20); // now above alarm1 = 15
  const a = await until(gasAlarm, 'gas alarm raised');
  assert.equal(a.condition, 'alarm1');
  assert.equal(a.threshold, 15);
});

test('an HJ 212 station onboarded with the CLI while connected is known at its next frame', async () => {
  const MN = 'NEWSTACK0042';
  const st = new Station(d.ports.hj212);
  await st.connect();
  let t = Date.now();
  const send = async () => {
    t += 1000;
    await st.write(frame(`QN=${qnOf(t)};ST=31;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=${local14(t)};a21026-Rtd=3&&`));
    await st.next(/CN=9014/);
  };
  await send();
  const known = async () => (await d.get('/api/v1/hj212/devices', { token: admin })).json.find((x) => x.mn === MN)?.known;
  assert.equal(await known(), false);
  // onboarded from another process, on the same connection (the lookup cache lives a minute)
  const onboarded = JSON.parse(JSON.stringify(model));
  onboarded.devices.push({ id: 'AQ-42', name: '新排口', kind: 'env_station', protocol: 'hj212',
    hj212: { mn: MN, password: '123456', st: '31' }, points: [] });
  const file = path.join(dir, 'onboarded.json');
  writeFileSync(file, JSON.stringify(onboarded));
  const logAt = d.stderr.length;
  const r = cli(['import', '--data', d.dir, file]);
  assert.equal(r.status, 0, r.stderr);
  await until(async () => { await send(); return await known(); }, 'known after the import', 8000);
  const me = (await d.get('/api/v1/hj212/devices', { token: admin })).json.find((x) => x.mn === MN);
  assert.equal(me.device, 'AQ-42');
  assert.ok(d.stderr.slice(logAt).includes('mod=hj212 msg="park model changed: device lookups refreshed"'));
  st.close();
});

test('an MQTT device added with the CLI while serving is mapped at its next message', async () => {
  const broker = await new Mosquitto().start();
  const d2 = await new Daemon({ model: path.join(dir, 'model.json'), set: [`mqtt.broker=127.0.0.1:${broker.port}`, 'mqtt.client_id=pw-sup'] }).start();
  try {
    const tok = await d2.login();
    await until(async () => (await d2.get('/api/v1/mqtt/status', { token: tok })).json?.connected, 'MQTT connected');
    const T = Date.now();
    const stored = async () => {
      const r = await d2.get(`/api/v1/export?match[]=${encodeURIComponent('tank_level_m{device="TK-9"}')}&start=${Math.floor(T / 1000) - 60}`, { token: tok });
      return r.text.trim().length > 0;
    };
    const dropped = async () => {
      const m = (await d2.get('/metrics')).text.split('\n').find((l) => l.startsWith('parkwatch_mqtt_messages_dropped_total{reason="unknown_device"} '));
      return m ? Number(m.split(' ')[1]) : 0;
    };
    broker.pub('park/E1/TK-9/telemetry', { ts: T, values: { level: 1 } });
    await until(async () => await dropped() >= 1, 'unknown device dropped');
    const added = JSON.parse(JSON.stringify(model));
    added.devices.push({ id: 'TK-9', name: '储罐9', kind: 'tank_sensor_set', enterprise: 'E1', protocol: 'mqtt',
      mqtt: { topic: 'park/E1/TK-9' },
      points: [{ id: 'TK-9.level', name: '液位', quantity: 'level', unit: 'm', series: 'tank_level_m{device="TK-9"}' }] });
    const file = path.join(dir, 'mqtt-added.json');
    writeFileSync(file, JSON.stringify(added));
    const r = cli(['import', '--data', d2.dir, file]);
    assert.equal(r.status, 0, r.stderr);
    let k = 0;
    await until(async () => { broker.pub('park/E1/TK-9/telemetry', { ts: T + 1000 * ++k, values: { level: 2 } }); await sleep(200); return stored(); },
      'mapped after the import', 8000);
    assert.match(d2.stderr, /mod=mqtt msg="park model changed: device mapping reloaded"/);
  } finally {
    await d2.stop();
    await broker.stop();
  }
});
