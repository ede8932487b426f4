// Per-park accounts at the province hub (`parkwatch uplink setup --role hub`, docs/province.md):
// each park's leaf authenticates into its own account, so park A's credentials cannot publish
// into park B's subjects or reach park B's JetStream API; the PROVINCE account reaches both
// through imports. And a park that rewrites its own stream on its own machine to carry another
// park's subjects gets nothing stored at the province. Real nats-servers, a minimal NATS client
// over TCP written here (the text protocol: CONNECT, SUB, PUB/HPUB, MSG/HMSG, PING/PONG).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { Daemon, cli, freePort, sleep, until } from './harness.mjs';

const cleanups = [];
after(async () => { for (const f of cleanups.reverse()) await f(); });

class Nats {
  constructor(setup) { this.setup = setup; this.dir = mkdtempSync(path.join(tmpdir(), 'pw-nats-')); this.log = ''; }
  async start(extra = []) {
    this.port = await freePort();
    this.conf = path.join(this.dir, 'nats.conf');
    const r = cli(['uplink', 'setup', ...this.setup, '--port', String(this.port), '--store', path.join(this.dir, 'js'), '-o', this.conf, ...extra]);
    assert.equal(r.status, 0, r.stderr);
    this.proc = spawn('nats-server', ['-c', this.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr.on('data', (d) => { this.log += d; });
    this.exited = new Promise((res) => this.proc.on('exit', res));
    let code;
    this.exited.then((c) => { code = c ?? 'signal'; });
    await until(() => { if (code !== undefined) throw new Error(`nats-server exited:\n${this.log}`); return this.log.includes('Server is ready'); }, { timeout: 60000, what: 'nats-server' });
    return this;
  }
  async stop() { if (this.proc.exitCode === null && this.proc.signalCode === null) { this.proc.kill('SIGTERM'); await this.exited; } rmSync(this.dir, { recursive: true, force: true }); }
}

// The smallest NATS client: enough for subscribing, publishing (with headers) and requests.
class Client {
  static async connect(port, opts = {}) {
    const c = new Client();
    c.sock = net.connect(port, '127.0.0.1');
    c.buf = Buffer.alloc(0); c.subs = new Map(); c.sid = 0; c.pongs = []; c.errors = [];
    c.sock.on('data', (d) => { c.buf = Buffer.concat([c.buf, d]); c.parse(); });
    c.sock.on('error', () => {});
    await new Promise((res, rej) => { c.sock.once('connect', res); c.sock.once('error', rej); });
    c.sock.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, headers: true, no_responders: true, ...opts })}\r\n`);
    await c.flush();
    return c;
  }
  parse() {
    for (;;) {
      const nl = this.buf.indexOf('\r\n');
      if (nl < 0) return;
      const line = this.buf.subarray(0, nl).toString();
      const [op, ...a] = line.split(' ');
      if (op === 'MSG' || op === 'HMSG') {
        const total = Number(a[a.length - 1]);
        const hdr = op === 'HMSG' ? Number(a[a.length - 2]) : 0;
        if (this.buf.length < nl + 2 + total + 2) return;
        const body = this.buf.subarray(nl + 2, nl + 2 + total);
        this.buf = this.buf.subarray(nl + 2 + total + 2);
        const reply = (op === 'MSG' ? a.length === 4 : a.length === 5) ? a[2] : null;
        const m = { subject: a[0], reply, headers: body.subarray(0, hdr).toString(), data: body.subarray(hdr) };
        const fn = this.subs.get(a[1]);
        if (fn) fn(m);
        continue;
      }
      this.buf = this.buf.subarray(nl + 2);
      if (op === 'PING') this.sock.write('PONG\r\n');
      else if (op === 'PONG') { const f = this.pongs.shift(); if (f) f(); }
      else if (op === '-ERR') this.errors.push(line);
    }
  }
  flush() { return new Promise((res) => { this.pongs.push(res); this.sock.write('PING\r\n'); }); }
  sub(subject, fn) { const sid = String(++this.sid); this.subs.set(sid, fn); this.sock.write(`SUB ${subject} ${sid}\r\n`); return sid; }
  pub(subject, data, { reply = '', headers = null } = {}) {
    const body = Buffer.from(data);
    if (headers) {
      const h = Buffer.from(`NATS/1.0\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
      this.sock.write(Buffer.concat([Buffer.from(`HPUB ${subject} ${reply} ${h.length} ${h.length + body.length}\r\n`), h, body, Buffer.from('\r\n')]));
    } else {
      this.sock.write(Buffer.concat([Buffer.from(`PUB ${subject} ${reply} ${body.length}\r\n`), body, Buffer.from('\r\n')]));
    }
  }
  // A reply, or null: no responders (status 503) or nothing within ms.
  async request(subject, data, ms = 3000) {
    const inbox = `_INBOX.t${Math.random().toString(36).slice(2)}`;
    let done;
    const p = new Promise((res) => { done = res; });
    const sid = this.sub(inbox, (m) => done(/^NATS\/1\.0 503/.test(m.headers) ? null : m));
    this.pub(subject, data, { reply: inbox });
    const t = setTimeout(() => done(null), ms);
    const m = await p;
    clearTimeout(t);
    this.sock.write(`UNSUB ${sid}\r\n`);
    return m;
  }
  close() { this.sock.destroy(); }
}

