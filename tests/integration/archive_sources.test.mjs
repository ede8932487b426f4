// More archive sources against a running daemon over real sockets: every JT/T 808 frame received
// exactly as it arrived (flags and escapes; answers consumed and undecodable frames too) and every
// frame parkwatch sends (0x8001, 0x8100, 0x8201) is a leaf; every MQTT message (topic NUL payload:
// telemetry, events, malformed) is a leaf; every Modbus TCP reply (the ADU, exceptions too) is a
// leaf; operator actions on alarms, silences,
// rule overrides, users and tokens are leaves written before they take effect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, ModbusServer, Mosquitto, freePort, until } from './harness.mjs';
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

const KIND = { JT808_RX: 3, JT808_TX: 4, MODBUS_RX: 5, MQTT_RX: 6, OPERATOR: 9 };

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
  assert.deepEqual(find('token.create').detail, { name: 'arch-tool', role: 'viewer', unit: '', ttl_ms: 30 * 86400000 });
  assert.deepEqual(find('user.delete').detail, { name: 'arch-op' });
  const all = JSON.stringify(ops);
  assert.ok(!all.includes('arch-op-secret-pw') && !all.includes(secret), 'no password or secret archived');
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
    // the value the reply carried is stored, and durable with its leaf
    const r = await dm.get(`/api/v1/export?match[]=${encodeURIComponent('gas_concentration{device="GD-1"}')}&start=${Date.now() / 1000 - 3600}`, { token: tok });
    assert.match(r.text, /4660/);
  } finally {
    await dm.stop();
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
