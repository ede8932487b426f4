// More archive sources against a running daemon over real sockets: every JT/T 808 frame received
// exactly as it arrived (flags and escapes; answers consumed and undecodable frames too) and every
// frame parkwatch sends (0x8001, 0x8100, 0x8201) is a leaf; every MQTT message (topic NUL payload:
// telemetry, events, malformed) is a leaf; every Modbus TCP reply (the ADU, exceptions too) is a
// leaf; operator actions on alarms, silences,
// rule overrides, users and tokens are leaves written before they take effect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, ModbusServer, Mosquitto, cli, freePort, until } from './harness.mjs';
import { MSG, Terminal, frame, location, register2013 } from './jt808lib.mjs';

const PHONE = '013800000001'; // V1 in small-park.json
const PLATE_GBK = [0xc2, 0xb3, ...Buffer.from('C12345')];
let d, admin;

before(async () => {
  d = await new Daemon({ set: ['archive.checkpoint_interval=1s'] }).start();
  admin = await d.login();
});
after(async () => { await d.stop(); });

async function size(dm = d, tok = admin) {
  const r = await dm.get('/archive/checkpoint', { token: tok });
  assert.equal(r.status, 200, r.text);
  return Number(r.text.split('\n')[1]);
}

// every leaf of the tree of `n`, decoded (entry bundles: uint16 length + leaf)
async function leaves(n, dm = d, tok = admin) {
  const out = [];
  for (let b = 0; b * 256 < n; b++) {
    const w = Math.min(256, n - b * 256);
    const p = `/archive/tile/entries/${String(b).padStart(3, '0')}${w < 256 ? `.p/${w}` : ''}`;
    const res = await fetch(dm.base + p, { headers: { Authorization: `Bearer ${tok}` } });
    assert.equal(res.status, 200, p);
    const buf = Buffer.from(await res.arrayBuffer());
    for (let o = 0; o < buf.length;) {
      const len = buf.readUInt16BE(o);
      const leaf = buf.subarray(o + 2, o + 2 + len);
      const sl = leaf[10];
      out.push({ leaf, version: leaf[0], kind: leaf[1], time: Number(leaf.readBigInt64BE(2)),
        source: leaf.subarray(11, 11 + sl).toString(), bytes: leaf.subarray(11 + sl) });
      o += 2 + len;
    }
  }
  assert.equal(out.length, n);
  return out;
}

// the leaves once a checkpoint covers at least `n`
async function leavesAtLeast(n, dm = d, tok = admin) {
  const s = await until(async () => { const v = await size(dm, tok); return v >= n && v; },
    { what: `a checkpoint of at least ${n} leaves`, timeout: 15000 });
  return leaves(s, dm, tok);
}

const KIND = { JT808_RX: 3, JT808_TX: 4, MODBUS_RX: 5, MQTT_RX: 6, DEVICE_EVENT: 7, LINE_PROTOCOL: 8, OPERATOR: 9, MODBUS_TX: 11 };

