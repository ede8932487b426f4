// `make run` (scripts/run-demo): after the banner the terminal stays readable — the daemon's
// info lines go to the log file the banner names, warnings and errors still show.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, freePort, sleep, until } from './harness.mjs';

test('run-demo: banner, then no info flood; the log file has it all', async () => {
  const data = path.join(mkdtempSync(path.join(tmpdir(), 'pw-demo-')), 'demo');
  const http = await freePort();
  const env = {
    ...process.env, PARKWATCH_DEMO_DATA: data, PARKWATCH_DEMO_HTTP: `127.0.0.1:${http}`,
    PARKWATCH_DEMO_MQTT_PORT: String(await freePort()), PARKWATCH_DEMO_HJ212_PORT: String(await freePort()),
    PARKWATCH_DEMO_JT808_PORT: String(await freePort()), PARKWATCH_DEMO_SIM: '0',
  };
  const p = spawn(path.join(ROOT, 'scripts/run-demo'), [], { cwd: ROOT, env, detached: true });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((r) => p.on('exit', r));
  try {
    await until(() => out.includes('Ctrl-C stops everything.'), { timeout: 30000, what: 'the banner' });
    const banner = out.indexOf('parkwatch is running');
    assert.ok(banner >= 0);
    assert.match(out, new RegExp(`logs +${data.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/parkwatch\\.log`));
    // activity that logs at info level: logins, a write
    for (let i = 0; i < 3; i++) {
      await fetch(`http://127.0.0.1:${http}/api/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'admin', password: 'parkwatch-demo' }) });
    }
    // and one that warns: a failed login
    await fetch(`http://127.0.0.1:${http}/api/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'admin', password: 'wrong-password' }) });
    await sleep(1000);
    const after = out.slice(banner);
    assert.doesNotMatch(after, /level=info/);
    const log = readFileSync(path.join(data, 'parkwatch.log'), 'utf8');
    assert.match(log, /level=info mod=serve msg=ready/);
    assert.match(log, /level=warn/);
    assert.match(after, /level=warn/, 'warnings still reach the terminal');
  } finally {
    try { process.kill(-p.pid, 'SIGINT'); } catch { /* gone */ }
    await Promise.race([exited, sleep(15000)]);
    try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
    if (existsSync(data)) rmSync(path.dirname(data), { recursive: true, force: true });
  }
});
