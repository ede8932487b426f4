// Robustness: the daemon driven with hostile input. Every route of every route table (read from
// src/http/*.c, so new routes are covered without editing this file) × every method × no
// credentials and each role; malformed and oversized requests; concurrent clients. After each
// part: the process is alive, /healthz answers, no 5xx was given for a client's mistake, and the
// resident memory stays bounded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Daemon, ROOT } from './harness.mjs';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'BREW'];
const ROLES = ['viewer', 'enterprise', 'supervisor', 'admin', 'regulator'];
const RANK = { regulator: 0, viewer: 1, enterprise: 2, supervisor: 3, admin: 4 };

// {method, pattern, access, writes} of every route table entry in src/http/*.c
function routes() {
  const dir = path.join(ROOT, 'src/http');
  const out = [];
  const re = /\{"(GET|POST|PUT|DELETE|PATCH)",\s*"([^"]+)",\s*(ACCESS_\w+),\s*(true|false),/g;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.c'))) {
    const text = readFileSync(path.join(dir, f), 'utf8');
    for (const m of text.matchAll(re)) out.push({ method: m[1], pattern: m[2], access: m[3], writes: m[4] === 'true', file: f });
  }
  return out;
}

// What the dispatcher must answer for a role on a route it exists for (null: allowed).
function expected(rt, role) {
  if (rt.access === 'ACCESS_PUBLIC') return null;
  if (!role) return rt.access === 'ACCESS_INGEST' ? null : 401; // loopback ingest is open by default
  // the regulator reads the archive and nothing else
  if (role === 'regulator') return rt.access === 'ACCESS_ARCHIVE' && !rt.writes ? null : 403;
  if (role === 'viewer' && rt.writes) return 403;
  switch (rt.access) {
    case 'ACCESS_USER': return null;
    case 'ACCESS_OPERATOR': case 'ACCESS_UNIT': return role === 'viewer' ? 403 : null;
    case 'ACCESS_PARK': case 'ACCESS_INGEST': return RANK[role] >= 3 ? null : 403;
    case 'ACCESS_ADMIN': return role === 'admin' ? null : 403;
    case 'ACCESS_ARCHIVE': return RANK[role] >= 3 ? null : 403;
    default: throw new Error(`unknown access ${rt.access}`);
  }
}

const fill = (pattern) => pattern.replace(/\{[^}]+\}/g, 'nosuch-1');

// One request on its own connection; the whole answer or what came before the server closed.
function raw(port, data, { timeout = 10000 } = {}) {
  return new Promise((resolve) => {
    let out = Buffer.alloc(0);
    let done = false;
    const s = net.connect(port, '127.0.0.1', () => s.write(data));
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const text = out.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text });
    };
    const timer = setTimeout(finish, timeout);
    s.on('data', (d) => {
      out = Buffer.concat([out, d]);
      const text = out.toString('latin1');
      const i = text.indexOf('\r\n\r\n');
      if (i < 0) return;
      if (/^content-type: text\/event-stream/im.test(text.slice(0, i))) return finish(); // a stream
      const cl = /\r\ncontent-length: (\d+)/i.exec(text.slice(0, i));
      if (cl && out.length >= i + 4 + Number(cl[1])) finish();
      if (/^HTTP\/1\.1 (204|304)/.test(text) || /^HEAD /.test(data)) finish();
    });
    s.on('end', finish);
    s.on('close', finish);
    s.on('error', finish);
  });
}

