// HTTP hardening (issue 13): methods (HEAD, 405 + Allow, OPTIONS, 501), cross-site request
// forgery, bodies refused before they are read, bounded JSON, slow and greedy clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Daemon, ADMIN_PASSWORD, sleep } from './harness.mjs';

// One raw HTTP/1.1 exchange: writes `head` (and `body`, if any) and resolves with what the server
// sent until it closed or `timeout` ms passed: { text, status, closed, ms }.
function raw(port, head, { body, timeout = 5000, localAddress, keepOpen = false } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let out = '';
    let done = false;
    const s = net.connect({ port, host: '127.0.0.1', localAddress }, () => {
      s.write(head);
      if (body) s.write(body);
    });
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!keepOpen || closed) s.destroy();
      const m = /^HTTP\/1\.1 (\d{3})/.exec(out);
      resolve({ text: out, status: m ? Number(m[1]) : 0, closed, ms: Date.now() - t0, socket: s });
    };
    const timer = setTimeout(() => finish(false), timeout);
    s.on('data', (d) => {
      out += d;
      // a complete response with a Content-Length: no need to wait for the close
      const i = out.indexOf('\r\n\r\n');
      const cl = /\r\ncontent-length: (\d+)/i.exec(out);
      if (i >= 0 && cl && out.length >= i + 4 + Number(cl[1]) && !keepOpen) finish(false);
    });
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    // EPIPE/ECONNRESET: the server answered early and closed while the body was being written
    s.on('error', () => finish(true));
  });
}

// POST over a raw socket that announces the body's length and sends the body only when the
// server waits for it (a refusal from the headers comes first; writing the rest into a closed
// connection would make the kernel reset it and drop the answer).
async function rawPost(port, p, body, token) {
  const r = await raw(port, `POST ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`, { timeout: 3000 });
  const i = r.text.indexOf('\r\n\r\n');
  let json;
  try { json = JSON.parse(r.text.slice(i + 4)); } catch { json = undefined; }
  return { ...r, json };
}

