// The province tier over NATS JetStream, on one machine: two park parkwatch daemons, each with
// its own leaf nats-server (configured by `parkwatch uplink setup`), a hub nats-server and a
// province parkwatch (`serve --role province`), the leaf→hub links through kill-able TCP proxies
// written here. Faults: a WAN cut while both parks keep writing, a park parkwatch kill -9 in the
// middle of its writes (it replays from its cursor), the province parkwatch kill -9, the hub
// kill -9 and restart (twice, once while catching up), a park's nats-server kill -9. Afterwards,
// per park and per kind, the province holds exactly what the park holds — 0 missing, 0
// duplicated — compared sample by sample through /api/v1/export and event by event.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { Daemon, DATA, cli, freePort, sleep, until } from './harness.mjs';

const T0 = Date.UTC(2026, 0, 1); // sample timestamps: fixed, distinct per round
const cleanups = [];
after(async () => { for (const f of cleanups.reverse()) await f(); });

// A TCP proxy that can cut the link: every connection is dropped and new ones are refused.
class Proxy {
  constructor(target) { this.target = target; this.socks = new Set(); this.down = false; }
  async start() {
    this.port = await freePort();
    this.server = net.createServer((c) => {
      if (this.down) { c.destroy(); return; }
      const u = net.connect(this.target, '127.0.0.1');
      this.socks.add(c); this.socks.add(u);
      const drop = () => { c.destroy(); u.destroy(); this.socks.delete(c); this.socks.delete(u); };
      c.on('error', drop); u.on('error', drop); c.on('close', drop); u.on('close', drop);
      c.pipe(u); u.pipe(c);
    });
    await new Promise((r) => this.server.listen(this.port, '127.0.0.1', r));
    return this;
  }
  cut() { this.down = true; for (const s of this.socks) s.destroy(); this.socks.clear(); }
  restore() { this.down = false; }
  close() { this.cut(); return new Promise((r) => this.server.close(r)); }
}

// A nats-server whose configuration `parkwatch uplink setup` wrote.
class Nats {
  constructor(args) { this.args = args; this.dir = mkdtempSync(path.join(tmpdir(), 'pw-nats-')); this.log = ''; }
  async start() {
    this.port = await freePort();
    this.conf = path.join(this.dir, 'nats.conf');
    const extra = this.args.role === 'hub' ? ['--leaf-port', String(this.args.leafPort)] : [];
    const r = cli(['uplink', 'setup', ...this.args.setup, '--port', String(this.port), '--store', path.join(this.dir, 'js'), '-o', this.conf, ...extra]);
    assert.equal(r.status, 0, r.stderr);
    return this.spawn();
  }
  // Started when its own log says so (not when something answers on the port: on a shared
  // machine that could be another test's server); its exit (a port taken meanwhile) fails at
  // once with its log. A loaded machine may take a while to recover a store after kill -9.
  async spawn() {
    let out = '';
    this.proc = spawn('nats-server', ['-c', this.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr.on('data', (d) => { out += d; this.log = (this.log + d).slice(-20000); });
    this.exited = new Promise((r) => this.proc.on('exit', r));
    let code;
    this.exited.then((c) => { code = c ?? 'signal'; });
    await until(() => {
      if (code !== undefined) throw new Error(`nats-server ${this.conf} exited (${code}):\n${out.slice(-3000)}`);
      return out.includes('Server is ready');
    }, { timeout: 60000, what: `nats-server on ${this.port}` });
    return this;
  }
  async kill9() { this.proc.kill('SIGKILL'); await this.exited; }
  async stop() { if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) { this.proc.kill('SIGTERM'); await this.exited; } rmSync(this.dir, { recursive: true, force: true }); }
}

class ProvinceDaemon extends Daemon {
  spawn() { if (!this.args.includes('--role')) this.args.splice(1, 0, '--role', 'province'); return super.spawn(); }
}

// The park model: the test park plus a fire panel (device events).
function parkModel(dir) {
  const m = JSON.parse(readFileSync(path.join(DATA, 'small-park.json'), 'utf8'));
  // no live pollers: the park holds exactly what the test writes
  for (const d of m.devices) if (d.protocol === 'modbus') { d.protocol = 'none'; delete d.modbus; for (const pt of d.points || []) delete pt.register; }
  m.devices.push({ id: 'FP-1', name: '火灾报警控制器', kind: 'fire_panel', enterprise: 'E1', protocol: 'none', points: [] });
  const f = path.join(dir, 'park-model.json');
  writeFileSync(f, JSON.stringify(m));
  return f;
}

async function exportAll(d, token, match) {
  const r = await d.get(`/api/v1/export?match[]=${encodeURIComponent(match)}`, { token });
  assert.equal(r.status, 200, r.text);
  const out = new Map();
  let dups = 0;
  for (const line of r.text.split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line);
    const labels = { ...o.metric }; delete labels.park;
    const key = JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
    const m = out.get(key) || new Map();
    o.timestamps.forEach((t, i) => { if (m.has(t)) dups++; m.set(t, o.values[i]); });
    out.set(key, m);
  }
  return { series: out, dups, count: [...out.values()].reduce((a, m) => a + m.size, 0) };
}

