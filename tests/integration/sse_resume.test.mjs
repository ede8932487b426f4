// The event stream under hostile and odd resume ids, and streams whose credential is revoked:
// stale (older than the ring, from before a restart), future, negative, huge and non-numeric
// Last-Event-ID / ?last_event_id= never crash the daemon and give the documented answer; a stream
// ends within seconds of its session being logged out, its user deleted or its token revoked.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, cli, sleep } from './harness.mjs';

let d, admin;
let clock = Date.now();
const now = () => { clock += 10000; return clock; };

// Reads server-sent events; `ended` resolves when the server closes the stream.
class Sse {
  constructor(daemon, { token, cookie, query = '', lastId } = {}) {
    this.d = daemon; this.token = token; this.cookie = cookie; this.query = query; this.lastId = lastId;
    this.events = [];
  }
  async open() {
    this.ctrl = new AbortController();
    const headers = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (this.cookie) headers.Cookie = `pw_session=${this.cookie}`;
    if (this.lastId !== undefined) headers['Last-Event-ID'] = String(this.lastId);
    const res = await fetch(`${this.d.base}/api/v1/events${this.query}`, { headers, signal: this.ctrl.signal });
    this.status = res.status;
    if (res.status !== 200) { this.body = await res.text(); return this; }
    this.ended = (async () => {
      const dec = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body) {
          buf += dec.decode(chunk, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i); buf = buf.slice(i + 2);
            const ev = {};
            for (const line of block.split('\n')) {
              const m = /^(id|event|data): ?(.*)$/.exec(line);
              if (m) ev[m[1]] = m[2];
            }
            if (ev.event) { if (ev.data) ev.json = JSON.parse(ev.data); this.events.push(ev); }
          }
        }
        return 'ended';
      } catch { return 'aborted'; }
    })();
    return this;
  }
  async waitFor(pred, timeout = 5000) {
    const t0 = Date.now();
    while (Date.now() - t0 < timeout) {
      const e = this.events.find(pred);
      if (e) return e;
      await sleep(20);
    }
    throw new Error(`no such event; have ${JSON.stringify(this.events.map((e) => [e.id, e.event, e.json?.event]))}`);
  }
  close() { this.ctrl.abort(); }
}

const write = async (lines) => {
  const r = await d.post('/write?precision=ms', lines.join('\n'));
  assert.equal(r.status, 204, r.text);
};

async function alive() {
  const r = await d.get('/healthz');
  assert.equal(r.status, 200, 'the daemon still answers');
}

