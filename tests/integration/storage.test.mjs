// The data directory as an operator meets it: one daemon per directory (lock), flush through the
// API and the CLI, the checkpoint on a clean shutdown, fsck and import while serving, --help of
// every subcommand without side effects, and read-only / full disks reported with their cause.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, BIN, ROOT, DATA, cli, freePort, sleep, until } from './harness.mjs';

const daemons = [];
after(async () => { for (const d of daemons) await d.stop(); });

// No park model: its Modbus devices would be polled (a Modbus server another test or `make run`
// left on their port adds samples), and these tests count samples exactly.
async function daemon(opts = {}) {
  const d = new Daemon({ model: null, ...opts });
  daemons.push(d);
  await d.start();
  return d;
}

async function write(d, lines) {
  const r = await d.post('/write?precision=ms', lines);
  assert.equal(r.status, 204, r.text);
}

async function count(d, token, metric) {
  const r = await d.get(`/api/v1/export?match[]=${metric}_v`, { token });
  assert.equal(r.status, 200, r.text);
  return r.text.trim().split('\n').filter(Boolean).reduce((n, l) => n + JSON.parse(l).values.length, 0);
}

function walBytes(dir) {
  const w = path.join(dir, 'tsdb', 'wal');
  return readdirSync(w).reduce((n, f) => n + statSync(path.join(w, f)).size, 0);
}

function lines(metric, n, t0 = Date.now() - 60000) {
  let s = '';
  for (let i = 0; i < n; i++) s += `${metric},dev=d${i % 10} v=${i} ${t0 + i}\n`;
  return s;
}

test('a second serve on the same data directory exits at once naming the first; nothing acknowledged is lost', async () => {
  const d = await daemon();
  const admin = await d.login();
  await write(d, lines('lock_m', 500));
  const port = await freePort();
  const t0 = Date.now();
  const r = spawnSync(BIN, ['serve', '--data', d.dir, '--set', `http.listen=127.0.0.1:${port}`,
    '--set', 'hj212.listen=', '--set', 'jt808.listen=', '--set', 'mqtt.broker='],
  { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.status, 1);
  assert.ok(Date.now() - t0 < 5000, 'exits at once');
  assert.match(r.stderr, new RegExp(`in use by pid ${d.proc.pid} \\(parkwatch serve since `));
  assert.match(readFileSync(path.join(d.dir, 'lock'), 'utf8'), new RegExp(`^pid=${d.proc.pid}\ncommand=serve\n`));
  // the first daemon kept writing alone: a crash restart finds every acknowledged sample
  await write(d, lines('lock_m', 500, Date.now() - 30000));
  await d.restart('SIGKILL');
  assert.equal(await count(d, await d.login(), 'lock_m'), 1000);
  assert.ok(admin);
});

test('flush: POST /api/v1/admin/flush (admin only) and parkwatch flush through the daemon', async () => {
  const d = await daemon();
  const admin = await d.login();
  assert.equal((await d.post('/api/v1/users', { name: 'sup1', password: 'sup1-password', role: 'supervisor' }, { token: admin })).status, 201);
  const sup = await d.login('sup1', 'sup1-password');
  await write(d, lines('flush_m', 2000));
  assert.ok(walBytes(d.dir) > 20000);
  assert.equal((await d.post('/api/v1/admin/flush', '')).status, 401);
  assert.equal((await d.post('/api/v1/admin/flush', '', { token: sup })).status, 403);
  const r = await d.post('/api/v1/admin/flush', '', { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status, 'ok');
  assert.equal(r.json.samples, 2000);
  assert.ok(r.json.wal_bytes_after <= 16, JSON.stringify(r.json));
  assert.ok(walBytes(d.dir) <= 16 * 2);
  assert.equal(await count(d, admin, 'flush_m'), 2000);

  await write(d, lines('flush_m', 1000, Date.now() - 20000));
  const c = cli(['flush', '--data', d.dir]);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /\(by the daemon\): 1000 samples moved from the WAL into blocks/);
  assert.equal(await count(d, admin, 'flush_m'), 3000);
  assert.match(d.stderr, /msg=flush samples=1000/);
});

test('parkwatch flush without a daemon checkpoints offline', async () => {
  const d = await daemon();
  await write(d, lines('off_m', 300));
  d.proc.kill('SIGKILL'); // no shutdown checkpoint: the samples are in the WAL
  await d.exited;
  assert.ok(walBytes(d.dir) > 3000);
  const c = cli(['flush', '--data', d.dir]);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /offline, no daemon\): 300 samples moved/);
  assert.ok(walBytes(d.dir) <= 32);
  await d.spawn();
  assert.equal(await count(d, await d.login(), 'off_m'), 300);
});