async function parkEvents(d, token) {
  const ids = [];
  let after = 0;
  for (;;) {
    const r = await d.get(`/api/v1/device-events?limit=1000&after_id=${after}`, { token });
    assert.equal(r.status, 200, r.text);
    for (const e of r.json.events) ids.push(e.id);
    if (r.json.events.length < 1000) break;
    after = r.json.next;
  }
  return ids;
}

async function provinceRecords(pv, token, kind, park) {
  const recs = [];
  let after = 0;
  for (;;) {
    const r = await pv.get(`/api/v1/province/${kind}?park=${park}&limit=10000&after=${after}`, { token });
    assert.equal(r.status, 200, r.text);
    recs.push(...r.json.data);
    if (r.json.data.length < 10000) break;
    after = r.json.next;
  }
  return recs;
}

test('parks forward through WAN cuts and kills: the province holds exactly what each park holds', { timeout: 600000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'pw-uplink-'));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  const parks = ['a', 'b'];
  const leafPort = await freePort();
  const hub = await new Nats({ role: 'hub', setup: ['--role', 'hub', '--id', 'zj', '--parks', parks.join(','), '--password', 'a=pa-secret,b=pb-secret'], leafPort }).start();
  cleanups.push(() => hub.stop());
  const proxies = {}, leaves = {}, nodes = {};
  const model = parkModel(work);
  for (const p of parks) {
    proxies[p] = await new Proxy(leafPort).start();
    cleanups.push(() => proxies[p].close());
    leaves[p] = await new Nats({ role: 'park', setup: ['--role', 'park', '--id', p, '--hub', `nats-leaf://127.0.0.1:${proxies[p].port}`, '--password', `p${p}-secret`] }).start();
    cleanups.push(() => leaves[p].stop());
    nodes[p] = new Daemon({ model, set: ['uplink.enabled=true', `uplink.park=${p}`, `uplink.nats_url=nats://127.0.0.1:${leaves[p].port}`, 'uplink.ack_wait=2s', 'mqtt.broker='] });
    await nodes[p].start();
    cleanups.push(() => nodes[p].stop());
  }
  const pv = new ProvinceDaemon({ model: null, set: ['province.id=zj', `province.parks=${parks.join(',')}`, `province.nats_url=nats://127.0.0.1:${hub.port}`, 'province.fetch=64', 'mqtt.broker='] });
  await pv.start();
  cleanups.push(() => pv.stop());
  const tokens = {};
  for (const p of parks) tokens[p] = await nodes[p].login();
  let ptoken = await pv.login();

  // Writes one round to a park: 10 series × 20 samples, a gas reading crossing the alarm
  // setpoints, a fire panel event. Returns whether the park acknowledged all of it.
  const rounds = { a: 0, b: 0 };
  const writeRound = async (p) => {
    const r = rounds[p]++;
    const lines = [];
    for (let s = 0; s < 10; s++) for (let j = 0; j < 20; j++) lines.push(`up,dev=d${s},round=x v=${r * 1000 + s * 20 + j} ${T0 + r * 1000 + j}`);
    lines.push(`gas,device=E1-GD-001 concentration=${r % 2 ? 60 : 1} ${T0 + r * 1000}`);
    try {
      const w = await nodes[p].post('/write?precision=ms', lines.join('\n'));
      const e = await nodes[p].post('/api/v1/events/device', { device: 'FP-1', kind: r % 2 ? 'fire' : 'reset', zone: 1, ts: T0 + r * 1000, id: `ev-${r}` }, { token: tokens[p] });
      return w.status === 204 && e.status === 201;
    } catch { return false; /* the daemon is being killed */ }
  };
  const provinceCount = async (p) => {
    try { return (await exportAll(pv, ptoken, `{park="${p}",__name__="up_v"}`)).count; } catch { return -1; }
  };

  // 1. Everything up: a round reaches the province.
  for (const p of parks) assert.ok(await writeRound(p));
  await until(async () => (await provinceCount('a')) === 200 && (await provinceCount('b')) === 200, { timeout: 60000, what: 'first rounds at the province' });

  // 2. WAN cut of park a: both parks keep writing (ingest is not slowed: every write is
  //    acknowledged), a's backlog waits in its own stream, b's data goes through.
  proxies.a.cut();
  for (let i = 0; i < 5; i++) for (const p of parks) assert.ok(await writeRound(p), `write during the cut (${p})`);
  await until(async () => (await provinceCount('b')) === 1200, { timeout: 60000, what: 'park b during a\'s cut' });
  assert.equal(await provinceCount('a'), 200, 'nothing of a crosses a cut link');
  const m = await nodes.a.get('/metrics');
  assert.match(m.text, /parkwatch_uplink_cursor \d+/);
  proxies.a.restore();

  // 3. kill -9 of park a's parkwatch in the middle of its writes, while its publishes wait
  //    unacknowledged (its nats-server is stopped with SIGSTOP); restarted, it replays from its
  //    cursor and the park stream drops what it already had.
  leaves.a.proc.kill('SIGSTOP');
  let writing = true, during = 0;
  const burst = (async () => { while (writing) { await writeRound('a'); during++; } })();
  await until(() => during >= 3, { timeout: 30000, what: 'writes before the kill' });
  await nodes.a.restart('SIGKILL');
  writing = false;
  await burst;
  leaves.a.proc.kill('SIGCONT');
  const reopen = [...nodes.a.stderr.matchAll(/msg="outbox open" park=a rows=(\d+)\.\.(\d+) cursor=(\d+) clean=(\d)/g)].pop();
  assert.ok(reopen, nodes.a.stderr.slice(-2000));
  assert.equal(reopen[4], '0', 'an unclean stop');
  assert.ok(Number(reopen[3]) < Number(reopen[2]), `rows to replay after the kill: ${reopen[0]}`);
  tokens.a = await nodes.a.login();
  for (let i = 0; i < 2; i++) assert.ok(await writeRound('a'));

  // 4. kill -9 of the province parkwatch while data arrives.
  for (const p of parks) assert.ok(await writeRound(p));
  await pv.restart('SIGKILL');
  ptoken = await pv.login();

  // 5. kill -9 of the hub, restart; then cut b, write, restore and kill the hub again while it
  //    catches up.
  await hub.kill9();
  for (const p of parks) assert.ok(await writeRound(p), `write while the hub is down (${p})`);
  await hub.spawn();
  proxies.b.cut();
  for (let i = 0; i < 3; i++) assert.ok(await writeRound('b'));
  proxies.b.restore();
  await sleep(300);
  await hub.kill9();
  await sleep(500);
  await hub.spawn();

  // 6. kill -9 of park b's nats-server; park b keeps taking data.
  await leaves.b.kill9();
  for (let i = 0; i < 2; i++) assert.ok(await writeRound('b'), 'park b writes while its nats-server is down');
  await leaves.b.spawn();
  for (const p of parks) assert.ok(await writeRound(p));

  // When a park does not catch up: what each tier holds, to tell where it stopped.
  const diagnose = async (p, want) => {
    const got = await exportAll(pv, ptoken, `{park="${p}",__name__=~"up_v|gas_concentration"}`).catch(() => null);
    const missRounds = new Set();
    if (got) for (const [k, m1] of want.series) { const m2 = got.series.get(k) || new Map(); for (const t of m1.keys()) if (!m2.has(t)) missRounds.add(Math.floor((t - T0) / 1000)); }
    const pm = (await nodes[p].get('/metrics').catch(() => ({ text: '' }))).text.split('\n').filter((l) => /^parkwatch_uplink_/.test(l));
    const vm = (await pv.get('/metrics').catch(() => ({ text: '' }))).text.split('\n').filter((l) => /^parkwatch_province_/.test(l));
    const ov = (await pv.get('/api/v1/province/overview', { token: ptoken }).catch(() => ({ text: '' }))).text;
    console.log(`# DIAG park ${p}: park holds ${want.count}, province ${got ? got.count : '?'}; rounds missing at the province: ${[...missRounds].sort((x, y) => x - y).join(',')}`);
    console.log(`# DIAG park ${p} metrics:\n#   ${pm.join('\n#   ')}`);
    console.log(`# DIAG province metrics:\n#   ${vm.join('\n#   ')}\n# DIAG overview ${ov}`);
    console.log(`# DIAG park ${p} log:\n${nodes[p].stderr.split('\n').filter((l) => /uplink/.test(l)).slice(-40).map((l) => '#   ' + l).join('\n')}`);
    console.log(`# DIAG province log:\n${pv.stderr.split('\n').filter((l) => /province|uplink/.test(l)).slice(-40).map((l) => '#   ' + l).join('\n')}`);
    console.log(`# DIAG hub log:\n${hub.log.split('\n').slice(-60).map((l) => '#   ' + l).join('\n')}`);
    console.log(`# DIAG leaf ${p} log:\n${leaves[p].log.split('\n').slice(-40).map((l) => '#   ' + l).join('\n')}`);
  };

  // Afterwards: per park and per kind, exactly what the park holds.
  for (const p of parks) {
    const want = await exportAll(nodes[p], tokens[p], '{__name__=~"up_v|gas_concentration"}');
    assert.ok(want.count >= 200 * 8, `park ${p} holds its rounds (${want.count})`);
    try {
      await until(async () => {
        try { return (await exportAll(pv, ptoken, `{park="${p}",__name__=~"up_v|gas_concentration"}`)).count >= want.count; } catch { return false; }
      }, { timeout: 120000, every: 500, what: `park ${p} caught up at the province` });
    } catch (e) {
      await diagnose(p, want);
      throw e;
    }
    const got = await exportAll(pv, ptoken, `{park="${p}",__name__=~"up_v|gas_concentration"}`);
    let missing = 0, extra = 0, differ = 0;
    for (const [k, m1] of want.series) {
      const m2 = got.series.get(k) || new Map();
      for (const [t, v] of m1) { if (!m2.has(t)) missing++; else if (m2.get(t) !== v) differ++; }
    }
    for (const [k, m2] of got.series) {
      const m1 = want.series.get(k) || new Map();
      for (const t of m2.keys()) if (!m1.has(t)) extra++;
    }
    assert.deepEqual({ park: p, missing, extra, differ, dups: got.dups }, { park: p, missing: 0, extra: 0, differ: 0, dups: 0 });
    assert.equal(got.count, want.count);
    console.log(`# park ${p}: ${want.count} samples, rounds ${rounds[p]}`);

    const evWant = await parkEvents(nodes[p], tokens[p]);
    assert.ok(evWant.length >= 8, `park ${p} events ${evWant.length}`);
    await until(async () => (await provinceRecords(pv, ptoken, 'events', p)).length >= evWant.length, { timeout: 60000, what: `events of ${p}` });
    const evGot = (await provinceRecords(pv, ptoken, 'events', p)).map((r) => Number(r.id));
    assert.equal(new Set(evGot).size, evGot.length, 'no event twice at the province');
    assert.deepEqual([...evGot].sort((x, y) => x - y), [...evWant].sort((x, y) => x - y));

    // alarms: every alarm of the park (any state) is at the province, and no other; each
    // transition record once
    const alWant = (await nodes[p].get('/api/v1/alarms?state=active,acknowledged,cleared,closed&limit=500', { token: tokens[p] })).json.map((a) => a.id);
    assert.ok(alWant.length >= 1, `park ${p} has alarms`);
    let al;
    await until(async () => {
      al = await provinceRecords(pv, ptoken, 'alarms', p);
      const ids = new Set(al.map((r) => r.record.alarm_id).filter((x) => x > 0));
      return alWant.every((id) => ids.has(id));
    }, { timeout: 60000, what: `alarms of ${p}` });
    const alGot = [...new Set(al.map((r) => r.record.alarm_id).filter((x) => x > 0))].sort((x, y) => x - y);
    assert.deepEqual(alGot, [...alWant].sort((x, y) => x - y));
    assert.equal(new Set(al.map((r) => r.id)).size, al.length, 'no transition twice at the province');
    console.log(`# park ${p}: events ${evWant.length}, alarms ${alWant.length}, alarm transitions ${al.length}`);
  }
  const ov = await pv.get('/api/v1/province/overview', { token: ptoken });
  assert.equal(ov.status, 200, ov.text);
  assert.deepEqual(ov.json.parks.map((x) => x.park), parks);
  for (const x of ov.json.parks) assert.ok(x.last_data && x.samples > 0, JSON.stringify(x));
});

