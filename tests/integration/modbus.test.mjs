// Modbus TCP against real libmodbus servers (tests/integration/modbus_server.c): register maps
// decoded with type, word order, scale and offset; an exception for one point does not disturb
// the others; a server that stops answering makes its devices go offline without storing anything
// false, and they come back by themselves; a server that goes away is reconnected with backoff.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, ModbusServer, freePort, sleep, until } from './harness.mjs';

const exportLines = (text) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

let a, b, d, admin, ent2, dir;

function model(portA, portB) {
  const dev = (id, ent, port, points) => ({
    id, name: id, kind: 'gas_detector', enterprise: ent, protocol: 'modbus',
    modbus: { host: '127.0.0.1', port, unit: 1, poll_interval: '200ms' }, points,
  });
  const pt = (id, series, register) => ({ id, name: id, quantity: 'combustible', unit: '%LEL', series, register });
  return {
    version: 1,
    park: { id: 'P', name: '测试园区' },
    enterprises: [{ id: 'E1', name: '一号企业' }, { id: 'E2', name: '二号企业' }],
    devices: [
      dev('GD-1', 'E1', portA, [pt('GD-1.c', 'gas_concentration{device="GD-1"}', { table: 'input', address: 0, type: 'float32', word_order: 'big' })]),
      dev('GD-2', 'E1', portA, [pt('GD-2.c', 'gas_concentration{device="GD-2"}', { table: 'input', address: 2, type: 'float32', word_order: 'little', scale: 2, offset: 1 })]),
      dev('GD-3', 'E2', portA, [
        pt('GD-3.a', 'reg_int16{device="GD-3"}', { table: 'holding', address: 10, type: 'int16', scale: 0.1 }),
        pt('GD-3.b', 'reg_uint16{device="GD-3"}', { table: 'holding', address: 11, type: 'uint16' }),
        pt('GD-3.c', 'reg_int32{device="GD-3"}', { table: 'holding', address: 12, type: 'int32', word_order: 'little' }),
        pt('GD-3.d', 'reg_uint32{device="GD-3"}', { table: 'holding', address: 14, type: 'uint32' }),
        pt('GD-3.e', 'reg_coil{device="GD-3"}', { table: 'coil', address: 5 }),
      ]),
      dev('GD-BAD', 'E1', portA, [pt('GD-BAD.c', 'gas_concentration{device="GD-BAD"}', { table: 'input', address: 5000, type: 'float32' })]),
      dev('GD-4', 'E2', portB, [pt('GD-4.c', 'gas_concentration{device="GD-4"}', { table: 'input', address: 0, type: 'uint16' })]),
    ],
  };
}

async function values(sel) {
  const r = await d.get(`/api/v1/export?match[]=${encodeURIComponent(sel)}&start=${Date.now() / 1000 - 3600}`, { token: admin });
  assert.equal(r.status, 200, r.text);
  const l = exportLines(r.text);
  return l.length ? l[0].values : [];
}

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

before(async () => {
  a = await new ModbusServer(await freePort()).start();
  b = await new ModbusServer(await freePort()).start();
  a.set('input', 0, 'float32', 12.5);
  a.set('input', 2, 'float32', 3.25, 'little');
  a.set('holding', 10, 'int16', -55);
  a.set('holding', 11, 'uint16', 65000);
  a.set('holding', 12, 'int32', -100000, 'little');
  a.set('holding', 14, 'uint32', 3000000000);
  a.set('coil', 5, 1);
  b.set('input', 0, 'uint16', 7);
  await a.sync();
  await b.sync();
  dir = mkdtempSync(path.join(tmpdir(), 'pw-modbus-'));
  const file = path.join(dir, 'model.json');
  writeFileSync(file, JSON.stringify(model(a.port, b.port)));
  d = new Daemon({ model: file, keepModbusPorts: true, set: ['modbus.timeout=200ms', 'modbus.retries=1', 'modbus.offline_after=2'] });
  await d.start();
  admin = await d.login();
  assert.equal((await d.post('/api/v1/users', { name: 'ent2', password: 'ent2-password', role: 'enterprise', enterprise: 'E2' }, { token: admin })).status, 201);
  ent2 = await d.login('ent2', 'ent2-password');
});