function rss(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

let d;
let admin;
before(async () => {
  d = await new Daemon().start();
  admin = await d.login();
});
after(async () => { await d.stop(); });

test('HEAD: every kind of route answers the GET headers without a body, and the daemon lives', async () => {
  for (const p of ['/healthz', '/metrics', '/', '/index.html', '/api/v1/me', '/api/v1/park', '/nosuch.js']) {
    const g = await raw(d.ports.http, `GET ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nConnection: close\r\n\r\n`);
    const h = await raw(d.ports.http, `HEAD ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nConnection: close\r\n\r\n`);
    assert.equal(h.status, g.status, `HEAD ${p}`);
    const [ghead, gbody] = g.text.split('\r\n\r\n');
    const [hhead, hbody] = h.text.split('\r\n\r\n');
    assert.equal(hbody, '', `HEAD ${p} has no body`);
    const len = (t) => /content-length: (\d+)/i.exec(t)?.[1];
    if (g.status === 200) assert.equal(len(hhead), String(Buffer.byteLength(gbody)), `HEAD ${p} Content-Length`);
    const ct = (t) => /content-type: ([^\r]+)/i.exec(t)?.[1];
    assert.equal(ct(hhead), ct(ghead), `HEAD ${p} Content-Type`);
  }
  // without credentials too (load balancers, uptime probes)
  const h = await d.req('HEAD', '/api/v1/users');
  assert.equal(h.status, 401);
  const e = await d.req('HEAD', '/api/v1/events', { token: admin });
  assert.equal(e.status, 200);
  assert.match(e.headers.get('content-type'), /text\/event-stream/);
  assert.equal((await d.get('/healthz')).status, 200);
  assert.equal(d.proc.exitCode, null);
});

test('an escaped NUL in the path or a query argument is not decoded: it cannot cut an id short', async () => {
  let r = await d.req('GET', '/api/v1/users', { token: admin });
  assert.equal(r.status, 200);
  r = await d.req('GET', '/api/v1/users%00junk', { token: admin });
  assert.equal(r.status, 404);
  r = await d.req('GET', '/api/v1/users%2500', { token: admin });
  assert.equal(r.status, 404);
  // everything else is decoded as before
  r = await d.req('GET', '/api/v1/user%73', { token: admin });
  assert.equal(r.status, 200);
  r = await d.req('GET', '/api/v1/query?query=up%00x', { token: admin });
  assert.notEqual(r.status, 200);
  r = await d.req('GET', '/healthz');
  assert.equal(r.status, 200);
});

test('405 names the allowed methods, OPTIONS lists them, unknown methods get 501', async () => {
  let r = await d.req('PATCH', '/api/v1/users', { token: admin });
  assert.equal(r.status, 405);
  assert.equal(r.headers.get('allow'), 'GET, HEAD, POST, OPTIONS');
  r = await d.req('PUT', '/healthz');
  assert.equal(r.status, 405);
  assert.equal(r.headers.get('allow'), 'GET, HEAD, OPTIONS');
  r = await d.req('DELETE', '/index.html');
  assert.equal(r.status, 405);
  assert.equal(r.headers.get('allow'), 'GET, HEAD, OPTIONS');
  r = await d.req('OPTIONS', '/api/v1/silences/abc');
  assert.equal(r.status, 204);
  assert.equal(r.headers.get('allow'), 'DELETE, OPTIONS');
  assert.equal(r.headers.get('access-control-allow-origin'), null); // no CORS: preflights fail
  r = await d.req('OPTIONS', '/api/v1/nosuch');
  assert.equal(r.status, 404);
  const j = await raw(d.ports.http, 'BREW /api/v1/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(j.status, 501);
  assert.match(j.text, /\r\nAllow: GET, HEAD, POST, OPTIONS\r\n/i);
});

test('CSRF: a cookie-authenticated unsafe request needs X-Requested-With and this Origin', async () => {
  const login = await d.post('/api/v1/login', { user: 'admin', password: ADMIN_PASSWORD });
  const cookie = login.headers.get('set-cookie').split(';')[0];
  const evil = (name) => JSON.stringify({ name, password: 'evil-password-1', role: 'admin' });
  const port = d.ports.http;
  // what a page on another port of this host can send: a simple POST with the cookie
  let r = await d.req('POST', '/api/v1/users', { body: evil('evil1'), headers: { Cookie: cookie, 'Content-Type': 'text/plain', Origin: `http://127.0.0.1:${port + 1}` } });
  assert.equal(r.status, 403);
  assert.match(r.json.error, /cross-origin/);
  // no Origin (an older browser, a form): still refused without the custom header
  r = await d.req('POST', '/api/v1/users', { body: evil('evil2'), headers: { Cookie: cookie, 'Content-Type': 'text/plain' } });
  assert.equal(r.status, 403);
  assert.match(r.json.error, /X-Requested-With/);
  // the header, but the browser says the request came from another site
  r = await d.req('POST', '/api/v1/users', { body: evil('evil3'), headers: { Cookie: cookie, 'X-Requested-With': 'x', 'Sec-Fetch-Site': 'same-site' } });
  assert.equal(r.status, 403);
  r = await d.req('DELETE', '/api/v1/users/admin', { headers: { Cookie: cookie } });
  assert.equal(r.status, 403);
  const users = await d.get('/api/v1/users', { token: admin });
  for (const n of ['evil1', 'evil2', 'evil3']) assert.ok(!users.json.some((u) => u.name === n), n);
  // the web UI's request: same origin, the header
  r = await d.req('POST', '/api/v1/users', { body: evil('ok1'), headers: { Cookie: cookie, 'Content-Type': 'application/json', 'X-Requested-With': 'parkwatch', Origin: `http://127.0.0.1:${port}`, 'Sec-Fetch-Site': 'same-origin' } });
  assert.equal(r.status, 201, r.text);
  // an API client with Authorization needs nothing else, even with a stale cookie
  r = await d.post('/api/v1/users', { name: 'ok2', password: 'ok2-password', role: 'viewer' }, { token: admin, headers: { Cookie: 'pw_session=pws_stale' } });
  assert.equal(r.status, 201, r.text);
  // GET with the cookie alone still works (reads are safe)
  assert.equal((await d.get('/api/v1/me', { headers: { Cookie: cookie } })).status, 200);
  // login CSRF: another origin cannot sign the browser in
  r = await d.req('POST', '/api/v1/login', { body: JSON.stringify({ user: 'admin', password: ADMIN_PASSWORD }), headers: { 'Content-Type': 'text/plain', Origin: 'http://evil.example' } });
  assert.equal(r.status, 403);
  assert.equal(r.headers.get('set-cookie'), null);
});

test('bodies are refused from the headers: 401/403/404/405/413 without reading the body', async () => {
  const port = d.ports.http;
  const huge = 64 << 20;
  // the answer comes although not a byte of the announced 64 MiB body was sent
  for (const [head, want] of [
    [`POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${huge}\r\n\r\n`, 401],
    [`POST /api/v1/nosuch HTTP/1.1\r\nHost: x\r\nContent-Length: ${huge}\r\n\r\n`, 404],
    [`PUT /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: ${huge}\r\n\r\n`, 405],
    [`POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nContent-Length: ${huge}\r\n\r\n`, 413],
    [`POST /api/v1/model/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nContent-Length: ${huge}\r\n\r\n`, 413],
  ]) {
    const r = await raw(port, head, { timeout: 3000 });
    assert.equal(r.status, want, head.split('\r\n')[0] + ' ' + r.text.slice(0, 200));
  }
  const viewer = await d.post('/api/v1/users', { name: 'bodyviewer', password: 'viewer-password', role: 'viewer' }, { token: admin });
  assert.equal(viewer.status, 201);
  const vt = await d.login('bodyviewer', 'viewer-password');
  const r = await raw(port, `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${vt}\r\nContent-Length: ${huge}\r\n\r\n`, { timeout: 3000 });
  assert.equal(r.status, 403);

  // eight unauthenticated 64 MiB uploads at once cost no memory
  const before = rss(d.proc.pid);
  const chunk = Buffer.alloc(1 << 20);
  await Promise.all(Array.from({ length: 8 }, () => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', async () => {
      s.write(`POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: ${huge}\r\n\r\n`);
      for (let i = 0; i < 64 && !s.destroyed; i++) { if (!s.write(chunk)) await new Promise((ok) => { s.once('drain', ok); s.once('close', ok); }); }
      s.end();
    });
    s.on('error', () => {});
    s.on('close', resolve);
  })));
  assert.ok(rss(d.proc.pid) - before < 64 << 20, `RSS grew by ${rss(d.proc.pid) - before} bytes`);

  // a chunked body past the route's bound gets 413 (read no further than the bound twice)
  const big = 'x'.repeat(1536 << 10);
  const c = await raw(port, `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
    { body: `${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n` });
  assert.equal(c.status, 413);
  assert.match(c.text, /http\.max_json_body/);
  // the routes that need more: model import takes a few MiB, /write its own http.max_body
  const imp = await d.post('/api/v1/model/import', JSON.stringify({ nosuch: 'x'.repeat(3 << 20) }), { token: admin, headers: { 'Content-Type': 'application/json' } });
  assert.notEqual(imp.status, 413, imp.text);
  const w = await d.post('/write', 'm v=1\n'.repeat(500000));
  assert.equal(w.status, 204, w.text);
  assert.equal((await d.get('/healthz')).status, 200);
});

test('JSON bodies are bounded before parsing: size, depth and number of values', async () => {
  const before = rss(d.proc.pid);
  const arr = (n) => '[' + '0,'.repeat(n - 1) + '0]';
  // 60 MB: over the import bound, refused from Content-Length
  let r = await rawPost(d.ports.http, '/api/v1/model/import', arr(30e6), admin);
  assert.equal(r.status, 413);
  assert.match(r.json.error, /http\.max_import_body/);
  // 20 MB within the bound: refused for its 10 million values before a tree is built
  r = await d.post('/api/v1/model/import', arr(10e6), { token: admin, headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 413);
  assert.match(r.json.error, /more than 1000000 values \(http\.json_max_values\)/);
  r = await rawPost(d.ports.http, '/api/v1/events/device', arr(600000), admin);
  assert.equal(r.status, 413);
  assert.match(r.json.error, /http\.max_json_body/);
  r = await d.post('/api/v1/events/device', '['.repeat(5000) + ']'.repeat(5000), { token: admin });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /nested deeper than 64 levels \(http\.json_max_depth\)/);
  r = await d.post('/api/v1/silences', '{"a":' + '{"a":'.repeat(100) + '1' + '}'.repeat(101), { token: admin });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /json_max_depth/);
  r = await d.post('/api/v1/users', '{"name": "x\u0000", ', { token: admin });
  assert.equal(r.status, 400);
  assert.ok(rss(d.proc.pid) - before < 256 << 20, `RSS grew by ${rss(d.proc.pid) - before} bytes`);
  assert.equal((await d.get('/healthz')).status, 200);
});

test('slow clients: per-address connection limit; header and body deadlines', async () => {
  // the default http.max_connections_per_address (128); short deadlines to keep the test quick
  const d2 = await new Daemon({ set: ['http.header_timeout=2s', 'http.body_min_rate=64KiB'] }).start();
  const socks = [];
  try {
    const port = d2.ports.http;
    const tok = await d2.login();
    // 127.0.0.1 holds its 128 connections with half-sent headers ...
    for (let i = 0; i < 128; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => { s.closedAt = Date.now(); });
      await new Promise((ok) => s.once('connect', ok));
      s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      socks.push(s);
    }
    await sleep(200);
    // ... its 129th is refused ...
    const r17 = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeout: 1500 });
    assert.equal(r17.status, 0, r17.text);
    // ... while another address is served at once
    const other = await raw(port, `GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tok}\r\nConnection: close\r\n\r\n`, { localAddress: '127.0.0.2' });
    assert.equal(other.status, 200, other.text);
    // the slow header senders are closed after http.header_timeout even though they keep sending
    const t0 = Date.now();
    const drip = setInterval(() => { for (const s of socks) if (!s.destroyed) s.write('X-Slow: 1\r\n'); }, 300);
    while (Date.now() - t0 < 8000 && socks.some((s) => !s.closedAt)) await sleep(100);
    clearInterval(drip);
    const last = Math.max(...socks.map((s) => (s.closedAt || Infinity) - t0));
    assert.ok(last < 5000, `slow header senders closed after ${last} ms`);
    // then 127.0.0.1 is served again
    assert.equal((await d2.get('/healthz')).status, 200);

    // a body trickling in below http.body_min_rate is closed
    const slow = net.connect(port, '127.0.0.1');
    slow.on('error', () => {});
    await new Promise((ok) => slow.once('connect', ok));
    slow.write(`POST /api/v1/events/device HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tok}\r\nContent-Length: 100000\r\n\r\n`);
    const b0 = Date.now();
    const slowClosed = new Promise((ok) => slow.once('close', () => ok(Date.now() - b0)));
    const trickle = setInterval(() => { if (!slow.destroyed) slow.write('          '); }, 200);
    const bt = await Promise.race([slowClosed, sleep(8000).then(() => -1)]);
    clearInterval(trickle);
    assert.ok(bt > 0 && bt < 6000, `slow body closed after ${bt} ms`);

    // an event stream (headers done, response going) outlives the header deadline
    const es = await raw(port, `GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tok}\r\n\r\n`, { timeout: 4000, keepOpen: true });
    assert.equal(es.status, 200);
    assert.equal(es.closed, false, 'the event stream was closed');
    es.socket.destroy();
    // and a keep-alive connection serves requests one after another
    const ka = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeout: 3000, keepOpen: true });
    assert.equal((ka.text.match(/HTTP\/1\.1 200/g) || []).length, 2, ka.text);
    ka.socket.destroy();
    const m = await d2.get('/metrics');
    assert.match(m.text, /^parkwatch_http_slow_closed_total\{phase="headers"\} [1-9]/m);
    assert.match(m.text, /^parkwatch_http_slow_closed_total\{phase="body"\} [1-9]/m);
  } finally {
    for (const s of socks) s.destroy();
    await d2.stop();
  }
});

test('with the defaults, 128 connections from one address are served', async () => {
  const port = d.ports.http;
  const rs = await Promise.all(Array.from({ length: 128 }, () =>
    raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { timeout: 5000 })));
  assert.ok(rs.every((r) => r.status === 200), rs.map((r) => r.status).join(','));
});