function request(port, method, p, { token, body, headers = {} } = {}) {
  const h = { Host: `127.0.0.1:${port}`, Connection: 'close', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h['Content-Length'] = Buffer.byteLength(body);
  const head = `${method} ${p} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
  return raw(port, body !== undefined ? head + body : head);
}

function rss(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
}

let d;
const tokens = {};
let rss0;

async function healthy(what) {
  assert.equal(d.proc.exitCode, null, `daemon died after ${what}:\n${d.stderr.slice(-2000)}`);
  const h = await d.get('/healthz');
  assert.equal(h.status, 200, `healthz after ${what}`);
  const grown = rss(d.proc.pid) - rss0;
  assert.ok(grown < 300 << 20, `RSS grew by ${grown >> 20} MiB after ${what}`);
}

before(async () => {
  d = await new Daemon().start();
  // API tokens, not sessions: POST /api/v1/logout below ends the session it comes with
  const admin = await d.login();
  for (const role of ROLES) {
    const r = await d.post('/api/v1/tokens', { name: `robust-${role}`, role, enterprise: role === 'enterprise' ? 'E1' : undefined }, { token: admin });
    assert.equal(r.status, 201, r.text);
    tokens[role] = r.json.token;
  }
  rss0 = rss(d.proc.pid);
});
after(async () => { await d.stop(); });

test('the route tables are found', () => {
  const rs = routes();
  assert.ok(rs.length > 50, `only ${rs.length} routes parsed`);
  assert.ok(rs.some((r) => r.pattern === '/api/v1/users' && r.method === 'POST'));
});

test('every route × every method × no credentials and each role: sane statuses', async () => {
  const port = d.ports.http;
  const all = routes();
  // every route whose pattern matches a path answers for it, as the server's router decides
  // (`/api/v1/risk-points/{id}` also matches `/api/v1/risk-points/import`)
  const matches = (pattern, p) => {
    const a = pattern.split('/'), b = p.split('/');
    if (a.length && a[a.length - 1].startsWith('{*')) return b.length >= a.length && a.slice(0, -1).every((s, i) => s === b[i] || (s.startsWith('{') && b[i] !== ''));
    return a.length === b.length && a.every((s, i) => s === b[i] || (s.startsWith('{') && b[i] !== ''));
  };
  const byPath = new Map();
  for (const rt of all) byPath.set(fill(rt.pattern), []);
  for (const [p, list] of byPath) for (const rt of all) if (matches(rt.pattern, p)) list.push(rt);
  const problems = [];
  for (const [p, rts] of byPath) {
    // what Allow must list for this path
    const allow = new Set(rts.map((r) => r.method));
    if (allow.has('GET')) allow.add('HEAD');
    allow.add('OPTIONS');
    for (const method of METHODS) {
      const rt = rts.find((r) => r.method === (method === 'HEAD' ? 'GET' : method));
      for (const role of [null, ...ROLES]) {
        const body = ['POST', 'PUT', 'PATCH', 'DELETE', 'BREW'].includes(method) ? '{"bogus": [1, 2' : undefined;
        const r = await request(port, method, p, { token: role ? tokens[role] : undefined, body, headers: body ? { 'Content-Type': 'application/json' } : {} });
        const tag = `${method} ${p} as ${role || 'nobody'}: ${r.status}`;
        if (r.status === 0) { problems.push(`${tag} (no answer)`); continue; }
        if (r.status >= 500 && r.status !== 501 && r.status !== 503) problems.push(`${tag} ${r.text.slice(-200)}`);
        if (!rt) {
          const want = method === 'OPTIONS' ? 204 : method === 'BREW' ? 501 : 405;
          if (r.status !== want) problems.push(`${tag}, want ${want}`);
          const a = /\r\nallow: ([^\r]*)/i.exec(r.text)?.[1];
          if (!a || new Set(a.split(', ')).size !== allow.size || a.split(', ').some((m) => !allow.has(m))) problems.push(`${tag}: Allow ${a}, want ${[...allow].join(', ')}`);
          continue;
        }
        const want = expected(rt, role);
        if (want && r.status !== want) problems.push(`${tag}, want ${want}`);
        if (!want && (r.status === 401 || r.status === 403 || r.status === 405)) problems.push(`${tag}, want it allowed`);
        if (method === 'HEAD' && r.text.split('\r\n\r\n')[1]) problems.push(`${tag}: HEAD with a body`);
      }
    }
  }
  assert.deepEqual(problems, []);
  await healthy('every route × method × role');
});

test('malformed and oversized requests get 4xx, never take the daemon down', async () => {
  const port = d.ports.http;
  const t = tokens.admin;
  const cases = [
    ['huge header', `GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200000)}\r\n\r\n`],
    ['many headers', `GET /api/v1/me HTTP/1.1\r\nHost: x\r\n${'X-A: b\r\n'.repeat(20000)}\r\n`],
    ['huge URL', `GET /api/v1/series?match[]=${'a'.repeat(100000)} HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['huge Content-Length', `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\nContent-Length: 99999999999999999999\r\n\r\n`],
    ['negative Content-Length', `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\nContent-Length: -5\r\n\r\n{}`],
    ['two Content-Lengths', `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}`],
    ['broken chunked', `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`],
    ['chunk size overflow', `POST /write HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n`],
    ['chunked and Content-Length', `POST /api/v1/users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`],
    ['not HTTP', 'hello\r\n\r\n'],
    ['binary garbage', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('latin1')],
    ['NUL in path', 'GET /api/v1/de\0vices HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['NUL in header', `GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\0x\r\n\r\n`],
    ['bad HTTP version', 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n'],
    ['no Host', 'GET /healthz HTTP/1.1\r\n\r\n'],
    ['absolute URL', 'GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['path traversal', 'GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['encoded traversal', 'GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['bad percent escape', `GET /api/v1/devices?x=%zz%%%00 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\n\r\n`],
  ];
  const problems = [];
  for (const [what, data] of cases) {
    const r = await raw(port, data);
    if (r.status >= 500 && r.status !== 501 && r.status !== 505) problems.push(`${what}: ${r.status} ${r.text.slice(0, 300)}`);
    if (r.status === 200 && /passwd/.test(what) && /root:/.test(r.text)) problems.push(`${what}: served /etc/passwd`);
  }
  // bodies: bad, deep, wide JSON and NUL bytes, to every JSON route
  const jsonRoutes = routes().filter((r) => r.method !== 'GET' && !/write$/.test(r.pattern));
  const bodies = ['{', '[]', 'null', '"x"', '{"a":"\u0000"}', 'x\u0000y', '['.repeat(100000), '{"a":'.repeat(50000), '[' + '0,'.repeat(200000) + '0]', '{"name":' + '"x",'.repeat(100) + '}'];
  for (const rt of jsonRoutes) {
    for (const b of bodies) {
      const r = await request(port, rt.method, fill(rt.pattern), { token: t, body: b, headers: { 'Content-Type': 'application/json' } });
      if (r.status === 0 || (r.status >= 500 && r.status !== 503)) problems.push(`${rt.method} ${rt.pattern} body ${JSON.stringify(b.slice(0, 20))}: ${r.status} ${r.text.slice(-200)}`);
    }
  }
  // query parameters: times, numbers, selectors out of range or not parseable
  const q = ['start=abc', 'end=-99999999999999999999', 'start=1e400', 'time=NaN', 'limit=-1', 'limit=99999999999999999999',
    'step=0', 'step=-1s', 'interval=0', 'interval=1e9', 'last_event_id=-5', 'last_event_id=18446744073709551616',
    'match[]=%7B', 'match[]=' + encodeURIComponent('{__name__=~"(a|"}'), 'before=zz', 'state=%00', 'values=' + '{'.repeat(1000),
    'csv=nosuch', 'replace=2', 'precision=zz', 'db=' + 'x'.repeat(5000)];
  for (const rt of routes().filter((r) => r.method === 'GET')) {
    for (const a of q) {
      const r = await request(port, 'GET', `${fill(rt.pattern)}?${a}`, { token: t });
      if (r.status === 0 || (r.status >= 500 && r.status !== 503)) problems.push(`GET ${rt.pattern}?${a}: ${r.status} ${r.text.slice(-200)}`);
    }
  }
  assert.deepEqual(problems, []);
  await healthy('malformed requests');
});

test('concurrent clients: mixed requests from 64 connections at once', async () => {
  const port = d.ports.http;
  const rs = routes().filter((r) => r.method === 'GET' && r.pattern !== '/api/v1/events');
  const jobs = [];
  for (let i = 0; i < 512; i++) {
    const rt = rs[i % rs.length];
    const role = ROLES[i % ROLES.length];
    const method = METHODS[i % METHODS.length];
    jobs.push(() => request(port, method, fill(rt.pattern), { token: tokens[role], body: method === 'POST' ? '{"x":1}' : undefined }));
  }
  const statuses = [];
  const worker = async () => { while (jobs.length) statuses.push((await jobs.shift()()).status); };
  await Promise.all(Array.from({ length: 64 }, worker));
  const bad = statuses.filter((s) => s === 0 || (s >= 500 && s !== 501 && s !== 503));
  assert.deepEqual(bad, []);
  await healthy('concurrent clients');
});
