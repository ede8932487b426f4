// Foundation: the daemon's CLI, configuration, HTTP basics, login, roles and scoping.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { Daemon, cli, DATA, ROOT, ADMIN_PASSWORD } from './harness.mjs';

function rawGet(port, p) {
  return new Promise((resolve, reject) => {
    let out = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

let d;
let admin;
before(async () => {
  d = await new Daemon().start();
  admin = await d.login();
  for (const u of [
    { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' },
    { name: 'viewer', password: 'viewer-password', role: 'viewer' },
    { name: 'super', password: 'super-password', role: 'supervisor' },
  ]) {
    const r = await d.post('/api/v1/users', u, { token: admin });
    assert.equal(r.status, 201, r.text);
  }
});
after(async () => { await d.stop(); });

test('healthz and metrics answer without authentication', async () => {
  const h = await d.get('/healthz');
  assert.equal(h.status, 200);
  assert.equal(h.json.status, 'ok');
  const m = await d.get('/metrics');
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type'), /text\/plain/);
  assert.match(m.text, /^# TYPE parkwatch_http_requests_total counter$/m);
  assert.match(m.text, /^process_resident_memory_bytes \d+$/m);
});

test('login: wrong password is refused, right one gives a token and a session cookie', async () => {
  const bad = await d.post('/api/v1/login', { user: 'admin', password: 'nope-nope' });
  assert.equal(bad.status, 401);
  const r = await d.post('/api/v1/login', { user: 'admin', password: ADMIN_PASSWORD });
  assert.equal(r.status, 200);
  assert.match(r.json.token, /^pws_/);
  assert.equal(r.json.principal.role, 'admin');
  const cookie = r.headers.get('set-cookie');
  assert.match(cookie, /pw_session=pws_[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
  const me = await d.get('/api/v1/me', { headers: { Cookie: cookie.split(';')[0] } });
  assert.equal(me.status, 200);
  assert.equal(me.json.user, 'admin');
  const garbage = await d.post('/api/v1/login', '{not json');
  assert.equal(garbage.status, 400);
});

test('logout ends the session', async () => {
  const tok = await d.login('super', 'super-password');
  assert.equal((await d.get('/api/v1/me', { token: tok })).status, 200);
  assert.equal((await d.post('/api/v1/logout', '', { token: tok })).status, 200);
  assert.equal((await d.get('/api/v1/me', { token: tok })).status, 401);
});

test('API needs authentication', async () => {
  for (const p of ['/api/v1/devices', '/api/v1/enterprises', '/api/v1/me', '/api/v1/users']) {
    const r = await d.get(p);
    assert.equal(r.status, 401, p);
  }
  const r = await d.get('/api/v1/devices', { token: 'pwt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
  assert.equal(r.status, 401);
  assert.equal((await d.get('/api/v1/nosuch', { token: admin })).status, 404);
});

test('supervisor and admin see the whole park', async () => {
  const tok = await d.login('super', 'super-password');
  const ents = await d.get('/api/v1/enterprises', { token: tok });
  assert.deepEqual(ents.json.map((e) => e.id).sort(), ['E1', 'E2']);
  const devs = await d.get('/api/v1/devices', { token: admin });
  assert.deepEqual(devs.json.map((x) => x.id).sort(), ['AQ-01', 'E1-GD-001', 'E2-GD-001']);
  const dev = await d.get('/api/v1/devices/E2-GD-001', { token: tok });
  assert.equal(dev.status, 200);
  assert.equal(dev.json.points[0].setpoints.alarm1, 7.1);
  const park = await d.get('/api/v1/park', { token: tok });
  assert.equal(park.json.name, '测试化工园区');
});

test('an enterprise user sees only its own enterprise', async () => {
  const tok = await d.login('ent1', 'ent1-password');
  const ents = await d.get('/api/v1/enterprises', { token: tok });
  assert.deepEqual(ents.json.map((e) => e.id), ['E1']);
  const devs = await d.get('/api/v1/devices', { token: tok });
  assert.deepEqual(devs.json.map((x) => x.id), ['E1-GD-001']);
  const pts = await d.get('/api/v1/points', { token: tok });
  assert.deepEqual(pts.json.map((x) => x.id), ['E1-GD-001-P']);
  assert.equal((await d.get('/api/v1/devices/E1-GD-001', { token: tok })).status, 200);
  // another enterprise's objects and park-owned devices do not exist for this user
  for (const p of ['/api/v1/devices/E2-GD-001', '/api/v1/points/E2-GD-001-P', '/api/v1/enterprises/E2',
    '/api/v1/devices/AQ-01', '/api/v1/points/AQ-01-SO2']) {
    const r = await d.get(p, { token: tok });
    assert.equal(r.status, 404, p);
  }
  // device secrets are for administrators only
  const aq = await d.get('/api/v1/devices/AQ-01', { token: await d.login('super', 'super-password') });
  assert.equal(aq.json.hj212.mn, '010000A8900016F000169DC0');
  assert.equal(aq.json.hj212.password, undefined);
  assert.equal((await d.get('/api/v1/devices/AQ-01', { token: admin })).json.hj212.password, '123456');
  const veh = await d.get('/api/v1/vehicles', { token: tok });
  assert.deepEqual(veh.json.map((v) => v.id), ['V1']);
  // filters cannot widen the scope
  const other = await d.get('/api/v1/devices?enterprise=E2', { token: tok });
  assert.deepEqual(other.json, []);
  // and it may not administer
  assert.equal((await d.post('/api/v1/model/import', '{}', { token: tok })).status, 403);
  assert.equal((await d.get('/api/v1/users', { token: tok })).status, 403);
});

test('a viewer reads everything and changes nothing', async () => {
  const tok = await d.login('viewer', 'viewer-password');
  assert.equal((await d.get('/api/v1/devices', { token: tok })).json.length, 3);
  assert.equal((await d.post('/api/v1/users', { name: 'x', password: 'xxxxxxxxx', role: 'admin' }, { token: tok })).status, 403);
  assert.equal((await d.post('/api/v1/model/import', '{}', { token: tok })).status, 403);
  assert.equal((await d.post('/api/v1/tokens', { name: 't', role: 'admin' }, { token: tok })).status, 403);
  assert.equal((await d.req('DELETE', '/api/v1/users/ent1', { token: tok })).status, 403);
});

test('API tokens work as bearer credentials and keep their role', async () => {
  const r = await d.post('/api/v1/tokens', { name: 'integrator', role: 'enterprise', enterprise: 'E2' }, { token: admin });
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.token, /^pwt_/);
  const devs = await d.get('/api/v1/devices', { token: r.json.token });
  assert.deepEqual(devs.json.map((x) => x.id), ['E2-GD-001']);
  // created from the command line while the daemon runs
  const c = cli(['token', 'create', '--data', d.dir, '--name', 'cli-token', '--role', 'viewer']);
  assert.equal(c.status, 0, c.stderr);
  const me = await d.get('/api/v1/me', { token: c.stdout.trim() });
  assert.equal(me.json.role, 'viewer');
  assert.equal(cli(['token', 'revoke', '--data', d.dir, 'cli-token']).status, 0);
  assert.equal((await d.get('/api/v1/me', { token: c.stdout.trim() })).status, 401);
});

test('admin imports over HTTP; a bad import names the JSON path and changes nothing', async () => {
  const before = await d.get('/api/v1/model/export', { token: admin });
  assert.equal(before.status, 200);
  const bad = structuredClone(before.json);
  bad.devices[0].points[0].setpoints.alarm1 = 'high';
  const r = await d.post('/api/v1/model/import', JSON.stringify(bad), { token: admin });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /\$\.devices\[0\]\.points\[0\]\.setpoints\.alarm1/);
  const afterBad = await d.get('/api/v1/model/export', { token: admin });
  assert.equal(afterBad.text, before.text);
  const good = structuredClone(before.json);
  good.enterprises[0].industry = '精细化工（改）';
  assert.equal((await d.post('/api/v1/model/import', JSON.stringify(good), { token: admin })).status, 200);
  const e1 = await d.get('/api/v1/enterprises/E1', { token: admin });
  assert.equal(e1.json.industry, '精细化工（改）');
});

test('failed logins are rate limited', async () => {
  const r0 = await d.post('/api/v1/users', { name: 'victim', password: 'victim-password', role: 'viewer' }, { token: admin });
  assert.equal(r0.status, 201);
  let last;
  for (let i = 0; i < 6; i++) last = await d.post('/api/v1/login', { user: 'victim', password: `wrong-${i}` });
  assert.equal(last.status, 429);
  assert.ok(Number(last.headers.get('retry-after')) > 0);
  // even the right password is refused while locked
  assert.equal((await d.post('/api/v1/login', { user: 'victim', password: 'victim-password' })).status, 429);
  const m = await d.get('/metrics');
  assert.match(m.text, /parkwatch_logins_total\{result="rate_limited"\} [1-9]/);
});

test('static files: index with CSP and ETag, 304 on revalidation, no escape from web root', async () => {
  const r = await d.get('/');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /text\/html/);
  assert.match(r.headers.get('content-security-policy'), /script-src 'self'/);
  const etag = r.headers.get('etag');
  assert.ok(etag);
  const again = await d.get('/', { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  const js = await d.get('/app.js');
  assert.match(js.headers.get('content-type'), /text\/javascript/);
  // raw requests: fetch() would normalise the dots away
  for (const p of ['/../Makefile', '/%2e%2e/Makefile', '/..%2fMakefile', '/.git/config', '/vendor/../../Makefile']) {
    const text = await rawGet(d.ports.http, p);
    assert.doesNotMatch(text, /SANITIZE|\[core\]/, p);
  }
});

test('oversized bodies are refused with 413', async () => {
  const d2 = await new Daemon({ set: ['http.max_json_body=1KiB', 'http.max_body=2KiB'] }).start();
  try {
    const r = await d2.post('/api/v1/login', 'x'.repeat(5000));
    assert.equal(r.status, 413);
    assert.match(r.json.error, /http\.max_json_body/);
    const w = await d2.post('/write', 'x'.repeat(5000));
    assert.equal(w.status, 413);
    assert.match(w.json.error, /http\.max_body/);
    assert.equal((await d2.get('/healthz')).status, 200);
  } finally { await d2.stop(); }
});

test('configuration: unknown keys and bad values are refused, naming them', () => {
  let r = cli(['serve', '--data', '/tmp/pw-never', '--set', 'http.nosuch=1']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /http\.nosuch/);
  r = cli(['serve', '--data', '/tmp/pw-never', '--set', 'storage.retention=1h']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /storage\.retention.*out of range/);
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-cfg-'));
  try {
    const def = cli(['config', '--defaults']);
    assert.equal(def.status, 0);
    assert.match(def.stdout, /^\[storage\]$/m);
    assert.match(def.stdout, /^fsync = batch$/m);
    writeFileSync(path.join(dir, 'pw.ini'), def.stdout);
    const chk = cli(['config', '--check', '--config', path.join(dir, 'pw.ini'), '--set', 'storage.retention=30d']);
    assert.equal(chk.status, 0, chk.stderr);
    assert.match(chk.stdout, /^retention = 30d$/m);
    writeFileSync(path.join(dir, 'bad.ini'), '[hj212]\nunknown_devices = maybe\n');
    const bad = cli(['config', '--check', '--config', path.join(dir, 'bad.ini')]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /bad\.ini:2: hj212\.unknown_devices/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('CLI import: errors name the JSON path and leave the database unchanged; export round-trips', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-imp-'));
  try {
    assert.equal(cli(['import', '--data', dir, path.join(DATA, 'small-park.json')]).status, 0);
    const e1 = cli(['export', '--data', dir]);
    assert.equal(e1.status, 0);
    const model = JSON.parse(e1.stdout);
    model.devices[1].enterprise = 'E99';
    writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(model));
    const bad = cli(['import', '--data', dir, path.join(dir, 'bad.json')]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /\$\.devices\[1\]\.enterprise/);
    assert.equal(cli(['export', '--data', dir]).stdout, e1.stdout);
    writeFileSync(path.join(dir, 'again.json'), e1.stdout);
    assert.equal(cli(['import', '--data', dir, path.join(dir, 'again.json')]).status, 0);
    assert.equal(cli(['export', '--data', dir]).stdout, e1.stdout);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('SIGTERM shuts the daemon down cleanly', async () => {
  const d3 = await new Daemon().start();
  d3.proc.kill('SIGTERM');
  const { code } = await d3.exited;
  assert.equal(code, 0);
  assert.match(d3.stderr, /msg="shutting down"/);
  assert.match(d3.stderr, /msg=stopped/);
  await d3.stop();
});

test('version and help', () => {
  assert.match(cli(['version']).stdout, /^parkwatch \d+\.\d+\.\d+/);
  const h = cli(['help']);
  assert.equal(h.status, 0);
  for (const c of ['serve', 'import', 'export', 'config', 'user', 'token']) assert.match(h.stdout, new RegExp(`\\b${c}\\b`));
  assert.equal(cli(['frobnicate']).status, 2);
});

test('docs/configuration.md is the generated table (run scripts/gen-config-doc.sh after changing keys)', () => {
  const doc = readFileSync(path.join(ROOT, 'docs/configuration.md'), 'utf8');
  const table = cli(['config', '--markdown']).stdout;
  assert.ok(doc.endsWith(table), 'docs/configuration.md is out of date: run scripts/gen-config-doc.sh');
});