test('SIGTERM checkpoints: the WAL is empty after a clean shutdown and everything is in blocks', async () => {
  const d = await daemon();
  await write(d, lines('term_m', 5000));
  d.proc.kill('SIGTERM');
  const { code } = await d.exited;
  assert.equal(code, 0);
  assert.match(d.stderr, /msg="shutdown checkpoint" samples=5000 /);
  assert.ok(walBytes(d.dir) <= 16 * 2, `WAL ${walBytes(d.dir)} bytes`);
  const blocks = readdirSync(path.join(d.dir, 'tsdb', 'blocks'));
  assert.ok(blocks.some((b) => b.endsWith('.blk')));
  await d.spawn();
  assert.equal(await count(d, await d.login(), 'term_m'), 5000);
  // storage.shutdown_checkpoint=0s: no checkpoint, the WAL keeps the samples, the restart
  // replays them
  d.args.push('--set', 'storage.shutdown_checkpoint=0s');
  await d.restart();
  await write(d, lines('term_m', 100, Date.now() - 10000));
  await d.restart();
  assert.ok(walBytes(d.dir) > 1000);
  assert.equal(await count(d, await d.login(), 'term_m'), 5100);
});

test('fsck and import while the daemon serves: live check, no false errors; the import lands', async () => {
  const d = await daemon();
  const admin = await d.login();
  const stop = { v: false };
  const writer = (async () => {
    let k = 0;
    while (!stop.v) { await write(d, lines('live_m', 200, Date.now() - 50000 + k)); k += 200; }
  })();
  for (let i = 0; i < 5; i++) {
    const f = cli(['fsck', '--data', d.dir]);
    assert.equal(f.status, 0, f.stdout + f.stderr);
    assert.match(f.stdout, new RegExp(`pid ${d.proc.pid} \\(parkwatch serve since .*checking it live`));
    assert.doesNotMatch(f.stdout, /^(error|warning) /m);
    if (i === 2) assert.equal((await d.post('/api/v1/admin/flush', '', { token: admin })).status, 200);
  }
  stop.v = true;
  await writer;
  const imp = cli(['import', '--data', d.dir, path.join(DATA, 'small-park.json')]);
  assert.equal(imp.status, 0, imp.stderr);
  assert.equal((await d.get('/api/v1/devices', { token: admin })).status, 200);
});