after(async () => {
  await d.stop();
  await a.stop();
  await b.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('registers are decoded by type, word order, scale and offset and stored with quality 0', async () => {
  await until(async () => (await values('gas_concentration{device="GD-1"}')).length >= 2, { what: 'GD-1 samples' });
  assert.ok((await values('gas_concentration{device="GD-1"}')).every((v) => v === 12.5));
  assert.equal((await values('gas_concentration{device="GD-2"}'))[0], 3.25 * 2 + 1);
  assert.equal((await values('reg_int16{device="GD-3"}'))[0], -5.5);
  assert.equal((await values('reg_uint16{device="GD-3"}'))[0], 65000);
  assert.equal((await values('reg_int32{device="GD-3"}'))[0], -100000);
  assert.equal((await values('reg_uint32{device="GD-3"}'))[0], 3000000000);
  assert.equal((await values('reg_coil{device="GD-3"}'))[0], 1);
  assert.equal((await values('gas_concentration{device="GD-4"}'))[0], 7);
  const s = await status();
  assert.equal(s['GD-1'].online, true);
  assert.equal(s['GD-1'].points[0].quality, 0);
  assert.equal(s['GD-1'].points[0].value, 12.5);
  // new values are picked up at the next poll
  a.set('input', 0, 'float32', 30.75);
  await until(async () => (await values('gas_concentration{device="GD-1"}')).includes(30.75), { what: 'new value' });
});

test('a point the controller refuses (exception) fails only its device: offline, nothing stored', async () => {
  const s = await until(async () => { const x = await status(); return x['GD-BAD'].online === false && x; }, { what: 'GD-BAD offline' });
  assert.equal(s['GD-BAD'].points[0].quality, 34); // offline
  assert.equal(s['GD-BAD'].points[0].value, null);
  assert.match(s['GD-BAD'].last_error, /input 5000\+2 unit 1: Illegal data address/);
  assert.ok(s['GD-BAD'].consecutive_failures >= 2);
  assert.equal(s['GD-1'].online, true);
  assert.deepEqual(await values('gas_concentration{device="GD-BAD"}'), []);
  assert.match(d.stderr, /msg="device offline" device=GD-BAD/);
  assert.ok(await metric('parkwatch_modbus_read_errors_total{reason="exception"}') >= 2);
});

test('contiguous registers are read together: one request per run', async () => {
  // controller A: input 0..3 (GD-1, GD-2), input 5000..5001, holding 10..15, coil 5 = 4 runs
  const r0 = await metric('parkwatch_modbus_reads_total');
  const p0 = await metric('parkwatch_modbus_polls_total{result="failed"}') + await metric('parkwatch_modbus_polls_total{result="ok"}');
  await sleep(1000);
  const r1 = await metric('parkwatch_modbus_reads_total');
  const p1 = await metric('parkwatch_modbus_polls_total{result="failed"}') + await metric('parkwatch_modbus_polls_total{result="ok"}');
  // GD-BAD's run is retried once (modbus.retries=1): 5 requests per poll of A, 1 per poll of B
  assert.ok(p1 - p0 >= 4, `polls ${p1 - p0}`);
  assert.ok((r1 - r0) / (p1 - p0) <= 3.5, `reads per poll ${(r1 - r0) / (p1 - p0)}`);
});

test('a server that stops answering: its devices go offline, nothing false is stored, they come back', async () => {
  const before = (await values('gas_concentration{device="GD-1"}')).length;
  a.mute();
  const s = await until(async () => { const x = await status(); return !x['GD-1'].online && !x['GD-3'].online && x; }, { timeout: 15000, what: 'offline' });
  assert.equal(s['GD-1'].points[0].quality, 34);
  assert.equal(s['GD-1'].points[0].value, null); // no current value
  assert.equal(s['GD-1'].points[0].last_value, 30.75); // the last good value, kept with its time
  assert.ok(s['GD-1'].points[0].last_ok_at);
  assert.match(s['GD-1'].last_error, /Connection timed out/);
  assert.equal(s['GD-4'].online, true); // the other controller is unaffected
  assert.ok(await metric('parkwatch_modbus_devices_offline') >= 3);
  const during = (await values('gas_concentration{device="GD-1"}')).length;
  await sleep(1000);
  assert.equal((await values('gas_concentration{device="GD-1"}')).length, during, 'no samples while muted');
  assert.ok(during - before <= 2);
  assert.ok((await values('gas_concentration{device="GD-1"}')).every((v) => Number.isFinite(v)));
  a.set('input', 0, 'float32', 8);
  a.unmute();
  const back = await until(async () => { const x = await status(); return x['GD-1'].online && x; }, { timeout: 15000, what: 'back online' });
  assert.equal(back['GD-1'].points[0].quality, 0);
  await until(async () => (await values('gas_concentration{device="GD-1"}')).includes(8), { what: 'value after recovery' });
  assert.match(d.stderr, /msg="device back online" device=GD-1/);
  // enterprise scope
  const mine = await d.get('/api/v1/modbus/devices', { token: ent2 });
  assert.deepEqual(mine.json.map((x) => x.device).sort(), ['GD-3', 'GD-4']);
});

test('a server that goes away is reconnected by itself', async () => {
  const port = b.port;
  await b.stop();
  await until(async () => !(await status())['GD-4'].online, { timeout: 10000, what: 'GD-4 offline' });
  assert.match((await status())['GD-4'].last_error, /connect|not connected/);
  b = await new ModbusServer(port).start();
  b.set('input', 0, 'uint16', 99);
  await b.sync();
  await until(async () => (await values('gas_concentration{device="GD-4"}')).includes(99), { timeout: 20000, what: 'reconnected' });
  assert.equal((await status())['GD-4'].online, true);
  assert.ok(await metric('parkwatch_modbus_connects_total') >= 3);
});

test('a controller that accepts but never answers (default timing, 1 s polls): offline within a few polls, no old value shown as current', { timeout: 60000 }, async () => {
  const c = await new ModbusServer(await freePort()).start();
  c.set('input', 0, 'float32', 4.5);
  await c.sync();
  const dir2 = mkdtempSync(path.join(tmpdir(), 'pw-modbus-live-'));
  const file = path.join(dir2, 'model.json');
  const m = model(c.port, c.port);
  m.devices = [{ ...m.devices[0], modbus: { host: '127.0.0.1', port: c.port, unit: 1, poll_interval: '1s' } }];
  writeFileSync(file, JSON.stringify(m));
  // modbus.timeout=1s, modbus.retries=2, modbus.offline_after=3: the defaults
  const dl = new Daemon({ model: file, keepModbusPorts: true });
  await dl.start();
  try {
    const tok = await dl.login();
    const st = async () => (await dl.get('/api/v1/modbus/devices', { token: tok })).json[0];
    await until(async () => (await st()).points[0].value === 4.5, { what: 'first value' });
    c.mute();
    const t0 = Date.now();
    // from the first failed poll on, the point has no current value and a bad quality
    const s1 = await until(async () => { const s = await st(); return s.points[0].value === null && s; }, { timeout: 10000, what: 'no current value' });
    const noValueAfter = Date.now() - t0;
    assert.ok(noValueAfter < 3000, `the old value was shown as current for ${noValueAfter} ms`);
    assert.ok(s1.points[0].quality === 33 || s1.points[0].quality === 34, `quality ${s1.points[0].quality}`);
    assert.equal(s1.points[0].last_value, 4.5);
    const ui = async () => (await dl.get('/api/v1/ui/device-status', { token: tok })).json.devices.find((x) => x.id === 'GD-1');
    assert.equal((await ui()).online, true);
    await until(async () => !(await st()).online, { timeout: 40000, what: 'offline' });
    const offlineAfter = Date.now() - t0;
    // 3 failed polls of 1 s (~3-4 s); the bound leaves room for a loaded machine and is still far
    // below the 32 s it took before
    assert.ok(offlineAfter < 10000, `offline only after ${offlineAfter} ms (3 polls of 1 s)`);
    // what the web UI reads: the device is offline now, not once its data is 5 minutes old
    const u = await ui();
    assert.equal(u.online, false);
    assert.ok(u.last_seen <= t0 + 1000, 'the last sample keeps its own (old) time');
    assert.match(dl.stderr, /msg="device offline" device=GD-1 .*err="read input 0\+2 unit 1: Connection timed out"/);
  } finally {
    await dl.stop();
    await c.stop();
    rmSync(dir2, { recursive: true, force: true });
  }
});