test('every JT/T 808 frame received as it arrived and every frame sent is a leaf', async () => {
  const s0 = await size();
  const t = await new Terminal(d.ports.jt808, { phone: PHONE }).connect();
  const rx = [];
  const sendRaw = (f) => { rx.push(f); t.write(f); };
  const sendMsg = (id, body) => {
    const serial = t.serial++ & 0xffff;
    const f = frame({ id, phone: PHONE, serial, body });
    sendRaw(f);
    return f;
  };
  sendMsg(MSG.REGISTER, register2013({ plate: PLATE_GBK }));
  const reg = await t.next(MSG.REGISTER_REPLY);
  const code = reg.body.subarray(3);
  sendMsg(MSG.AUTH, [...code]);
  const a = await t.next(MSG.PLAT_REPLY);
  assert.equal(a.body[4], 0, 'authenticated');
  // serial 0x7e and 0x7d: the header carries escapes (7d 02, 7d 01) on the wire
  t.serial = 0x7e7d;
  const esc = sendMsg(MSG.HEARTBEAT, []);
  assert.ok(esc.includes(Buffer.from([0x7d, 0x02])) && esc.includes(Buffer.from([0x7d, 0x01])));
  const hb = await t.next(MSG.PLAT_REPLY);
  sendMsg(MSG.LOCATION, location({ lat: 36.18, lon: 118.17, ts: Date.now() }));
  const loc = await t.next(MSG.PLAT_REPLY);
  // a bad checksum: dropped, not answered, archived all the same
  const bad = Buffer.from(frame({ id: MSG.HEARTBEAT, phone: PHONE, serial: 9 }));
  bad[bad.length - 2] ^= 0x01;
  sendRaw(bad);
  // the position query parkwatch sends, and the terminal's general reply to it (consumed)
  const r = await d.post('/api/v1/vehicles/V1/locate', undefined, { token: admin });
  assert.equal(r.status, 202, r.text);
  const q = await t.next(MSG.LOCATION_QUERY);
  sendMsg(MSG.TERM_REPLY, [q.serial >> 8, q.serial & 255, 0x82, 0x01, 0]);
  // and one more exchange so the consumed reply is surely behind us
  sendMsg(MSG.HEARTBEAT, []);
  const hb2 = await t.next(MSG.PLAT_REPLY);
  t.close();
  const tx = [reg, a, hb, loc, q, hb2].map((f) => f.wire);
  const ls = await until(async () => {
    const l = await leavesAtLeast(s0 + rx.length + tx.length);
    return rx.every((f) => l.some((x) => x.kind === KIND.JT808_RX && x.bytes.equals(f))) && l;
  }, { what: 'every frame received archived', timeout: 15000 });
  for (const f of rx) {
    const leaf = ls.find((x) => x.kind === KIND.JT808_RX && x.bytes.equals(f));
    assert.ok(leaf, `received ${f.toString('hex')} archived byte for byte`);
    assert.equal(leaf.version, 1);
    assert.match(leaf.source, /^127\.0\.0\.1:\d+$/);
    assert.ok(Math.abs(leaf.time - Date.now()) < 60000);
  }
  for (const f of tx) assert.ok(ls.find((x) => x.kind === KIND.JT808_TX && x.bytes.equals(f)), `sent ${f.toString('hex')} archived`);
  // a reply's leaf comes after the frame it answers
  const at = (k, f) => ls.findIndex((x) => x.kind === k && x.bytes.equals(f));
  assert.ok(at(KIND.JT808_RX, esc) < at(KIND.JT808_TX, hb.wire));
});

// the operator leaves after `from`, decoded: { action, user, detail, body } (body after "\n")
async function operatorLeaves(from, n) {
  const ls = await leavesAtLeast(from + n);
  return ls.slice(from).filter((l) => l.kind === KIND.OPERATOR).map((l) => {
    const s = l.bytes.toString('utf8');
    const nl = s.indexOf('\n');
    return { source: l.source, ...JSON.parse(nl < 0 ? s : s.slice(0, nl)), body: nl < 0 ? undefined : s.slice(nl + 1) };
  });
}

