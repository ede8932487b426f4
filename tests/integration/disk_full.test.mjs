// A full disk, for real: the data directory is a small tmpfs (we run as root) filled to the last
// byte. Logins, authenticated reads and logouts keep working (sessions live in memory; meta.db is
// their best-effort persistence), writes that cannot be done answer 507 naming the cause, the
// log says why sessions are not written, and once space is back they are written: a session
// created while the disk was full survives a restart, one logged out meanwhile does not.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, writeSync, closeSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, cli, sleep, DATA, until } from './harness.mjs';

const root = process.getuid && process.getuid() === 0;
let d, mnt, admin, fill, apiToken;

// Writes zeros into `file` until the file system refuses (ENOSPC).
function fillUp(file) {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let n = 0;
  try {
    for (;;) { writeSync(fd, chunk); n += chunk.length; }
  } catch (e) {
    if (e.code !== 'ENOSPC') throw e;
  }
  // the last partial chunk
  for (let sz = 32 * 1024; sz >= 1; sz = Math.floor(sz / 2)) {
    try { for (;;) writeSync(fd, chunk.subarray(0, sz)); } catch (e) { if (e.code !== 'ENOSPC') throw e; }
  }
  closeSync(fd);
  return n;
}

before(async () => {
  if (!root) return;
  mnt = mkdtempSync(path.join(tmpdir(), 'pw-full-'));
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mnt], { encoding: 'utf8' });
  assert.equal(m.status, 0, `mount tmpfs: ${m.stderr}`);
  d = new Daemon({ model: null });
  rmSync(d.dir, { recursive: true, force: true });
  d.dir = path.join(mnt, 'data');
  const r = cli(['import', '--data', d.dir, path.join(DATA, 'small-park.json')]);
  assert.equal(r.status, 0, r.stderr);
  await d.start();
  admin = await d.login();
  assert.equal((await d.post('/api/v1/users', { name: 'op', password: 'op-password', role: 'supervisor' }, { token: admin })).status, 201);
  const t = await d.post('/api/v1/tokens', { name: 'board', role: 'viewer' }, { token: admin });
  assert.equal(t.status, 201, t.text);
  apiToken = t.json.token;
});

after(async () => {
  if (!root) return;
  await d?.stop().catch(() => {});
  spawnSync('umount', ['-l', mnt]);
  rmSync(mnt, { recursive: true, force: true });
});

let whileFull, loggedOut;

test('with the disk full, logins, reads and logouts work; refused writes name the cause', { skip: !root && 'needs root to mount a tmpfs' }, async () => {
  fill = path.join(mnt, 'fill');
  assert.ok(fillUp(fill) > 0);
  // logins: a session each, though meta.db cannot take them
  const r = await d.post('/api/v1/login', { user: 'op', password: 'op-password' });
  assert.equal(r.status, 200, r.text);
  whileFull = r.json.token;
  loggedOut = await d.login('op', 'op-password');
  for (const tok of [whileFull, loggedOut]) {
    assert.equal((await d.get('/api/v1/me', { token: tok })).json.user, 'op');
    const dev = await d.get('/api/v1/devices', { token: tok });
    assert.equal(dev.status, 200);
    assert.ok(dev.json.length > 0);
  }
  // API tokens too (their last-use stamp simply waits)
  for (let i = 0; i < 3; i++) assert.equal((await d.get('/api/v1/alarms', { token: apiToken })).status, 200);
  // the cookie works the same
  const c = await d.get('/api/v1/me', { headers: { Cookie: `pw_session=${whileFull}` } });
  assert.equal(c.status, 200);
  // a write that needs the disk says so
  const u = await d.post('/api/v1/users', { name: 'late', password: 'late-password', role: 'viewer' }, { token: admin });
  assert.equal(u.status, 507, u.text);
  assert.match(u.json.error, /disk is full/);
  // logout ends the session at once
  assert.equal((await d.post('/api/v1/logout', undefined, { token: loggedOut })).status, 200);
  assert.equal((await d.get('/api/v1/me', { token: loggedOut })).status, 401);
  // and the log names the cause
  await until(() => /sessions kept in memory only.*err="database or disk is full"/.test(d.stderr), { what: 'the log line' });
  assert.equal((await d.get('/healthz')).status, 200);
});

test('once there is space again the sessions are written: they survive a restart, the logged-out one does not', { skip: !root && 'needs root to mount a tmpfs' }, async () => {
  unlinkSync(fill);
  // the next session use after the retry interval writes what is pending
  await sleep(5500);
  assert.equal((await d.get('/api/v1/me', { token: admin })).status, 200);
  await until(() => /sessions written to meta.db again/.test(d.stderr), { what: 'the sessions written' });
  await d.restart();
  assert.equal((await d.get('/api/v1/me', { token: whileFull })).status, 200, 'created while the disk was full');
  assert.equal((await d.get('/api/v1/me', { token: loggedOut })).status, 401, 'logged out while the disk was full');
  const u = await d.post('/api/v1/users', { name: 'late', password: 'late-password', role: 'viewer' }, { token: admin });
  assert.equal(u.status, 201, u.text);
});
