// More archive sources against a running daemon over real sockets: every JT/T 808 frame received
// exactly as it arrived (flags and escapes; answers consumed and undecodable frames too) and every
// frame parkwatch sends (0x8001, 0x8100, 0x8201) is a leaf; operator actions on alarms, silences,
// rule overrides, users and tokens are leaves written before they take effect.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, until } from './harness.mjs';
import { MSG, Terminal, frame, location, register2013 } from './jt808lib.mjs';

const PHONE = '013800000001'; // V1 in small-park.json
const PLATE_GBK = [0xc2, 0xb3, ...Buffer.from('C12345')];
let d, admin;

before(async () => {
  d = await new Daemon({ set: ['archive.checkpoint_interval=1s'] }).start();
  admin = await d.login();
});
after(async () => { await d.stop(); });

async function size() {
  const r = await d.get('/archive/checkpoint', { token: admin });
  assert.equal(r.status, 200, r.text);
  return Number(r.text.split('\n')[1]);
}

// every leaf of the tree of `n`, decoded (entry bundles: uint16 length + leaf)
async function leaves(n) {
  const out = [];
  for (let b = 0; b * 256 < n; b++) {
    const w = Math.min(256, n - b * 256);
    const p = `/archive/tile/entries/${String(b).padStart(3, '0')}${w < 256 ? `.p/${w}` : ''}`;
    const res = await fetch(d.base + p, { headers: { Authorization: `Bearer ${admin}` } });
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
async function leavesAtLeast(n) {
  const s = await until(async () => { const v = await size(); return v >= n && v; },
    { what: `a checkpoint of at least ${n} leaves`, timeout: 15000 });
  return leaves(s);
}

const KIND = { JT808_RX: 3, JT808_TX: 4, OPERATOR: 9 };

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