test('alarm actions, silences and rule overrides are leaves before they take effect', async () => {
  const s0 = await size();
  const t = Date.now();
  let r = await d.post('/write?precision=ms', `gas,device=E1-GD-001 concentration=60 ${t}`);
  assert.equal(r.status, 204, r.text);
  const alarm = await until(async () => {
    const l = await d.get('/api/v1/alarms?state=active', { token: admin });
    return l.json && (l.json.alarms || l.json).find((a) => a.device === 'E1-GD-001');
  }, { what: 'a gas alarm on E1-GD-001', timeout: 15000 });
  const id = alarm.id;
  for (const [verb, body] of [['ack', { text: '已确认' }], ['comment', { text: '现场检查' }],
    ['assign', { assignee: 'sup' }]]) {
    r = await d.post(`/api/v1/alarms/${id}/${verb}`, body, { token: admin });
    assert.equal(r.status, 200, `${verb}: ${r.text}`);
  }
  // an alarm nobody sees: 404 and no leaf
  assert.equal((await d.post('/api/v1/alarms/999999/ack', {}, { token: admin })).status, 404);
  r = await d.post('/api/v1/silences', { kind: 'device', target: 'E1-GD-001', reason: '检修', duration: '2h' }, { token: admin });
  assert.equal(r.status, 201, r.text);
  const sid = r.json.id;
  r = await d.req('DELETE', `/api/v1/silences/${sid}`, { token: admin });
  assert.equal(r.status, 200, r.text);
  const ov1 = '{"gas":{"alarm1":10,"alarm2":20}}';
  const ov2 = '{"gas":{"alarm1":12,"alarm2":25}}';
  for (const ov of [ov1, ov2]) {
    r = await d.req('PUT', '/api/v1/rules/overrides/P-ARCH', { token: admin, body: ov, headers: { 'Content-Type': 'application/json' } });
    assert.equal(r.status, 200, r.text);
  }
  r = await d.req('PUT', '/api/v1/rules/overrides/P-ARCH', { token: admin, body: 'not json', headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 400, r.text);
  r = await d.req('DELETE', '/api/v1/rules/overrides/P-ARCH', { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.equal((await d.req('DELETE', '/api/v1/rules/overrides/P-NONE', { token: admin })).status, 404);
  for (const verb of ['clear', 'close']) {
    r = await d.post(`/api/v1/alarms/${id}/${verb}`, { text: '处置完毕' }, { token: admin });
    assert.equal(r.status, 200, `${verb}: ${r.text}`);
  }
  const ops = await until(async () => {
    const o = await operatorLeaves(s0, 10);
    return o.some((x) => x.action === 'alarm.close') && o;
  }, { what: 'the operator leaves', timeout: 15000 });
  const by = (a) => ops.filter((x) => x.action === a);
  const ack = by('alarm.ack');
  assert.equal(ack.length, 1, 'the 404 left no leaf');
  assert.equal(ack[0].user, 'admin');
  assert.equal(ack[0].source, 'admin');
  assert.deepEqual(ack[0].detail, { alarm: id, old_state: 'active', text: '已确认' });
  assert.deepEqual(by('alarm.comment')[0].detail.text, '现场检查');
  assert.deepEqual(by('alarm.assign')[0].detail.assignee, 'sup');
  assert.deepEqual(by('alarm.clear')[0].detail, { alarm: id, old_state: 'acknowledged', text: '处置完毕' });
  assert.deepEqual(by('alarm.close')[0].detail, { alarm: id, old_state: 'cleared', text: '处置完毕' });
  const sa = by('silence.add')[0].detail;
  assert.equal(sa.kind, 'device');
  assert.equal(sa.target, 'E1-GD-001');
  assert.equal(sa.reason, '检修');
  assert.ok(sa.expires_at > t);
  assert.deepEqual(by('silence.end')[0].detail, { silence: sid });
  const set = by('rule_override.set');
  assert.equal(set.length, 2, 'the malformed body left no leaf');
  assert.deepEqual(set[0].detail, { target: 'P-ARCH', old: null });
  assert.equal(set[0].body, ov1);
  assert.deepEqual(set[1].detail, { target: 'P-ARCH', old: JSON.parse(ov1) });
  assert.equal(set[1].body, ov2);
  const del = by('rule_override.delete');
  assert.equal(del.length, 1, 'deleting nothing left no leaf');
  assert.deepEqual(del[0].detail, { target: 'P-ARCH', old: JSON.parse(ov2) });
});

test('user and token changes are leaves, without passwords or secrets', async () => {
  const s0 = await size();
  let r = await d.post('/api/v1/users', { name: 'arch-op', password: 'arch-op-secret-pw', role: 'enterprise', enterprise: 'E1', display_name: '张三' }, { token: admin });
  assert.equal(r.status, 201, r.text);
  r = await d.post('/api/v1/tokens', { name: 'arch-tool', role: 'viewer', ttl: '30d' }, { token: admin });
  assert.equal(r.status, 201, r.text);
  const secret = r.json.token;
  r = await d.req('DELETE', '/api/v1/users/arch-op', { token: admin });
  assert.equal(r.status, 200, r.text);
  const ops = await until(async () => {
    const o = await operatorLeaves(s0, 3);
    return o.some((x) => x.action === 'user.delete') && o;
  }, { what: 'the user and token leaves', timeout: 15000 });
  const find = (a) => ops.find((x) => x.action === a);
  assert.deepEqual(find('user.add').detail, { name: 'arch-op', role: 'enterprise', unit: 'E1', display_name: '张三' });
  assert.deepEqual(find('token.create').detail, { name: 'arch-tool', role: 'viewer', unit: '', ttl_ms: 30 * 86400000, archive_writes: true });
  assert.deepEqual(find('user.delete').detail, { name: 'arch-op' });
  const all = JSON.stringify(ops);
  assert.ok(!all.includes('arch-op-secret-pw') && !all.includes(secret), 'no password or secret archived');
});

test('DELETE /api/v1/tokens/{name}: a leaf before it takes effect, the token refused at once', async () => {
  let r = await d.post('/api/v1/tokens', { name: 'arch-rev', role: 'supervisor' }, { token: admin });
  assert.equal(r.status, 201, r.text);
  const secret = r.json.token;
  assert.equal((await d.get('/api/v1/me', { token: secret })).status, 200);
  // only an admin revokes: the supervisor token itself may not
  r = await d.req('DELETE', '/api/v1/tokens/arch-rev', { token: secret });
  assert.equal(r.status, 403, r.text);
  const s0 = await size();
  r = await d.req('DELETE', '/api/v1/tokens/arch-rev', { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { status: 'ok' });
  // refused from the very next request
  r = await d.get('/api/v1/me', { token: secret });
  assert.equal(r.status, 401, r.text);
  // unknown and already revoked: 404, and no leaf
  r = await d.req('DELETE', '/api/v1/tokens/arch-rev', { token: admin });
  assert.equal(r.status, 404, r.text);
  assert.match(r.json.error, /arch-rev/);
  assert.equal((await d.req('DELETE', '/api/v1/tokens/no-such-token', { token: admin })).status, 404);
  // a later action marks the end of what this test wrote
  assert.equal((await d.post('/api/v1/users', { name: 'arch-rev-end', password: 'arch-rev-end-pw', role: 'viewer' }, { token: admin })).status, 201);
  const ops = await until(async () => {
    const o = await operatorLeaves(s0, 2);
    return o.some((x) => x.action === 'user.add' && x.detail.name === 'arch-rev-end') && o;
  }, { what: 'the token.revoke leaf', timeout: 15000 });
  const rev = ops.filter((x) => x.action === 'token.revoke');
  assert.equal(rev.length, 1, 'the 404s left no leaf');
  assert.deepEqual(rev[0].detail, { name: 'arch-rev' });
  assert.equal(rev[0].user, 'admin');
  assert.ok(ops.indexOf(rev[0]) < ops.findIndex((x) => x.action === 'user.add'));
  assert.ok(!JSON.stringify(ops).includes(secret), 'no secret archived');
});

test('every MQTT message is a leaf: its topic, a NUL, the exact payload', async () => {
  const broker = await new Mosquitto().start();
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-arch-mqtt-'));
  const model = path.join(dir, 'model.json');
  writeFileSync(model, JSON.stringify({
    version: 1, park: { id: 'P', name: '测试园区' }, enterprises: [{ id: 'E1', name: '一号企业' }],
    devices: [
      { id: 'TK-1', name: '储罐1', kind: 'tank_sensor_set', enterprise: 'E1', protocol: 'mqtt', mqtt: { topic: 'park/E1/TK-1' },
        points: [{ id: 'TK-1.level', name: '液位', quantity: 'level', unit: 'm', series: 'tank_level_m{device="TK-1"}' }] },
      { id: 'FP-1', name: '火灾报警控制器', kind: 'fire_panel', enterprise: 'E1', protocol: 'mqtt', mqtt: { topic: 'park/E1/FP-1' }, points: [] },
    ],
  }));
  const dm = await new Daemon({ model, set: [`mqtt.broker=127.0.0.1:${broker.port}`, 'mqtt.client_id=pw-arch', 'archive.checkpoint_interval=1s'] }).start();
  try {
    const tok = await dm.login();
    await until(async () => (await dm.get('/api/v1/mqtt/status', { token: tok })).json?.connected, { what: 'MQTT connected' });
    const s0 = await size(dm, tok);
    const T0 = Date.UTC(2026, 10, 23, 2, 0, 0);
    const msgs = [
      ['park/E1/TK-1/telemetry', JSON.stringify({ ts: T0, values: { level: 12.5 } })],
      ['park/E1/TK-1/telemetry', 'this is not json'],
      ['park/E9/NOPE/telemetry', JSON.stringify({ values: { level: 1 } })],
      ['park/E1/FP-1/event', JSON.stringify({ kind: 'fire', loop: 2, zone: 5, ts: T0, id: 'fp1-arch', text: '二层东侧烟感' })],
    ];
    for (const [t, p] of msgs) broker.pub(t, p);
    // stored: the telemetry value and the event
    await until(async () => {
      const r = await dm.get(`/api/v1/export?match[]=${encodeURIComponent('tank_level_m{device="TK-1"}')}&start=${T0 / 1000 - 60}`, { token: tok });
      return r.status === 200 && r.text.includes('12.5');
    }, { what: 'the telemetry stored' });
    const ls = await until(async () => {
      const l = await leavesAtLeast(s0 + msgs.length, dm, tok);
      return msgs.every(([t, p]) => l.some((x) => x.kind === KIND.MQTT_RX && x.bytes.equals(Buffer.concat([Buffer.from(t), Buffer.from([0]), Buffer.from(p)])))) && l;
    }, { what: 'every MQTT message archived', timeout: 15000 });
    const leaf = ls.find((x) => x.kind === KIND.MQTT_RX);
    assert.equal(leaf.source, `127.0.0.1:${broker.port}`);
    assert.equal(ls.filter((x) => x.kind === KIND.MQTT_RX).length, msgs.length, 'each message once');
  } finally {
    await dm.stop();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every Modbus TCP reply is a leaf: the ADU as received, exception replies too', async () => {
  const srv = await new ModbusServer(await freePort()).start();
  srv.set('input', 0, 'uint16', 0x1234);
  await srv.sync();
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-arch-mb-'));
  const model = path.join(dir, 'model.json');
  const dev = (id, address) => ({ id, name: id, kind: 'gas_detector', enterprise: 'E1', protocol: 'modbus',
    modbus: { host: '127.0.0.1', port: srv.port, unit: 1, poll_interval: '200ms' },
    points: [{ id: `${id}.c`, name: id, quantity: 'combustible', unit: '%LEL', series: `gas_concentration{device="${id}"}`,
      register: { table: 'input', address, type: 'uint16' } }] });
  writeFileSync(model, JSON.stringify({ version: 1, park: { id: 'P', name: '测试园区' }, enterprises: [{ id: 'E1', name: '一号企业' }],
    devices: [dev('GD-1', 0), dev('GD-BAD', 5000)] }));
  const dm = await new Daemon({ model, keepModbusPorts: true, set: ['modbus.timeout=200ms', 'archive.checkpoint_interval=1s'] }).start();
  try {
    const tok = await dm.login();
    const good = Buffer.from([0x00, 0x00, 0x00, 0x05, 0x01, 0x04, 0x02, 0x12, 0x34]); // after the transaction id
    const exc = Buffer.from([0x00, 0x00, 0x00, 0x03, 0x01, 0x84, 0x02]); // illegal data address
    const mb = (l) => l.filter((x) => x.kind === KIND.MODBUS_RX);
    const ls = await until(async () => {
      const l = mb(await leaves(await size(dm, tok), dm, tok));
      return l.some((x) => x.bytes.subarray(2).equals(good)) && l.some((x) => x.bytes.subarray(2).equals(exc)) && l;
    }, { what: 'a good and an exception reply archived', timeout: 15000 });
    assert.ok(ls.every((x) => x.source === `127.0.0.1:${srv.port}`));
    // the requests parkwatch sent (read input registers 0 and 5000, one each), each before its reply
    const all = await leaves(await size(dm, tok), dm, tok);
    const req = (addr) => Buffer.from([0x00, 0x00, 0x00, 0x06, 0x01, 0x04, addr >> 8, addr & 255, 0x00, 0x01]);
    for (const addr of [0, 5000]) {
      const i = all.findIndex((x) => x.kind === KIND.MODBUS_TX && x.bytes.subarray(2).equals(req(addr)));
      assert.ok(i >= 0, `the request for register ${addr} archived`);
      assert.equal(all[i].source, `127.0.0.1:${srv.port}`);
      const tid = all[i].bytes.readUInt16BE(0);
      const j = all.findIndex((x) => x.kind === KIND.MODBUS_RX && x.bytes.readUInt16BE(0) === tid);
      assert.ok(j > i, 'the reply after its request');
    }
    // the value the reply carried is stored, and durable with its leaf
    const r = await dm.get(`/api/v1/export?match[]=${encodeURIComponent('gas_concentration{device="GD-1"}')}&start=${Date.now() / 1000 - 3600}`, { token: tok });
    assert.match(r.text, /4660/);
  } finally {
    await dm.stop();
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('device events posted over HTTP are a leaf: the body as received, before they are stored', async () => {
  // a fire panel in the model
  const model = JSON.parse((await d.get('/api/v1/model/export', { token: admin })).text);
  model.devices.push({ id: 'FP-ARCH', name: '火灾报警控制器', kind: 'fire_panel', enterprise: 'E1', protocol: 'mqtt', mqtt: { topic: 'park/E1/FP-ARCH' }, points: [] });
  let r = await d.post('/api/v1/model/import', JSON.stringify(model), { token: admin, headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 200, r.text);
  const s0 = await size();
  const body = JSON.stringify([{ device: 'FP-ARCH', kind: 'fire', loop: 1, zone: 3, id: 'arch-ev-1', ts: Date.now(), text: '一层西侧手报' }]);
  r = await d.post('/api/v1/events/device', body, { token: admin, headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 201, r.text);
  // refused before it is archived: no leaf
  r = await d.post('/api/v1/events/device', '{"device":"NOPE","kind":"fire"}', { token: admin, headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 400, r.text);
  // a body larger than one leaf: 413, nothing stored
  const many = JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ device: 'FP-ARCH', kind: 'fault', id: `big-${i}`, text: 'x'.repeat(150) })));
  r = await d.post('/api/v1/events/device', many, { token: admin, headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 413, r.text);
  const ls = await leavesAtLeast(s0 + 1);
  const ev = ls.slice(s0).filter((x) => x.kind === KIND.DEVICE_EVENT);
  assert.equal(ev.length, 1, 'one leaf: the accepted request');
  assert.equal(ev[0].bytes.toString('utf8'), body);
  assert.match(ev[0].source, /^127\.0\.0\.1(:\d+)?$/);
  const q = await d.get('/api/v1/device-events?device=FP-ARCH', { token: admin });
  assert.ok(!q.text.includes('big-0'), 'the refused body stored nothing');
  assert.ok(q.text.includes('arch-ev-1'), q.text);
});

test('/write bodies are leaves in the samples\' commit (split after line ends); tokens may opt out', async () => {
  const s0 = await size();
  const t = Date.now();
  const small = `arch_lp,device=D1 v=1 ${t}\narch_lp,device=D2 v=2 ${t}\n`;
  let r = await d.post('/write?precision=ms', small, { token: admin });
  assert.equal(r.status, 204, r.text);
  // a body of ~200 KB: several leaves, each ending at a line end, together the body
  const lines = [];
  for (let i = 0; i < 3000; i++) lines.push(`arch_lp_big,device=D${i % 50},site=s${i % 7} a=${i},b=${i * 2},c=${i * 3}.5,d=${i % 13} ${t + i}`);
  const bigBody = lines.join('\n') + '\n';
  assert.ok(bigBody.length > 3 * 65535);
  r = await d.post('/write?precision=ms', bigBody, { token: admin });
  assert.equal(r.status, 204, r.text);
  // tokens: archived by default, not with archive_writes=false (API) or --no-archive-writes (CLI)
  r = await d.post('/api/v1/tokens', { name: 'arch-bulk', role: 'admin', archive_writes: false }, { token: admin });
  assert.equal(r.status, 201, r.text);
  const bulk = r.json.token;
  r = await d.post('/api/v1/tokens', { name: 'arch-dev', role: 'admin' }, { token: admin });
  assert.equal(r.status, 201, r.text);
  const dev = r.json.token;
  assert.equal((await d.post('/api/v1/tokens', { name: 'arch-x', role: 'admin', archive_writes: 'no' }, { token: admin })).status, 400);
  const c = cli(['token', 'create', '--data', d.dir, '--name', 'arch-cli-bulk', '--role', 'admin', '--no-archive-writes']);
  assert.equal(c.status, 0, c.stderr);
  const cliBulk = c.stdout.trim();
  const bodies = { bulk: `arch_lp_tok,t=bulk v=1 ${t}\n`, dev: `arch_lp_tok,t=dev v=1 ${t}\n`, cli: `arch_lp_tok,t=cli v=1 ${t}\n` };
  for (const [k, tok] of [['bulk', bulk], ['dev', dev], ['cli', cliBulk]]) {
    r = await d.post('/write?precision=ms', bodies[k], { token: tok });
    assert.equal(r.status, 204, `${k}: ${r.text}`);
  }
  const ls = await until(async () => {
    const l = await leavesAtLeast(s0 + 5);
    return l.slice(s0).some((x) => x.kind === KIND.LINE_PROTOCOL && x.bytes.toString() === bodies.dev) && l;
  }, { what: 'the /write leaves', timeout: 15000 });
  const lp = ls.slice(s0).filter((x) => x.kind === KIND.LINE_PROTOCOL);
  assert.ok(lp.some((x) => x.bytes.toString() === small), 'the small body, one leaf');
  const pieces = lp.filter((x) => x.bytes.toString().startsWith('arch_lp_big') || (!x.bytes.toString().startsWith('arch_lp') && x.bytes.toString().includes('arch_lp_big')));
  assert.ok(pieces.length >= 3, `the big body in ${pieces.length} pieces`);
  assert.equal(Buffer.concat(pieces.map((x) => x.bytes)).toString(), bigBody);
  for (const p of pieces) assert.ok(p.bytes.length <= 65535 && p.bytes[p.bytes.length - 1] === 0x0a, 'cut after a line end');
  // consecutive leaves of one batch
  const at = ls.indexOf(pieces[0]);
  for (let i = 1; i < pieces.length; i++) assert.equal(ls.indexOf(pieces[i]), at + i);
  assert.ok(!lp.some((x) => x.bytes.toString() === bodies.bulk), 'archive_writes=false: not archived');
  assert.ok(!lp.some((x) => x.bytes.toString() === bodies.cli), '--no-archive-writes: not archived');
  const tc = ls.slice(s0).filter((x) => x.kind === KIND.OPERATOR).map((x) => JSON.parse(x.bytes.toString().split('\n')[0])).filter((x) => x.action === 'token.create');
  assert.equal(tc.find((x) => x.detail.name === 'arch-bulk').detail.archive_writes, false);
  assert.equal(tc.find((x) => x.detail.name === 'arch-dev').detail.archive_writes, true);
  // the samples are stored all the same
  const e = await d.get(`/api/v1/export?match[]=${encodeURIComponent('arch_lp_tok_v')}&start=${t / 1000 - 60}`, { token: admin });
  assert.equal(e.text.trim().split('\n').length, 3, e.text);
});

test('setpoint changes (old and new), JT/T 808 terminal resets and command-line actions are leaves', async () => {
  const s0 = await size();
  const model = JSON.parse((await d.get('/api/v1/model/export', { token: admin })).text);
  const pt = model.devices.find((x) => x.id === 'E2-GD-001').points[0];
  const old = { ...pt.setpoints };
  pt.setpoints = { ...pt.setpoints, alarm1: 8.5 };
  let r = await d.post('/api/v1/model/import', JSON.stringify(model), { token: admin, headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 200, r.text);
  r = await d.post(`/api/v1/jt808/terminals/${PHONE}/reset`, { reason: '更换终端' }, { token: admin });
  assert.ok(r.status === 200 || r.status === 404, r.text);
  const resetOk = r.status === 200;
  const resetPhone = r.json?.phone;
  // the command line, while the daemon runs: spooled, appended by the daemon
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-arch-cli-'));
  try {
    pt.setpoints = { ...pt.setpoints, alarm1: 9 };
    writeFileSync(path.join(dir, 'm.json'), JSON.stringify(model));
    let c = cli(['import', '--data', d.dir, path.join(dir, 'm.json')]);
    assert.equal(c.status, 0, c.stderr);
    c = cli(['user', 'add', '--data', d.dir, 'arch-cli-user', '--role', 'viewer'], { env: { PARKWATCH_PASSWORD: 'arch-cli-user-pw' } });
    assert.equal(c.status, 0, c.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ops = await until(async () => {
    const o = await operatorLeaves(s0, 4);
    return o.some((x) => x.action === 'user.add' && x.user.startsWith('cli:')) && o.filter((x) => x.action === 'setpoint.change').length >= 2 && o;
  }, { what: 'the setpoint, reset and command-line leaves', timeout: 30000 });
  const sp = ops.filter((x) => x.action === 'setpoint.change');
  assert.deepEqual(sp[0].detail.changes, [{ point: 'E2-GD-001-P', old, new: { ...old, alarm1: 8.5 } }]);
  assert.equal(sp[0].user, 'admin');
  assert.deepEqual(sp[1].detail.changes, [{ point: 'E2-GD-001-P', old: { ...old, alarm1: 8.5 }, new: { ...old, alarm1: 9 } }]);
  assert.match(sp[1].user, /^cli:/);
  const imp = ops.filter((x) => x.action === 'model.import' && x.user.startsWith('cli:'));
  assert.equal(imp.length, 1);
  assert.equal(imp[0].detail.file, 'm.json');
  assert.equal(JSON.parse(imp[0].body).devices.find((x) => x.id === 'E2-GD-001').points[0].setpoints.alarm1, 9);
  const ua = ops.find((x) => x.action === 'user.add' && x.user.startsWith('cli:'));
  assert.deepEqual(ua.detail, { name: 'arch-cli-user', role: 'viewer', unit: '', display_name: '' });
  assert.ok(!JSON.stringify(ops).includes('arch-cli-user-pw'), 'no password');
  if (resetOk) assert.deepEqual(ops.find((x) => x.action === 'jt808.reset').detail, { phone: resetPhone, reason: '更换终端' });
  // the command line's leaves come before the changes took effect... and the spool is empty again
  const { readdirSync } = await import('node:fs');
  assert.deepEqual(readdirSync(path.join(d.dir, 'archive', 'spool')).filter((f) => f.endsWith('.leaf')), []);
});

test('setpoint changes are durable before the import takes effect: when they cannot be written, nothing changes', async () => {
  const exp = async () => JSON.parse((await d.get('/api/v1/model/export', { token: admin })).text);
  const imp = (m, q = '') => d.post(`/api/v1/model/import${q}`, JSON.stringify(m), { token: admin, headers: { 'Content-Type': 'application/json' } });
  const alarm1 = async () => (await exp()).devices.find((x) => x.id === 'E2-GD-001').points[0].setpoints.alarm1;
  const model = await exp();
  const pt = model.devices.find((x) => x.id === 'E2-GD-001').points[0];
  const before = pt.setpoints.alarm1;
  // the leaves of an import's setpoint changes are written before its COMMIT; make that fail
  const spool = path.join(d.dir, 'archive', 'spool'), aside = `${spool}.aside`;
  const had = existsSync(spool);
  if (had) renameSync(spool, aside);
  writeFileSync(spool, 'not a directory');
  let r;
  try {
    pt.setpoints = { ...pt.setpoints, alarm1: before + 1.25 };
    r = await imp(model);
    assert.equal(r.status, 503, r.text);
    assert.match(r.json.error, /setpoint changes.*nothing changed/);
    assert.equal(await alarm1(), before, 'the import was rolled back');
    // the same over a CSV ledger of points
    const csv = `id,device,name,quantity,unit,series,alarm1\n${pt.id},E2-GD-001,${pt.name},${pt.quantity},${pt.unit},"${pt.series.replace(/"/g, '""')}",${before + 2}\n`;
    r = await d.post('/api/v1/model/import?csv=points', csv, { token: admin, headers: { 'Content-Type': 'text/csv' } });
    assert.equal(r.status, 503, r.text);
    assert.equal(await alarm1(), before);
    // an import that changes no setpoint has nothing to write first
    pt.setpoints = { ...pt.setpoints, alarm1: before };
    r = await imp(model);
    assert.equal(r.status, 200, r.text);
  } finally {
    rmSync(spool, { force: true });
    if (had) renameSync(aside, spool);
  }
  const s0 = await size();
  pt.setpoints = { ...pt.setpoints, alarm1: before + 1.25 };
  r = await imp(model);
  assert.equal(r.status, 200, r.text);
  assert.equal(await alarm1(), before + 1.25);
  const ops = await until(async () => {
    const o = await operatorLeaves(s0, 2);
    return o.some((x) => x.action === 'setpoint.change') && o;
  }, { what: 'the setpoint.change leaf', timeout: 30000 });
  const sp = ops.filter((x) => x.action === 'setpoint.change');
  assert.equal(sp.length, 1, JSON.stringify(sp));
  assert.deepEqual(sp[0].detail.changes.map((c) => [c.point, c.old.alarm1, c.new.alarm1]), [[pt.id, before, before + 1.25]]);
});

test('a retention change is a leaf with the old and the new value, before the store applies it', async () => {
  const dm = await new Daemon({ set: ['archive.checkpoint_interval=1s'] }).start();
  try {
    const tok = await dm.login();
    dm.args.push('--set', 'storage.retention=1y');
    await dm.restart();
    const changes = (l) => l.filter((x) => x.kind === KIND.OPERATOR).map((x) => ({ source: x.source, ...JSON.parse(x.bytes.toString().split('\n')[0]) })).filter((x) => x.action === 'setting.change' && x.detail.key === 'storage.retention');
    const ch = await until(async () => { const c = changes(await leaves(await size(dm, tok), dm, tok)); return c.length >= 2 && c; },
      { what: 'the retention change signed', timeout: 15000 });
    assert.equal(ch.length, 2, JSON.stringify(ch));
    assert.deepEqual(ch[0].detail, { key: 'storage.retention', old: null, new: ch[0].detail.new });
    assert.deepEqual(ch[1].detail, { key: 'storage.retention', old: ch[0].detail.new, new: ch[1].detail.new });
    assert.notEqual(ch[1].detail.new, ch[0].detail.new);
    assert.equal(ch[1].source, 'config');
    await dm.restart(); // unchanged: no leaf
    const ls2 = await leaves(await size(dm, tok), dm, tok);
    assert.equal(ls2.filter((x) => x.kind === KIND.OPERATOR && x.bytes.toString().includes('"key":"storage.retention"')).length, 2);
    // archive.min_retention, which bounds pruning, is recorded the same way
    assert.ok(ls2.some((x) => x.kind === KIND.OPERATOR && x.bytes.toString().includes('"key":"archive.min_retention"')));
  } finally {
    await dm.stop();
  }
});
