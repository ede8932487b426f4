// Connections at park scale and hostile peers, against the real daemon:
//  - more than 1,100 device connections open (fd numbers far above FD_SETSIZE = 1024; the daemon
//    is started with a soft open-file limit of 1024 and must raise it itself), a Modbus controller
//    that accepts but never answers, and the Mosquitto broker restarted: the daemon survives, the
//    Modbus device goes offline, MQTT reconnects within seconds and data flows again;
//  - the binary imports no select()/pselect() and does not link libmodbus;
//  - per-address connection limits: one address holding half-sent HJ 212 frames cannot lock out
//    a station from another address (127.0.0.2 against 127.0.0.1);
//  - a frame kept incomplete (a byte now and then, so the idle timeout never fires) is closed
//    after hj212.frame_timeout.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BIN, Daemon, ModbusServer, Mosquitto, freePort, sleep, until } from './harness.mjs';
import { frame, local14, qnOf, Station } from './hj212lib.mjs';

const MN = '010000A8900016F000169DC0'; // AQ-01 in small-park.json, PW 123456
const cleanup = [];
after(async () => { for (const f of cleanup.reverse()) await f(); });

async function metric(d, name) {
  const m = (await d.get('/metrics')).text;
  const line = m.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : 0;
}

// Opens n TCP connections to port, from the given local addresses in turn; resolves with the
// sockets once all are connected (or rejects on the first error).
async function openMany(port, n, from) {
  const socks = [];
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let k = i; k < Math.min(n, i + 100); k++) {
      batch.push(new Promise((resolve, reject) => {
        const s = net.connect({ port, host: '127.0.0.1', localAddress: from[k % from.length] }, () => resolve(s));
        s.on('error', reject);
        socks.push(s);
      }));
    }
    await Promise.all(batch);
  }
  return socks;
}

function closedWithin(sock, ms) {
  return new Promise((resolve) => {
    if (sock.destroyed || sock.readyState === 'closed') { resolve(true); return; }
    const t = setTimeout(() => resolve(false), ms);
    sock.once('close', () => { clearTimeout(t); resolve(true); });
  });
}

