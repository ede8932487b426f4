// The Modbus poller follows the park model while it runs (real libmodbus servers,
// tests/integration/modbus_server.c): `parkwatch import` from another process adds a device and
// a point and moves one point to another address and scale; within a few seconds the new values
// are stored, the moved point reads its new register, the device removed is no longer polled,
// the connection to the controller that stayed is kept, and a point that did not change misses
// or repeats no poll across the switch. A change while a controller hangs does not wait for it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, ModbusServer, cli, freePort, sleep, until } from './harness.mjs';

const exportLines = (text) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

let a, c, d, admin, dir;

const pt = (id, series, register) => ({ id, name: id, quantity: 'combustible', unit: '%LEL', series, register });
const dev = (id, port, points) => ({
  id, name: id, kind: 'gas_detector', enterprise: 'E1', protocol: 'modbus',
  modbus: { host: '127.0.0.1', port, unit: 1, poll_interval: '200ms' }, points,
});
const park = (devices) => ({
  version: 1, park: { id: 'P', name: '测试园区' }, enterprises: [{ id: 'E1', name: '一号企业' }], devices,
});

function modelBefore() {
  return park([
    dev('M1', a.port, [
      pt('M1.moved', 'mb_moved{device="M1"}', { table: 'input', address: 0, type: 'uint16' }),
      pt('M1.steady', 'mb_steady{device="M1"}', { table: 'holding', address: 10, type: 'uint16' }),
    ]),
    dev('M3', c.port, [pt('M3.c', 'mb_gone{device="M3"}', { table: 'input', address: 0, type: 'uint16' })]),
  ]);
}

function modelAfter() {
  return park([
    dev('M1', a.port, [
      pt('M1.moved', 'mb_moved{device="M1"}', { table: 'input', address: 20, type: 'uint16', scale: 0.5 }),
      pt('M1.steady', 'mb_steady{device="M1"}', { table: 'holding', address: 10, type: 'uint16' }),
      pt('M1.added', 'mb_added{device="M1"}', { table: 'input', address: 30, type: 'uint16' }),
    ]),
    dev('M2', a.port, [pt('M2.c', 'mb_new{device="M2"}', { table: 'input', address: 40, type: 'uint16' })]),
  ]);
}

async function series(sel) {
  const r = await d.get(`/api/v1/export?match[]=${encodeURIComponent(sel)}&start=${Date.now() / 1000 - 3600}`, { token: admin });
  assert.equal(r.status, 200, r.text);
  const l = exportLines(r.text);
  return l.length ? l[0] : { values: [], timestamps: [] };
}
const values = async (sel) => (await series(sel)).values;

async function status() {
  const r = await d.get('/api/v1/modbus/devices', { token: admin });
  assert.equal(r.status, 200, r.text);
  return Object.fromEntries(r.json.map((x) => [x.device, x]));
}

async function metric(name) {
  const m = (await d.get('/metrics')).text;
  const line = m.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : 0;
}

// The number of requests the server has received.
async function requests(server) {
  await server.sync();
  const all = [...server.out.matchAll(/^count (\d+)$/gm)];
  return Number(all[all.length - 1][1]);
}

before(async () => {
  a = await new ModbusServer(await freePort()).start();
  c = await new ModbusServer(await freePort()).start();
  a.set('input', 0, 'uint16', 11);
  a.set('input', 20, 'uint16', 50);
  a.set('input', 30, 'uint16', 42);
  a.set('input', 40, 'uint16', 9);
  a.set('holding', 10, 'uint16', 7);
  c.set('input', 0, 'uint16', 5);
  await a.sync();
  await c.sync();
  dir = mkdtempSync(path.join(tmpdir(), 'pw-modbus-reload-'));
  const file = path.join(dir, 'model.json');
  writeFileSync(file, JSON.stringify(modelBefore()));
  // A long response timeout: a reconnect on a loaded machine would make the kept-connection check
  // lie, and a poll of a hung controller then outlasts the time a reload waits for it (3 s).
  d = new Daemon({ model: file, keepModbusPorts: true, set: ['modbus.timeout=10s'] });
  await d.start();
  admin = await d.login();
});

