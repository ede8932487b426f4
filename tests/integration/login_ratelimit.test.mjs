// Login rate limiting against a real daemon, with attackers on other loopback addresses
// (127.0.0.0/8 is all ours on Linux): an attacker cannot lock the admin out, cannot guess without
// limit from many addresses, and 20,000 requests with random names reset no budget and cost no
// memory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { Daemon, ADMIN_PASSWORD } from './harness.mjs';

let d;

// POST /api/v1/login from a given local address; resolves { status, headers, json }.
function loginFrom(localAddress, user, password, { cookie, agent } = {}) {
  const body = JSON.stringify({ user, password });
  const url = new URL(`${d.base}/api/v1/login`);
  return new Promise((resolve, reject) => {
    const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
    if (cookie) headers.Cookie = cookie;
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', localAddress, headers, agent: agent || false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, json, text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const deviceCookie = (r) => (r.headers['set-cookie'] || []).map((c) => c.split(';')[0]).find((c) => c.startsWith('pw_device='));
const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${d.proc.pid}/status`, 'utf8'))[1]);

// a long window: no budget refills noticeably while the test runs (20 per address per hour)
before(async () => { d = await new Daemon({ set: ['auth.login_window=1h'] }).start(); });
after(async () => { await d.stop(); });

let adminCookie;

test('the admin logs in from the control room; that address and browser are remembered', async () => {
  const r = await loginFrom('127.0.0.1', 'admin', ADMIN_PASSWORD);
  assert.equal(r.status, 200, r.text);
  adminCookie = deviceCookie(r);
  assert.ok(adminCookie, 'a pw_device cookie is set');
  assert.match(r.headers['set-cookie'].join('\n'), /pw_device=[^;]+; Path=\/api\/v1\/login; HttpOnly; SameSite=Strict/);
});

test('attackers on 40 other addresses cannot lock the admin out, and get at most the name\'s budget of guesses', async () => {
  const counts = { 401: 0, 429: 0 };
  for (let i = 2; i < 42; i++) {
    for (let k = 0; k < 3; k++) {
      const r = await loginFrom(`127.0.0.${i}`, 'admin', `guess-${i}-${k}`);
      counts[r.status] = (counts[r.status] || 0) + 1;
      if (r.status === 429) assert.ok(Number(r.headers['retry-after']) > 0);
    }
  }
  // auth.login_max_failures = 5 guesses at the password for the whole world, the rest slowed
  assert.equal(counts[401], 5, JSON.stringify(counts));
  assert.equal(counts[429], 115, JSON.stringify(counts));
  // even the right password from a new, untrusted address waits its turn (the guesses are spent)
  assert.equal((await loginFrom('127.0.0.99', 'admin', ADMIN_PASSWORD)).status, 429);
  // the admin is not locked out: from the control room ...
  assert.equal((await loginFrom('127.0.0.1', 'admin', ADMIN_PASSWORD)).status, 200);
  // ... and from any address with the browser that logged in before
  const r = await loginFrom('127.0.0.100', 'admin', ADMIN_PASSWORD, { cookie: adminCookie });
  assert.equal(r.status, 200, r.text);
  // a forged device cookie is worth nothing
  assert.equal((await loginFrom('127.0.0.101', 'admin', ADMIN_PASSWORD, { cookie: `${adminCookie}x` })).status, 429);
});

test('20,000 requests with random names neither reset a spent budget nor grow memory', async (t) => {
  const rss0 = rssKiB();
  const agents = Array.from({ length: 20 }, () => new http.Agent({ keepAlive: true, maxSockets: 4 }));
  let i = 0;
  const statuses = {};
  const worker = async (w) => {
    while (i < 20000) {
      const n = i++;
      const r = await loginFrom(`127.1.${w}.1`, `rnd-${n}-${Math.random().toString(36).slice(2)}`, 'whatever-pw', { agent: agents[w] });
      statuses[r.status] = (statuses[r.status] || 0) + 1;
    }
  };
  await Promise.all(agents.map((_, w) => worker(w)));
  for (const a of agents) a.destroy();
  assert.equal(Object.values(statuses).reduce((a, b) => a + b, 0), 20000);
  // every address spent its own budget (20 guesses each, one more per 3 minutes), then was slowed
  assert.ok(statuses[429] >= 20000 - 20 * 21, JSON.stringify(statuses));
  // the admin's spent budget is still spent for untrusted clients ...
  assert.equal((await loginFrom('127.0.0.102', 'admin', 'another-guess')).status, 429);
  // ... while the trusted ones still log in
  assert.equal((await loginFrom('127.0.0.1', 'admin', ADMIN_PASSWORD)).status, 200);
  const grown = rssKiB() - rss0;
  t.diagnostic(`20,000 random-name logins: ${JSON.stringify(statuses)}, RSS ${rss0} KiB -> +${grown} KiB`);
  assert.ok(grown < 32 * 1024, `RSS grew by ${grown} KiB`);
  assert.equal((await d.get('/healthz')).status, 200);
});