test('1,100 device connections, a Modbus controller that never answers, a broker restart: the daemon survives, the device goes offline, MQTT comes back', { timeout: 120000 }, async () => {
  const mb = await new ModbusServer(await freePort()).start();
  cleanup.push(() => mb.stop());
  mb.set('input', 0, 'float32', 5.5);
  await mb.sync();
  const broker = await new Mosquitto().start();
  cleanup.push(() => broker.stop());
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-conns-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'model.json');
  writeFileSync(file, JSON.stringify({
    version: 1, park: { id: 'P', name: '测试园区' }, enterprises: [{ id: 'E1', name: '一号企业' }],
    devices: [
      { id: 'GD-1', name: 'GD-1', kind: 'gas_detector', enterprise: 'E1', protocol: 'modbus',
        modbus: { host: '127.0.0.1', port: mb.port, unit: 1, poll_interval: '500ms' },
        points: [{ id: 'GD-1.c', name: 'c', quantity: 'combustible', unit: '%LEL', series: 'gas_concentration{device="GD-1"}', register: { table: 'input', address: 0, type: 'float32' }, setpoints: { alarm1: 25, alarm2: 50 } }] },
      { id: 'TK-1', name: 'TK-1', kind: 'tank_sensor_set', enterprise: 'E1', protocol: 'mqtt', mqtt: { topic: 'park/E1/TK-1' },
        points: [{ id: 'TK-1.level', name: 'level', quantity: 'level', unit: 'm', series: 'tank_level_m{device="TK-1"}' }] },
    ],
  }));
  // a webhook receiver: alarm notifications go out over libcurl from the daemon, on a socket
  // numbered above 1024 once the connections are open
  const hooks = [];
  const hookSrv = http.createServer((req, res) => {
    let b = '';
    req.on('data', (c) => { b += c; });
    req.on('end', () => { hooks.push(b); res.writeHead(204); res.end(); });
  });
  await new Promise((r) => hookSrv.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise((r) => hookSrv.close(r)));
  const prefix = process.env.PW_CONNS_PREFIX ? JSON.parse(process.env.PW_CONNS_PREFIX) : [];
  const d = new Daemon({
    model: file, keepModbusPorts: true, prefix: [...prefix, 'prlimit', '--nofile=1024:20000', '--'],
    set: [`mqtt.broker=127.0.0.1:${broker.port}`, 'mqtt.client_id=pw-conns', 'modbus.timeout=300ms', 'modbus.retries=1',
      `alarm.webhook_urls=http://127.0.0.1:${hookSrv.address().port}/hook`],
  });
  await d.start();
  cleanup.push(() => d.stop());
  const admin = await d.login();
  assert.match(d.stderr, /msg="open-file limit[^"]*" nofile=20000 was=1024/);
  const status = async () => (await d.get('/api/v1/modbus/devices', { token: admin })).json[0];
  await until(async () => (await status()).points[0].value === 5.5, { what: 'first Modbus value' });
  await until(async () => (await metric(d, 'parkwatch_mqtt_connected')) === 1, { what: 'MQTT connected' });

  // 1,100 idle JT/T 808 connections from four loopback addresses: the daemon's next sockets
  // have numbers above 1024
  const socks = await openMany(d.ports.jt808, 1100, ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']);
  cleanup.push(() => { for (const s of socks) s.destroy(); });
  await until(async () => (await metric(d, 'parkwatch_ingest_connections{proto="jt808"}')) === 1100, { what: '1100 connections held' });

  // the controller accepts and reads but never answers; the poller reconnects after every
  // timeout, on sockets above 1024
  mb.mute();
  const t0 = Date.now();
  const off = await until(async () => { const s = await status(); return !s.online && s; }, { timeout: 10000, what: 'Modbus device offline' });
  assert.ok(Date.now() - t0 < 6000, `offline after ${Date.now() - t0} ms`);
  assert.equal(off.points[0].value, null);
  assert.equal(off.points[0].quality, 34);

  // the broker goes away and comes back on the same port
  await broker.stop();
  await until(async () => (await metric(d, 'parkwatch_mqtt_connected')) === 0, { what: 'MQTT disconnect seen' });
  await sleep(500);
  await broker.start();
  const t1 = Date.now();
  await until(async () => (await metric(d, 'parkwatch_mqtt_connected')) === 1, { timeout: 15000, what: 'MQTT reconnected' });
  assert.ok(Date.now() - t1 < 10000, `reconnected after ${Date.now() - t1} ms`);
  assert.match(d.stderr, /mod=mqtt msg="disconnected; reconnecting"/);
  const ts = Date.now() - 1000;
  await until(async () => {
    broker.pub('park/E1/TK-1/telemetry', { ts, values: { level: 3.25 } });
    const r = await d.get(`/api/v1/export?match[]=${encodeURIComponent('tank_level_m{device="TK-1"}')}&start=${ts / 1000 - 60}`, { token: admin });
    return r.text.includes('3.25');
  }, { timeout: 10000, every: 1000, what: 'MQTT data stored after the restart' });

  // an alarm notification goes out by webhook
  const tw = Date.now();
  assert.equal((await d.post('/write?precision=ms', `gas,device=GD-1 concentration=80 ${tw}`)).status, 204);
  await until(() => hooks.some((h) => h.includes('GD-1')), { timeout: 10000, what: 'webhook delivered' });

  // the daemon is alive, still holds the connections, and the controller comes back
  assert.equal(d.proc.exitCode, null);
  assert.equal(await metric(d, 'parkwatch_ingest_connections{proto="jt808"}'), 1100);
  mb.set('input', 0, 'float32', 6.5);
  mb.unmute();
  await until(async () => (await status()).points[0].value === 6.5, { timeout: 10000, what: 'Modbus back' });
  assert.doesNotMatch(d.stderr, /FD_SETSIZE|buffer overflow/);
});

test('the daemon binary neither calls select() nor links libmodbus (whose waits are select())', () => {
  const nm = spawnSync('nm', ['-D', '--undefined-only', BIN], { encoding: 'utf8' });
  assert.equal(nm.status, 0, nm.stderr);
  const bad = nm.stdout.split('\n').map((l) => l.trim().split(/\s+/).pop().split('@')[0])
    .filter((sym) => /^(select|pselect|__fdelt_chk|__fdelt_warn|modbus_.*)$/.test(sym));
  assert.deepEqual(bad, []);
  const ldd = spawnSync('ldd', [BIN], { encoding: 'utf8' });
  assert.doesNotMatch(ldd.stdout, /libmodbus/);
});