after(async () => {
  await d?.stop();
  await a?.stop();
  await c?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('devices and points changed with `parkwatch import` while serving are polled within a few seconds', { timeout: 60000 }, async () => {
  await until(async () => (await values('mb_moved{device="M1"}')).length >= 2 && (await values('mb_gone{device="M3"}')).length >= 2,
    { what: 'samples before the change' });
  assert.ok((await values('mb_moved{device="M1"}')).every((v) => v === 11));
  const connects = await metric('parkwatch_modbus_connects_total');
  assert.equal(connects, 2);

  const file = path.join(dir, 'model2.json');
  writeFileSync(file, JSON.stringify(modelAfter()));
  const t0 = Date.now();
  const r = cli(['import', '--data', d.dir, '--replace', file]);
  assert.equal(r.status, 0, r.stderr);

  // the moved point reads input 20 with scale 0.5; the added point and device are stored
  await until(async () => (await values('mb_moved{device="M1"}')).includes(25), { timeout: 8000, what: 'moved point at its new address and scale' });
  const took = Date.now() - t0;
  assert.ok(took < 6000, `the change took ${took} ms`);
  await until(async () => (await values('mb_added{device="M1"}')).includes(42), { timeout: 3000, what: 'added point stored' });
  await until(async () => (await values('mb_new{device="M2"}')).includes(9), { timeout: 3000, what: 'added device stored' });
  const moved = await values('mb_moved{device="M1"}');
  const first = moved.indexOf(25);
  assert.ok(moved.slice(first).every((v) => v === 25), `old register read after the switch: ${moved}`);
  assert.ok(moved.slice(0, first).every((v) => v === 11), `${moved}`);
  assert.match(d.stderr, /mod=modbus msg="park model changed: Modbus devices reloaded" generation=\d+ .*devices=2 points=4 controllers=1 .*connections_kept=1 controllers_removed=1/);

  // the status the API shows is the new set
  const s = await until(async () => { const x = await status(); return x.M2?.points[0].value === 9 && x; }, { timeout: 3000, what: 'M2 status' });
  assert.deepEqual(Object.keys(s).sort(), ['M1', 'M2']);
  const byId = Object.fromEntries(s.M1.points.map((p) => [p.id, p]));
  assert.equal(byId['M1.moved'].value, 25);
  assert.equal(byId['M1.added'].value, 42);
  assert.equal(byId['M1.steady'].value, 7);
  assert.ok(s.M1.polls > 5, 'the device status is carried over, not reset');

  // the removed device is not polled any more; the controller that stayed was not reconnected
  const n1 = await requests(c);
  await sleep(1000);
  assert.equal(await requests(c), n1, 'the removed controller is still polled');
  assert.equal(await metric('parkwatch_modbus_connects_total'), connects);

  // the point that did not change: no poll repeated, none lost (beyond the one a switch delays)
  const steady = await series('mb_steady{device="M1"}');
  assert.ok(steady.values.every((v) => v === 7));
  const ts = steady.timestamps;
  for (let i = 1; i < ts.length; i++) {
    assert.ok(ts[i] > ts[i - 1], `timestamps not increasing at ${i}: ${ts[i - 1]} ${ts[i]}`);
    if (ts[i] > t0 - 1000) assert.ok(ts[i] - ts[i - 1] < 1000, `a gap of ${ts[i] - ts[i - 1]} ms at the switch`);
  }
  assert.ok(ts[ts.length - 1] > t0 + 1000);
});

test('a change while a controller hangs: the poll in progress is given up, the new registers are read once it answers', { timeout: 60000 }, async () => {
  const reloads = () => [...d.stderr.matchAll(/msg="park model changed: Modbus devices reloaded" .*/g)].map((m) => m[0]);
  assert.equal(reloads().length, 1);
  a.mute(); // a poll of A starts within 200 ms and waits up to modbus.timeout (10 s) for its answer
  await sleep(300);
  const m = modelAfter();
  m.devices[1].points[0].register.address = 30; // M2 now reads 42
  const nobody = await freePort(); // refused: a controller in connect backoff
  m.devices.push(dev('M4', nobody, [pt('M4.c', 'mb_refused{device="M4"}', { table: 'input', address: 0, type: 'uint16' })]));
  const file = path.join(dir, 'model3.json');
  writeFileSync(file, JSON.stringify(m));
  const t0 = Date.now();
  assert.equal(cli(['import', '--data', d.dir, '--replace', file]).status, 0);
  const line = (await until(async () => reloads().length === 2 && reloads(), { timeout: 8000, what: 'second reload' }))[1];
  assert.ok(Date.now() - t0 < 7000, `the reload waited ${Date.now() - t0} ms for a hung controller`);
  assert.match(line, /devices=3 .*controllers=2 .*polls_abandoned=1/);
  let s = await status();
  assert.deepEqual(Object.keys(s).sort(), ['M1', 'M2', 'M4']);
  assert.equal(s.M2.points[0].quality, 36, 'a point whose register changed is "not polled" until read');
  await until(async () => (await status()).M4.last_error?.match(/connect|not connected/), { timeout: 5000, what: 'M4 refused' });
  a.unmute();
  await until(async () => (await values('mb_new{device="M2"}')).includes(42), { timeout: 25000, what: 'M2 at its new address' });
  // the refused controller goes away again
  writeFileSync(file, JSON.stringify(modelAfter()));
  assert.equal(cli(['import', '--data', d.dir, '--replace', file]).status, 0);
  const last = (await until(async () => reloads().length === 3 && reloads(), { timeout: 8000, what: 'third reload' }))[2];
  assert.match(last, /devices=2 .*controllers=1 .*controllers_removed=1/);
  s = await status();
  assert.deepEqual(Object.keys(s).sort(), ['M1', 'M2']);
  await until(async () => (await values('mb_new{device="M2"}')).slice(-1)[0] === 9, { timeout: 5000, what: 'M2 back at input 40' });
  assert.deepEqual(await values('mb_refused{device="M4"}'), []);
});