test('a backlog that outgrew the park stream: gap and alarm on both sides, backfill from the park\'s store', { timeout: 300000 }, async () => {
  const work = mkdtempSync(path.join(tmpdir(), 'pw-uplink-gap-'));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  const leafPort = await freePort();
  const hub = await new Nats({ role: 'hub', setup: ['--role', 'hub', '--id', 'gz', '--parks', 'c', '--password', 'pc-secret'], leafPort }).start();
  cleanups.push(() => hub.stop());
  const proxy = await new Proxy(leafPort).start();
  cleanups.push(() => proxy.close());
  const leaf = await new Nats({ role: 'park', setup: ['--role', 'park', '--id', 'c', '--hub', `nats-leaf://127.0.0.1:${proxy.port}`, '--password', 'pc-secret'] }).start();
  cleanups.push(() => leaf.stop());
  // the smallest park stream: 1 MiB, the oldest messages dropped beyond it
  const park = new Daemon({ model: null, set: ['uplink.enabled=true', 'uplink.park=c', `uplink.nats_url=nats://127.0.0.1:${leaf.port}`, 'uplink.stream_max_bytes=1MiB', 'uplink.gap_check=500ms', 'mqtt.broker='] });
  await park.start();
  cleanups.push(() => park.stop());
  const pv = new ProvinceDaemon({ model: null, set: ['province.id=gz', 'province.parks=c', `province.nats_url=nats://127.0.0.1:${hub.port}`, 'mqtt.broker='] });
  await pv.start();
  cleanups.push(() => pv.stop());
  const ptoken = await pv.login();
  const write = async (r, n) => {
    const lines = [];
    for (let j = 0; j < n; j++) lines.push(`big,dev=d${j % 500},batch=r${r} v=${j} ${T0 + r * 100000 + j}`);
    const w = await park.post('/write?precision=ms', lines.join('\n'));
    assert.equal(w.status, 204, w.text);
  };
  await write(0, 100);
  const overview = async () => (await pv.get('/api/v1/province/overview', { token: ptoken })).json.parks[0];
  await until(async () => (await overview()).samples === 100, { timeout: 60000, what: 'the baseline at the province' });
  assert.equal((await overview()).missing_messages, 0);
  // WAN cut; about 4 MB of samples (each a new series: labels in every sample) overflow 1 MiB
  proxy.cut();
  for (let r = 1; r <= 20; r++) await write(r, 3000);
  proxy.restore();
  const ov = await until(async () => { const o = await overview(); return o.missing_messages > 0 && o; }, { timeout: 90000, what: 'the gap detected' });
  assert.equal(ov.status, 'data_lost');
  const al = await until(async () => {
    const r = await pv.get('/api/v1/alarms?rule=uplink_gap', { token: ptoken });
    const list = Array.isArray(r.json) ? r.json : (r.json.alarms || r.json.data || []);
    return list.find((a) => a.rule === 'uplink_gap' && a.source === 'park:c');
  }, { timeout: 30000, what: 'the uplink_gap alarm' });
  assert.equal(al.level, 'yellow');
  const m = await pv.get('/metrics');
  assert.match(m.text, /parkwatch_province_missing_messages_total [1-9]/);

  // the park: its own alarm, and the lost range re-sent from its tsdb — afterwards the province
  // holds every sample the park holds, each once
  const token = await park.login();
  const pal = await until(async () => {
    const r = await park.get('/api/v1/alarms?rule=uplink_gap', { token });
    const list = Array.isArray(r.json) ? r.json : (r.json.alarms || r.json.data || []);
    return list.find((a) => a.rule === 'uplink_gap' && a.source === 'uplink:c');
  }, { timeout: 30000, what: 'the park\'s own uplink_gap alarm' });
  assert.equal(pal.level, 'yellow');
  assert.match((await park.get('/metrics')).text, /parkwatch_uplink_lost_messages_total [1-9]/);
  const want = await exportAll(park, token, '{__name__="big_v"}');
  assert.equal(want.count, 100 + 20 * 3000);
  let got;
  try {
    await until(async () => { got = await exportAll(pv, ptoken, '{park="c",__name__="big_v"}'); return got.count >= want.count; }, { timeout: 120000, every: 1000, what: 'the backfill at the province' });
  } catch (e) {
    console.log(`# DIAG backfill: province ${got && got.count} of ${want.count}\n${park.stderr.split('\n').filter((l) => /uplink/.test(l)).slice(-20).join('\n')}`);
    throw e;
  }
  assert.equal(got.dups, 0);
  let missing = 0;
  for (const [k, m1] of want.series) { const m2 = got.series.get(k) || new Map(); for (const [t, v] of m1) if (m2.get(t) !== v) missing++; }
  assert.equal(missing, 0);
  assert.equal(got.count, want.count);
  assert.match((await pv.get('/metrics')).text, /parkwatch_province_backfill_samples_total [1-9]/);
});
