// Test harness: starts a real parkwatch daemon on free loopback ports with its own data directory
// and talks to it over HTTP. Each test file starts its own daemon.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = process.env.PARKWATCH_BIN ? path.resolve(ROOT, process.env.PARKWATCH_BIN) : path.join(ROOT, 'build/parkwatch');
export const DATA = path.join(ROOT, 'tests/integration/data');
export const ADMIN_PASSWORD = 'admin-test-pw-1';

// A free loopback port, never one this process was given before: the probe is closed when it
// returns, so the kernel may hand the same port out again on the next call, and two users of one
// port would meet (two of the demo's Modbus controllers merged into one by the simulator, their
// registers overwriting each other; a "nobody serves" Modbus port that is the daemon's own HTTP).
const portsGiven = new Set();
function probePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}
export async function freePort() {
  for (;;) {
    const port = await probePort();
    if (!portsGiven.has(port)) { portsGiven.add(port); return port; }
  }
}

// Runs the CLI synchronously; returns { status, stdout, stderr }.
export function cli(args, opts = {}) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', cwd: ROOT, env: { ...process.env, ...(opts.env || {}) }, input: opts.input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Daemon {
  // prefix: a command the daemon is started under (e.g. ['prlimit', '--nofile=1024:20000', '--']).
  // keepModbusPorts: use the model's Modbus ports as they are. Otherwise every Modbus device of
  // the model is pointed at a free port nobody serves, so that a fixture's fixed ports (the small
  // park's 15020/15021) never reach a simulator that happens to run on this machine (`make run`).
  constructor({ model = path.join(DATA, 'small-park.json'), set = [], prefix = [], keepModbusPorts = false } = {}) {
    this.model = model;
    this.extraSet = set;
    this.prefix = prefix;
    this.keepModbusPorts = keepModbusPorts;
    this.dir = mkdtempSync(path.join(tmpdir(), 'pw-it-'));
    this.stderr = '';
  }

  async start() {
    this.ports = { http: await freePort(), hj212: await freePort(), jt808: await freePort(), mqtt: await freePort() };
    if (this.model && !this.keepModbusPorts) {
      const m = JSON.parse(readFileSync(this.model, 'utf8'));
      if ((m.devices || []).some((dev) => dev.modbus)) {
        for (const dev of m.devices) if (dev.modbus) dev.modbus.port = await freePort();
        this.model = path.join(this.dir, 'model-free-ports.json');
        writeFileSync(this.model, JSON.stringify(m));
      }
    }
    if (this.model) {
      const r = cli(['import', '--data', this.dir, this.model]);
      if (r.status !== 0) throw new Error(`import failed: ${r.stderr}`);
    }
    // a port probed free may be taken by another process before the daemon binds it: then the
    // daemon stops ("cannot listen") and it gets new ports
    for (let attempt = 1; ; attempt++) {
      this.base = `http://127.0.0.1:${this.ports.http}`;
      this.args = ['serve', '--data', this.dir,
        '--set', `http.listen=127.0.0.1:${this.ports.http}`,
        '--set', `hj212.listen=127.0.0.1:${this.ports.hj212}`,
        '--set', `jt808.listen=127.0.0.1:${this.ports.jt808}`,
        '--set', `mqtt.broker=127.0.0.1:${this.ports.mqtt}`,
        ...this.extraSet.flatMap((s) => ['--set', s])];
      try {
        return await this.spawn();
      } catch (e) {
        if (attempt >= 3 || this.proc.exitCode === null || !/msg="cannot listen"/.test(this.stderr)) throw e;
        await this.exited;
        this.stderr = '';
        this.ports = { ...this.ports, http: await freePort(), hj212: await freePort(), jt808: await freePort() };
      }
    }
  }

  // (Re)starts the daemon process on the same data directory and ports; waits for /healthz.
  async spawn() {
    const [cmd, ...pre] = this.prefix.length ? this.prefix : [BIN];
    const argv = this.prefix.length ? [...pre, BIN, ...this.args] : this.args;
    this.proc = spawn(cmd, argv, { cwd: ROOT, env: { ...process.env, PARKWATCH_ADMIN_PASSWORD: ADMIN_PASSWORD } });
    this.proc.stderr.on('data', (d) => { this.stderr += d; });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => {
      // a crash (not our SIGTERM): show why, or the test only sees "fetch failed"
      if (signal && signal !== 'SIGTERM' && signal !== 'SIGKILL' || code)
        process.stderr.write(`parkwatch exited code=${code} signal=${signal}:\n${this.stderr.slice(-6000)}\n`);
      resolve({ code, signal });
    }));
    for (let i = 0; i < 200; i++) {
      // (an answer while our process has exited came from another process on the port)
      try { const r = await fetch(`${this.base}/healthz`); if (r.ok && this.proc.exitCode === null) return this; } catch { /* not up yet */ }
      if (this.proc.exitCode !== null) break;
      await sleep(50);
    }
    throw new Error(`daemon did not start:\n${this.stderr}`);
  }

  // Clean stop (SIGTERM) or crash (SIGKILL), then start again on the same data.
  async restart(signal = 'SIGTERM') {
    this.proc.kill(signal);
    await this.exited;
    return this.spawn();
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      await this.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(`${this.dir}-archive.key`, { force: true }); // the archive's default key file
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

// ---- real peers for the MQTT and Modbus tests ----

// A Mosquitto broker on a free loopback port (Debian's mosquitto), with a config file of its own
// so that it can be stopped and started again on the same port.
export class Mosquitto {
  constructor(port) { this.port = port; this.log = ''; }

  // Ready once it says it runs and takes connections; a broker of another process on the port
  // (ours then stops: "Address already in use") does not count: a port of our own choosing is
  // then given up for a new one.
  async start() {
    const chosen = !this.port;
    for (let attempt = 1; ; attempt++) {
      if (!this.port) this.port = await freePort();
      this.log = '';
      this.proc = spawn('mosquitto', ['-p', String(this.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
      this.proc.stderr.on('data', (d) => { this.log += d; });
      this.proc.stdout.on('data', (d) => { this.log += d; });
      this.exited = new Promise((resolve) => this.proc.on('exit', resolve));
      for (let i = 0; i < 100 && this.proc.exitCode === null; i++) {
        const ok = / running/.test(this.log) && await new Promise((resolve) => {
          const s = net.connect(this.port, '127.0.0.1', () => { s.destroy(); resolve(true); });
          s.on('error', () => resolve(false));
        });
        if (ok && this.proc.exitCode === null) return this;
        await sleep(50);
      }
      if (!chosen || attempt >= 3 || this.proc.exitCode === null || !/Address already in use/.test(this.log))
        throw new Error(`mosquitto did not start:\n${this.log}`);
      this.port = undefined;
    }
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) { this.proc.kill('SIGTERM'); await this.exited; }
  }

  // mosquitto_pub at QoS 1; payload is a string or an object (sent as JSON).
  pub(topic, payload, { qos = 1, retain = false } = {}) {
    const m = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const r = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(this.port), '-q', String(qos), '-t', topic, m === '' ? '-n' : '-s', ...(retain ? ['-r'] : [])],
      { input: m, encoding: 'utf8', timeout: 10000 });
    if (r.status !== 0) throw new Error(`mosquitto_pub ${topic}: ${r.status} ${r.stderr}`);
  }
}

// The libmodbus test server (tests/integration/modbus_server.c, built into build/tests/).
export class ModbusServer {
  constructor(port, { unit = 1, size = 1000 } = {}) { this.port = port; this.unit = unit; this.size = size; this.out = ''; }

  async start() {
    if (!this.port) this.port = await freePort();
    const bin = path.join(ROOT, 'build/tests/modbus_server');
    this.proc = spawn(bin, ['--port', String(this.port), '--unit', String(this.unit), '--size', String(this.size)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => { this.out += d; });
    this.proc.stderr.on('data', (d) => { this.out += d; });
    this.exited = new Promise((resolve) => this.proc.on('exit', resolve));
    for (let i = 0; i < 100 && !this.out.includes('ready'); i++) await sleep(20);
    if (!this.out.includes('ready')) throw new Error(`modbus_server did not start: ${this.out}`);
    return this;
  }

  send(line) { this.proc.stdin.write(line + '\n'); }
  set(table, addr, type, value, order = 'big') { this.send(`set ${table} ${addr} ${type} ${value} ${order}`); }
  // Resolves once every command sent so far has been applied (the server answers "count N").
  async sync() {
    const seen = (this.out.match(/^count /gm) || []).length;
    this.send('count');
    for (let i = 0; i < 250 && (this.out.match(/^count /gm) || []).length <= seen; i++) await sleep(20);
  }
  mute() { this.send('mute'); }
  unmute() { this.send('unmute'); }

  async stop() {
    if (this.proc && this.proc.exitCode === null) { this.proc.kill('SIGKILL'); await this.exited; }
  }
}

// Polls fn until it returns a truthy value (returned) or the time is up (throws with what).
export async function until(fn, { timeout = 10000, every = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await sleep(every);
  }
  throw new Error(`timed out waiting for ${what}`);
}