class ProvinceDaemon extends Daemon {
  spawn() { if (!this.args.includes('--role')) this.args.splice(1, 0, '--role', 'province'); return super.spawn(); }
}

// A PWS1 samples body (docs/province.md) of one sample.
function pws1(labels, ts, v) {
  const parts = [Buffer.from('PWS1'), Buffer.from([labels.length])];
  for (const [k, val] of labels) for (const s of [k, val]) { const b = Buffer.from(s); const l = Buffer.alloc(2); l.writeUInt16LE(b.length); parts.push(l, b); }
  const t = Buffer.alloc(17); t.writeBigInt64LE(BigInt(ts)); t.writeDoubleLE(v, 8); t[16] = 0;
  parts.push(t);
  return Buffer.concat(parts);
}

test('park A\'s credentials reach neither park B\'s subjects nor its JetStream; the province reaches both; a park cannot write as another', { timeout: 300000 }, async () => {
  const leafPort = await freePort();
  const hub = await new Nats(['--role', 'hub', '--id', 'zj', '--parks', 'a,b', '--password', 'a=pa-secret,b=pb-secret']).start(['--leaf-port', String(leafPort)]);
  cleanups.push(() => hub.stop());
  const leaves = {};
  for (const p of ['a', 'b']) {
    leaves[p] = await new Nats(['--role', 'park', '--id', p, '--hub', `nats-leaf://127.0.0.1:${leafPort}`, '--password', `p${p}-secret`]).start();
    cleanups.push(() => leaves[p].stop());
  }
  // a leaf with another park's password is refused by the hub
  const wrong = await new Nats(['--role', 'park', '--id', 'b', '--hub', `nats-leaf://127.0.0.1:${leafPort}`, '--password', 'pa-secret']).start();
  cleanups.push(() => wrong.stop());
  await until(() => (hub.log.match(/Leafnode connection created/g) || []).length >= 2, { timeout: 30000, what: 'both leaves at the hub' });
  await until(() => /Authorization Violation|authentication error/i.test(hub.log), { timeout: 30000, what: 'the wrong password refused' });
  await wrong.stop();

  // park a's parkwatch creates PW_A on its leaf; the province the aggregate with both sources
  const park = new Daemon({ model: null, set: ['uplink.enabled=true', 'uplink.park=a', `uplink.nats_url=nats://127.0.0.1:${leaves.a.port}`, 'mqtt.broker='] });
  await park.start();
  cleanups.push(() => park.stop());
  const pv = new ProvinceDaemon({ model: null, set: ['province.id=zj', 'province.parks=a,b', `province.nats_url=nats://127.0.0.1:${hub.port}`, 'mqtt.broker='] });
  await pv.start();
  cleanups.push(() => pv.stop());
  const ptoken = await pv.login();

  const a = await Client.connect(leaves.a.port); // anything at park a (its leaf: park a's credentials at the hub)
  const b = await Client.connect(leaves.b.port);
  const prov = await Client.connect(hub.port); // no credentials: the PROVINCE account
  cleanups.push(() => { a.close(); b.close(); prov.close(); });
  const atB = [];
  // everything park a sends carries "forged" (the province's own requests to park b — its
  // source consumer, JetStream INFO — pass here too, and are not park a's)
  const seen = (m) => { if (m.data.toString() === 'forged' || m.data.toString() === 'own') atB.push(m.subject); };
  b.sub('>', seen);
  b.sub('$JS.>', seen);
  await b.flush();
  await sleep(500); // interest reaches the hub

  // the province's account reaches both parks' JetStream API (its imports)
  await until(async () => { const r = await prov.request('$JS.park-b.API.INFO', ''); return r && JSON.parse(r.data).type === 'io.nats.jetstream.api.v1.account_info_response'; }, { timeout: 20000, what: 'park b\'s JetStream from the province' });
  assert.ok(await prov.request('$JS.park-a.API.INFO', ''), 'park a\'s JetStream from the province');

  // park a: publishes on park b's subjects, its delivery subject and flow control, asks park b's
  // JetStream API — nothing reaches park b
  for (const s of ['pw.b.samples', 'pw.b.alarms', 'pw-deliver.b.x', '$JS.FC.PW_B.x.y', '$JS.park-b.API.INFO', '$JS.API.INFO', 'anything.else']) a.pub(s, 'forged');
  assert.equal(await a.request('$JS.park-b.API.INFO', 'forged', 1500), null, 'park b\'s JetStream API from park a');
  assert.equal(await a.request('$JS.park-b.API.STREAM.NAMES', 'forged', 1500), null);
  await a.flush();
  // control: park b's own publish reaches its own subscriber
  b.pub('pw.b.control', 'own');
  await b.flush();
  await until(() => atB.includes('pw.b.control'), { timeout: 5000, what: 'park b\'s own message' });
  await sleep(1000);
  assert.deepEqual(atB.filter((s) => s !== 'pw.b.control'), [], 'nothing of park a at park b');

  // the province's reports reach each park's account only
  const ctlAtA = [];
  a.sub('pw-ctl.>', (m) => ctlAtA.push(m.subject));
  await a.flush();
  await until(() => ctlAtA.includes('pw-ctl.a.copied'), { timeout: 20000, what: 'the province\'s report at park a' });
  await sleep(2500);
  assert.deepEqual([...new Set(ctlAtA)], ['pw-ctl.a.copied'], 'park a gets no report of park b');

  // park a rewrites its own stream to also hold park b's subjects and publishes "park b" data:
  // the hub copies it (PW_A is park a's), the province refuses it as not from PW_B
  const info = JSON.parse((await a.request('$JS.API.STREAM.INFO.PW_A', '')).data);
  assert.ok(info.config, JSON.stringify(info));
  const cfg = { ...info.config, subjects: ['pw.a.>', 'pw.b.>'] };
  const up = JSON.parse((await a.request('$JS.API.STREAM.UPDATE.PW_A', JSON.stringify(cfg))).data);
  assert.ok(!up.error, JSON.stringify(up));
  const forged = pws1([['__name__', 'forged_v'], ['dev', 'x']], Date.UTC(2026, 0, 1), 42);
  a.pub('pw.b.samples', forged, { headers: { 'Nats-Msg-Id': 'b.samples.1' } });
  await a.flush();
  // and park a's own data still arrives
  const w = await park.post('/write?precision=ms', `real,dev=y v=1 ${Date.UTC(2026, 0, 1)}`);
  assert.equal(w.status, 204);
  await until(async () => {
    const r = await pv.get(`/api/v1/export?match[]=${encodeURIComponent('{park="a",__name__="real_v"}')}`, { token: ptoken });
    return r.status === 200 && r.text.includes('real_v');
  }, { timeout: 60000, what: 'park a\'s own sample at the province' });
  await until(async () => /parkwatch_province_foreign_total [1-9]/.test((await pv.get('/metrics')).text), { timeout: 30000, what: 'the forged message refused' });
  const r = await pv.get(`/api/v1/export?match[]=${encodeURIComponent('{__name__="forged_v"}')}`, { token: ptoken });
  assert.equal(r.status, 200);
  assert.equal(r.text.trim(), '', 'nothing stored as park b');
});