test('damaged files at rest: the daemon starts, keeps every valid record, counts and names the damage; fsck explains', async () => {
  const d = await daemon();
  await write(d, lines('dmg_m', 3000, Date.now() - 100000));
  assert.equal((await d.post('/api/v1/admin/flush', '', { token: await d.login() })).status, 200);
  for (let k = 0; k < 3; k++) await write(d, lines('dmg_w', 100, Date.now() - 50000 + k * 1000));
  d.proc.kill('SIGKILL'); // the three writes stay in the WAL
  await d.exited;
  const blk = path.join(d.dir, 'tsdb', 'blocks', readdirSync(path.join(d.dir, 'tsdb', 'blocks')).find((f) => f.endsWith('.blk')));
  const wal = path.join(d.dir, 'tsdb', 'wal', readdirSync(path.join(d.dir, 'tsdb', 'wal')).sort().pop());
  const flip = (file, off) => { const b = readFileSync(file); b[off] ^= 0x10; writeFileSync(file, b); };
  flip(blk, statSync(blk).size - 12); // the footer's checksum
  flip(wal, 16 + 12 + 40); // inside the first of the three records
  const f = cli(['fsck', '--data', d.dir]);
  assert.equal(f.status, 1);
  assert.match(f.stdout, /^error .*\.blk offset=\d+ bad footer/m);
  assert.match(f.stdout, /recoverable from the chunks' own checksums: 10 series, 10 chunks, 3000 samples/);
  assert.match(f.stdout, /^error .*\.wal offset=16 \d+ bytes damaged \(offset=16 record checksum mismatch\); the valid records after them are recovered/m);
  await d.spawn();
  const admin = await d.login();
  assert.equal(await count(d, admin, 'dmg_m'), 3000);
  assert.equal(await count(d, admin, 'dmg_w'), 200); // only the damaged record's 100 are gone
  const m = (await d.get('/metrics')).text;
  assert.match(m, /^parkwatch_tsdb_salvaged_blocks 1$/m);
  assert.match(m, /^parkwatch_tsdb_damaged_regions 2$/m);
  assert.match(d.stderr, /level=error mod=tsdb msg="corrupt bytes skipped, the valid records after them are kept" file=\S+\.wal offset=16 /);
  const kept = readdirSync(path.join(d.dir, 'tsdb', 'damaged'));
  assert.ok(kept.some((n) => n.endsWith('.blk')) && kept.some((n) => /\.wal\.\d+$/.test(n)), kept.join(' '));
  // repaired at that open: a restart finds a clean store and the same samples
  await d.restart();
  assert.equal(await count(d, await d.login(), 'dmg_w'), 200);
  const m2 = (await d.get('/metrics')).text;
  assert.match(m2, /^parkwatch_tsdb_damaged_regions 0$/m); // the block was rewritten from what was recovered
  assert.match(m2, /^parkwatch_tsdb_salvaged_blocks 0$/m);
  d.proc.kill('SIGKILL');
  await d.exited;
  const f2 = cli(['fsck', '--data', d.dir]);
  assert.equal(f2.status, 0, f2.stdout);
  await d.spawn();
});

test('every subcommand answers --help without side effects', () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'pw-help-'));
  try {
    const cases = [['serve'], ['import'], ['import', '--csv', 'devices'], ['export'], ['config'],
      ['user'], ['user', 'add', 'x'], ['user', 'list'], ['token'], ['token', 'create'], ['fsck'],
      ['flush'], ['sim'], ['import', 'x.json', '-h']];
    for (const c of cases) {
      const args = c.includes('-h') ? c : [...c, '--help'];
      const r = spawnSync(BIN, args, { cwd, encoding: 'utf8' });
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: parkwatch ${c[0]}`), args.join(' '));
      assert.deepEqual(readdirSync(cwd), [], `${args.join(' ')} created files`);
    }
    // commands that only read do not create a data directory either
    for (const args of [['export'], ['user', 'list'], ['token', 'list'], ['flush'], ['fsck']]) {
      const r = spawnSync(BIN, [...args, '--data', 'nodata'], { cwd, encoding: 'utf8' });
      assert.notEqual(r.status, 0, args.join(' '));
      assert.deepEqual(readdirSync(cwd), [], `${args.join(' ')} created files`);
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

// tmpfs mounts need root (the CI machines run the suite as root); skipped otherwise.
function mountTmpfs(dir, opts) {
  mkdirSync(dir, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir]).status === 0;
}
const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  const p = mkdtempSync(path.join(tmpdir(), 'pw-mnt-'));
  const ok = mountTmpfs(p, 'size=1m');
  if (ok) spawnSync('umount', [p]);
  rmSync(p, { recursive: true, force: true });
  return ok;
})();

test('a read-only data directory: serve names EROFS at start, import names it too', { skip: !canMount && 'needs root to mount a tmpfs' }, async () => {
  const mnt = mkdtempSync(path.join(tmpdir(), 'pw-ro-'));
  try {
    assert.ok(mountTmpfs(mnt, 'size=64m'));
    const data = path.join(mnt, 'data');
    assert.equal(cli(['import', '--data', data, path.join(DATA, 'small-park.json')]).status, 0);
    assert.equal(spawnSync('mount', ['-o', 'remount,ro', mnt]).status, 0);
    const port = await freePort();
    const r = spawnSync(BIN, ['serve', '--data', data, '--set', `http.listen=127.0.0.1:${port}`,
      '--set', 'hj212.listen=', '--set', 'jt808.listen=', '--set', 'mqtt.broker='], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot write the data directory .*: read-only file system \(PW_EROFS\)/);
    const imp = cli(['import', '--data', data, path.join(DATA, 'small-park.json')]);
    assert.notEqual(imp.status, 0);
    assert.match(imp.stderr, /read-only file system \(PW_EROFS\)/);
    const f = cli(['fsck', '--data', data]); // reading a read-only store works
    assert.equal(f.status, 0, f.stdout + f.stderr);
  } finally {
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});

test('a full disk: writes are refused with the cause in the log, /healthz and /metrics; they resume when space returns', { skip: !canMount && 'needs root to mount a tmpfs' }, async () => {
  const mnt = mkdtempSync(path.join(tmpdir(), 'pw-full-'));
  let d;
  try {
    assert.ok(mountTmpfs(mnt, 'size=48m'));
    d = new Daemon({ model: null });
    rmSync(d.dir, { recursive: true, force: true });
    d.dir = path.join(mnt, 'data');
    await d.start();
    await write(d, lines('full_m', 100));
    // fill the file system
    const filler = path.join(mnt, 'filler');
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M', 'count=64'], { stdio: 'ignore' });
    let refused;
    for (let i = 0; i < 50 && !refused; i++) {
      const r = await d.post('/write?precision=ms', lines('full_m', 20000, Date.now() - 40000 + i * 20000));
      if (r.status >= 500) refused = r;
    }
    assert.ok(refused, 'writes are refused on a full disk');
    const h = await d.get('/healthz');
    assert.equal(h.status, 503);
    assert.equal(h.json.status, 'degraded');
    assert.equal(h.json.storage.error, 'PW_ENOSPC');
    assert.equal(h.json.storage.cause, 'no space left on device');
    const m = await d.get('/metrics');
    assert.match(m.text, /^parkwatch_tsdb_writable 0$/m);
    await until(async () => /^parkwatch_storage_free_bytes \d+$/m.test((await d.get('/metrics')).text), { what: 'the free-space gauge' });
    assert.equal(h.json.storage.read_only, false);
    assert.ok(h.json.storage.free_bytes < 1 << 20, `free ${h.json.storage.free_bytes}`);
    assert.match(m.text, /^parkwatch_tsdb_write_failures_total\{err="PW_ENOSPC"\} [1-9]/m);
    assert.match(d.stderr, /storage write failed, refusing samples until it works.*err=PW_ENOSPC cause="no space left on device"/);
    rmSync(filler);
    await until(async () => (await d.post('/write?precision=ms', lines('full_m', 10, Date.now() - 1000))).status === 204, { what: 'writes accepted again' });
    assert.equal((await d.get('/healthz')).json.storage.state, 'ok');
    await d.restart();
  } finally {
    if (d && d.proc && d.proc.exitCode === null) { d.proc.kill('SIGKILL'); await d.exited; }
    spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});