test('one address cannot take every HJ 212 connection: per-address limit, a station from another address is served', async () => {
  const d = new Daemon({ set: ['hj212.max_connections=30', 'hj212.max_connections_per_address=10'] });
  await d.start();
  cleanup.push(() => d.stop());
  const admin = await d.login();
  // 40 connections from 127.0.0.2, each with a half-sent frame
  const socks = [];
  for (let i = 0; i < 40; i++) {
    const s = net.connect({ port: d.ports.hj212, host: '127.0.0.1', localAddress: '127.0.0.2' });
    s.on('error', () => {});
    s.on('connect', () => s.write('##0100QN=2026'));
    socks.push(s);
  }
  cleanup.push(() => { for (const s of socks) s.destroy(); });
  await until(async () => (await metric(d, 'parkwatch_ingest_connections_refused_per_address_total{proto="hj212"}')) >= 30, { what: 'refusals' });
  await sleep(200);
  assert.equal(await metric(d, 'parkwatch_ingest_connections{proto="hj212"}'), 10);
  assert.match(d.stderr, /msg="connection refused: per-address limit reached" peer=127\.0\.0\.2:\d+ max_connections_per_address=10/);
  // a station from 127.0.0.1 still gets in and is acknowledged
  const st = new Station(d.ports.hj212);
  await st.connect();
  const ts = Date.now() - 60000;
  const qn = qnOf(ts);
  await st.write(frame(`QN=${qn};ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=${local14(ts)};a21026-Rtd=7.5,a21026-Flag=N&&`));
  const ack = await st.next(/CN=9014/);
  assert.match(ack, new RegExp(`QN=${qn}`));
  const e = await d.get(`/api/v1/export?match[]=hj212_rtd{mn="${MN}"}&start=${ts / 1000 - 60}`, { token: admin });
  assert.match(e.text, /7\.5/);
  st.close();
});

test('a frame kept incomplete is closed after hj212.frame_timeout, even while bytes trickle in', async () => {
  const d = new Daemon({ set: ['hj212.frame_timeout=1s'] });
  await d.start();
  cleanup.push(() => d.stop());
  const s = net.connect({ port: d.ports.hj212, host: '127.0.0.1' });
  s.on('error', () => {});
  await new Promise((r) => s.on('connect', r));
  s.write('##0200QN=');
  const trickle = setInterval(() => { if (!s.destroyed) s.write('1'); }, 300);
  const closed = await closedWithin(s, 4000);
  clearInterval(trickle);
  assert.ok(closed, 'the connection with a half-sent frame was not closed');
  assert.equal(await metric(d, 'parkwatch_ingest_frame_timeouts_total{proto="hj212"}'), 1);
  // a whole frame in pieces within the deadline is fine
  const st = new Station(d.ports.hj212);
  await st.connect();
  const ts = Date.now() - 60000;
  const f = frame(`QN=${qnOf(ts)};ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=${local14(ts)};a21026-Rtd=8,a21026-Flag=N&&`);
  await st.write(f.subarray(0, 20));
  await sleep(500);
  await st.write(f.subarray(20));
  await st.next(/CN=9014/);
  // a steady stream whose every write ends inside the next frame: each frame completes within
  // the deadline, so the connection stays, for longer than frame_timeout in all
  const frames = [];
  for (let i = 0; i < 14; i++) {
    const t = ts + (i + 1) * 1000;
    frames.push(frame(`QN=${qnOf(t)};ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=${local14(t)};a21026-Rtd=${i},a21026-Flag=N&&`));
  }
  const all = Buffer.concat(frames), step = frames[0].length;
  let closedEarly = false;
  st.sock.once('close', () => { closedEarly = true; });
  // 0 .. step/2, then a frame's length at a time: every write but the last ends mid-frame
  for (let off = 0; off < all.length;) {
    const end = off === 0 ? step >> 1 : Math.min(all.length, off + step);
    await st.write(all.subarray(off, end));
    off = end;
    await sleep(200);
  }
  assert.equal(closedEarly, false, 'a connection streaming whole frames was closed');
  for (let i = 0; i < frames.length; i++) await st.next(/CN=9014/);
  st.close();
});