before(async () => {
  d = await new Daemon().start();
  admin = await d.login();
  for (const u of [
    { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' },
    { name: 'ent2', password: 'ent2-password', role: 'enterprise', enterprise: 'E2' },
  ]) assert.equal((await d.post('/api/v1/users', u, { token: admin })).status, 201);
});
after(async () => { await d.stop(); });

test('an enterprise user resuming from a stale id (last_event_id=1) gets a reset, then live alarms', async () => {
  const e1 = await d.login('ent1', 'ent1-password');
  // make sure the ring holds something of both enterprises
  const t = now();
  await write([`gas,device=E2-GD-001 concentration=20 ${t}`, `gas,device=E1-GD-001 concentration=30 ${t}`]);
  await sleep(200);
  const sse = await new Sse(d, { token: e1, query: '?last_event_id=1' }).open();
  assert.equal(sse.status, 200);
  const hello = await sse.waitFor((e) => e.event === 'hello');
  await sse.waitFor((e) => e.event === 'reset');
  // what the ring still holds is replayed, scoped
  await sse.waitFor((e) => e.json?.alarm?.source === 'E1-GD-001-P');
  assert.ok(!sse.events.some((e) => e.json?.alarm?.enterprise === 'E2'));
  assert.ok(Number(hello.id) > 1);
  await alive();
  await write([`gas,device=E1-GD-001 concentration=60 ${now()}`]);
  await sse.waitFor((e) => e.json?.alarm?.gas_level === 2);
  sse.close();
  // the header behaves the same
  const h = await new Sse(d, { token: e1, lastId: 1 }).open();
  assert.equal(h.status, 200);
  await h.waitFor((e) => e.event === 'reset');
  h.close();
  await alive();
});

test('odd resume ids: future, negative, huge and non-numeric', async () => {
  const e1 = await d.login('ent1', 'ent1-password');
  const hello = await (async () => {
    const s = await new Sse(d, { token: e1 }).open();
    const h = await s.waitFor((e) => e.event === 'hello');
    s.close();
    return BigInt(h.id);
  })();
  // query parameter: anything but a decimal 64-bit id is a 400 that names it
  for (const bad of ['-5', 'abc', '', '1e3', '99999999999999999999999', '18446744073709551616', ' 1']) {
    const r = await d.get(`/api/v1/events?last_event_id=${encodeURIComponent(bad)}`, { token: e1 });
    assert.equal(r.status, 400, `last_event_id=${JSON.stringify(bad)}: ${r.text}`);
    assert.match(r.json.error, /last_event_id/);
  }
  // the header (browsers send back what they were given): unknown ids reset and go live
  for (const odd of ['-5', 'abc', '18446744073709551615', '18446744073709551616', String(hello + 10n ** 12n)]) {
    const s = await new Sse(d, { token: e1, lastId: odd }).open();
    assert.equal(s.status, 200, `Last-Event-ID ${odd}`);
    await s.waitFor((e) => e.event === 'reset');
    s.close();
  }
  // a future id via the query parameter: reset, then live from now
  const f = await new Sse(d, { token: e1, query: `?last_event_id=${hello + 10n ** 12n}` }).open();
  assert.equal(f.status, 200);
  await f.waitFor((e) => e.event === 'reset');
  await write([`gas,device=E1-GD-001 concentration=0 ${now()}`]);
  await f.waitFor((e) => e.json?.event === 'cleared' || e.json?.alarm?.state === 'cleared');
  f.close();
  // the id just seen resumes without a reset
  const ok = await new Sse(d, { token: e1, lastId: String(hello) }).open();
  await ok.waitFor((e) => e.event === 'hello');
  await sleep(300);
  assert.ok(!ok.events.some((e) => e.event === 'reset'), JSON.stringify(ok.events));
  ok.close();
  await alive();
});

test('a browser reconnecting after a daemon restart with its old id gets a reset and a working stream', async () => {
  const e1 = await d.login('ent1', 'ent1-password');
  const s = await new Sse(d, { token: e1 }).open();
  const last = (await s.waitFor((e) => e.event === 'hello')).id;
  s.close();
  await d.restart();
  const e1b = await d.login('ent1', 'ent1-password');
  const again = await new Sse(d, { token: e1b, lastId: last }).open();
  assert.equal(again.status, 200);
  await again.waitFor((e) => e.event === 'reset');
  await write([`gas,device=E1-GD-001 concentration=40 ${now()}`]);
  await again.waitFor((e) => e.json?.alarm?.source === 'E1-GD-001-P');
  again.close();
  admin = await d.login();
  await write([`gas,device=E1-GD-001 concentration=0 ${now()}`]);
  await alive();
});

// ---- revocation ----

async function expectRevoked(sse, what, t) {
  const t0 = Date.now();
  const r = await Promise.race([sse.ended, sleep(6000).then(() => 'still open')]);
  assert.equal(r, 'ended', `${what}: the stream ends`);
  assert.ok(Date.now() - t0 < 6000);
  t?.diagnostic(`${what}: stream ended ${Date.now() - t0} ms after the revocation`);
  assert.ok(sse.events.some((e) => e.event === 'revoked'), `${what}: told why`);
}

test('logging out ends the event streams of that session (cookie and bearer)', async (t) => {
  const tok = await d.login('ent1', 'ent1-password');
  const viaCookie = await new Sse(d, { cookie: tok }).open();
  const viaBearer = await new Sse(d, { token: tok }).open();
  assert.equal(viaCookie.status, 200);
  await viaCookie.waitFor((e) => e.event === 'hello');
  await viaBearer.waitFor((e) => e.event === 'hello');
  const other = await d.login('ent1', 'ent1-password'); // another session of the same user
  const keeps = await new Sse(d, { token: other }).open();
  assert.equal((await d.post('/api/v1/logout', undefined, { token: tok })).status, 200);
  await expectRevoked(viaCookie, 'cookie stream', t);
  await expectRevoked(viaBearer, 'bearer stream', t);
  // the other session's stream is untouched and still delivers alarms
  await write([`gas,device=E1-GD-001 concentration=35 ${now()}`]);
  await keeps.waitFor((e) => e.json?.alarm?.source === 'E1-GD-001-P');
  assert.ok(!keeps.events.some((e) => e.event === 'revoked'));
  keeps.close();
  await write([`gas,device=E1-GD-001 concentration=0 ${now()}`]);
  // reconnecting with the dead session is refused
  const re = await new Sse(d, { token: tok }).open();
  assert.equal(re.status, 401);
});

test('deleting a user ends its streams; revoking an API token ends the token\'s streams', async (tc) => {
  assert.equal((await d.post('/api/v1/users', { name: 'temp', password: 'temp-password', role: 'enterprise', enterprise: 'E1' }, { token: admin })).status, 201);
  const tok = await d.login('temp', 'temp-password');
  const s = await new Sse(d, { token: tok }).open();
  await s.waitFor((e) => e.event === 'hello');
  assert.equal((await d.req('DELETE', '/api/v1/users/temp', { token: admin })).status, 200);
  await expectRevoked(s, 'deleted user', tc);

  const t = await d.post('/api/v1/tokens', { name: 'e1-board', role: 'enterprise', enterprise: 'E1' }, { token: admin });
  assert.equal(t.status, 201, t.text);
  const ts = await new Sse(d, { token: t.json.token }).open();
  await ts.waitFor((e) => e.event === 'hello');
  // revoked from the command line while the daemon runs
  const r = cli(['token', 'revoke', '--data', d.dir, 'e1-board']);
  assert.equal(r.status, 0, r.stderr);
  await expectRevoked(ts, 'revoked token', tc);
  // revoked over HTTP (DELETE /api/v1/tokens/{name}): its streams end at once too
  const t2 = await d.post('/api/v1/tokens', { name: 'e1-board2', role: 'enterprise', enterprise: 'E1' }, { token: admin });
  assert.equal(t2.status, 201, t2.text);
  const ts2 = await new Sse(d, { token: t2.json.token }).open();
  await ts2.waitFor((e) => e.event === 'hello');
  assert.equal((await d.req('DELETE', '/api/v1/tokens/e1-board2', { token: admin })).status, 200);
  const t0 = Date.now();
  await expectRevoked(ts2, 'token revoked over HTTP', tc);
  assert.ok(Date.now() - t0 < 1000, 'at once, not at the next periodic recheck (every 2 s)');
  assert.equal((await new Sse(d, { token: t2.json.token }).open()).status, 401);
  await alive();
});
