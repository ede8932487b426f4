// Test harness: starts a real parkwatch daemon on free loopback ports with its own data directory
// and talks to it over HTTP. Each test file starts its own daemon.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.PARKWATCH_BIN ? path.resolve(ROOT, process.env.PARKWATCH_BIN) : path.join(ROOT, 'build/parkwatch');
export const DATA = path.join(ROOT, 'tests/integration/data');
export const ADMIN_PASSWORD = 'admin-test-pw-1';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

// Runs the CLI synchronously; returns { status, stdout, stderr }.
export function cli(args, opts = {}) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', cwd: ROOT, env: { ...process.env, ...(opts.env || {}) }, input: opts.input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Daemon {
  constructor({ model = path.join(DATA, 'small-park.json'), set = [] } = {}) {
    this.model = model;
    this.extraSet = set;
    this.dir = mkdtempSync(path.join(tmpdir(), 'pw-it-'));
    this.stderr = '';
  }

  async start() {
    this.ports = { http: await freePort(), hj212: await freePort(), jt808: await freePort(), mqtt: await freePort() };
    if (this.model) {
      const r = cli(['import', '--data', this.dir, this.model]);
      if (r.status !== 0) throw new Error(`import failed: ${r.stderr}`);
    }
    this.base = `http://127.0.0.1:${this.ports.http}`;
    const args = ['serve', '--data', this.dir,
      '--set', `http.listen=127.0.0.1:${this.ports.http}`,
      '--set', `hj212.listen=127.0.0.1:${this.ports.hj212}`,
      '--set', `jt808.listen=127.0.0.1:${this.ports.jt808}`,
      '--set', `mqtt.broker=127.0.0.1:${this.ports.mqtt}`,
      ...this.extraSet.flatMap((s) => ['--set', s])];
    this.proc = spawn(BIN, args, { cwd: ROOT, env: { ...process.env, PARKWATCH_ADMIN_PASSWORD: ADMIN_PASSWORD } });
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    for (let i = 0; i < 200; i++) {
      try { const r = await fetch(`${this.base}/healthz`); if (r.ok) return this; } catch { /* not up yet */ }
      if (this.proc.exitCode !== null) break;
      await sleep(50);
    }
    throw new Error(`daemon did not start:\n${this.stderr}`);
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      await this.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  async req(method, p, { token, body, headers = {} } = {}) {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    let b = body;
    if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) { b = JSON.stringify(body); h['Content-Type'] = 'application/json'; }
    const res = await fetch(this.base + p, { method, headers: h, body: b });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json };
  }

  get(p, opts) { return this.req('GET', p, opts); }
  post(p, body, opts = {}) { return this.req('POST', p, { ...opts, body }); }

  async login(user = 'admin', password = ADMIN_PASSWORD) {
    const r = await this.post('/api/v1/login', { user, password });
    if (r.status !== 200) throw new Error(`login ${user}: ${r.status} ${r.text}`);
    return r.json.token;
  }
}
