// End to end: the demo park played by `parkwatch sim` against a real daemon and Mosquitto, the
// scenario (demo/scenario.json) accelerated 30×. Asserts that every scripted incident produced
// exactly its expected alarms (no missing, no extra), that the simulator found every reply from
// the daemon correct (HJ 212 9014/1012/recall, JT/T 808 0x8100/0x8001, MQTT PUBACK), that no
// sample was lost (the simulator's per-series counts against /api/v1/export), and that the
// daemon's error counters stayed at zero.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Daemon, Mosquitto, freePort, cli, ROOT, BIN, ADMIN_PASSWORD, sleep } from '../integration/harness.mjs';

const SPEED = 30;
const DURATION = '30m';
const scenario = JSON.parse(readFileSync(path.join(ROOT, 'demo/scenario.json'), 'utf8'));
let mosq, d, sim, report, admin, simLog = '', exited = null;

before(async () => {
  mosq = await new Mosquitto().start();
  d = new Daemon({ model: null });
  // the demo model, with the site plan inlined so the copy imports from the data directory
  const park = JSON.parse(readFileSync(path.join(ROOT, 'demo/park.json'), 'utf8'));
  park.park.site_plan = JSON.parse(readFileSync(path.join(ROOT, 'demo', park.park.site_plan), 'utf8'));
  // the demo's Modbus controllers (127.0.0.1:15020...) on free ports: `make run` may hold those.
  // One distinct port per controller (freePort never repeats itself): two controllers on one port
  // would be one register map, one detector reading another's value.
  const demoPorts = park.devices.filter((dev) => dev.modbus).map((dev) => dev.modbus.port);
  d.model = path.join(d.dir, 'park.json');
  const reportFile = path.join(d.dir, 'sim-report.json');
  // The simulator first: its Modbus controllers are up before the daemon polls them. A port
  // probed free can be taken by another process before the simulator binds it: then the
  // simulator stops ("Address already in use") and the test takes new ports.
  for (let attempt = 1; ; attempt++) {
    const ports = new Map();
    for (const p of demoPorts) if (!ports.has(p)) ports.set(p, await freePort());
    let k = 0;
    for (const dev of park.devices) if (dev.modbus) dev.modbus.port = ports.get(demoPorts[k++]);
    writeFileSync(d.model, JSON.stringify(park));
    d.ports = { http: await freePort(), hj212: await freePort(), jt808: await freePort(), mqtt: mosq.port };
    simLog = '';
    exited = null;
    sim = spawn(BIN, ['sim', '--park', d.model, '--scenario', 'demo/scenario.json',
      '--http', `127.0.0.1:${d.ports.http}`, '--hj212', `127.0.0.1:${d.ports.hj212}`,
      '--jt808', `127.0.0.1:${d.ports.jt808}`, '--mqtt', `127.0.0.1:${mosq.port}`,
      '--login', `admin:${ADMIN_PASSWORD}`, '--seed', '7', '--speed', String(SPEED),
      '--duration', DURATION, '--hold', '--report', reportFile], { cwd: ROOT });
    sim.stderr.on('data', (b) => { simLog += b; });
    const exit = new Promise((r) => sim.on('exit', (c) => { exited = c; r(c); }));
    for (let i = 0; i < 600 && exited === null && !simLog.includes('Modbus controllers serving'); i++) await sleep(50);
    if (exited === null && simLog.includes('Modbus controllers serving')) break;
    if (exited === null) { sim.kill('SIGTERM'); await exit; }
    assert.ok(attempt < 3 && /cannot serve a Modbus controller.*in use/.test(simLog), `sim did not start (${exited}):\n${simLog.slice(-3000)}`);
  }
  const r = cli(['import', '--data', d.dir, d.model]);
  assert.equal(r.status, 0, r.stderr);
  d.base = `http://127.0.0.1:${d.ports.http}`;
  d.args = ['serve', '--data', d.dir,
    '--set', `http.listen=127.0.0.1:${d.ports.http}`, '--set', `hj212.listen=127.0.0.1:${d.ports.hj212}`,
    '--set', `jt808.listen=127.0.0.1:${d.ports.jt808}`, '--set', `mqtt.broker=127.0.0.1:${mosq.port}`,
    '--set', 'modbus.poll_interval=1s',
    // wall-clock rules: between the HJ 212 outage (3 min / 30 = 6 s) and the tank silence (30 s)
    '--set', 'rules.offline_after=15s',
    // early warning fits trends over wall-clock windows: off under time acceleration
    '--set', 'rules.early_window=0', '--set', 'log.level=warn'];
  await d.spawn();
  admin = await d.login();
  // the demo's enterprise users, who answer the work orders (the simulator logs in once they
  // exist): E01's the park's orders, E06's the automatic P1 order from the H2S leak there
  for (const [name, enterprise] of [['enterprise', 'E01'], ['enterprise-e06', 'E06']]) {
    const eu = await d.post('/api/v1/users', { name, password: 'parkwatch-demo', role: 'enterprise', enterprise }, { token: admin });
    assert.equal(eu.status, 201, eu.text);
  }
  // --hold: the simulator writes the report when the duration is reached and keeps playing
  for (let i = 0; i < 2400 && !existsSync(reportFile); i++) {
    assert.equal(exited, null, `sim exited ${exited}:\n${simLog.slice(-3000)}`);
    await sleep(100);
  }
  report = JSON.parse(readFileSync(reportFile, 'utf8'));
  await sleep(3000); // last rule ticks and durable acks
});

after(async () => {
  if (sim && sim.exitCode === null) { sim.kill('SIGTERM'); await new Promise((r) => sim.on('exit', r)); }
  if (d) await d.stop();
  if (mosq) await mosq.stop();
});

test('every scripted incident was played', () => {
  assert.deepEqual(report.incidents.filter((i) => !i.played).map((i) => i.id), []);
  assert.equal(report.incidents.length, scenario.incidents.length);
  assert.equal(report.overrides_installed, 1, 'kiln curve override');
});

test('each incident produced exactly its expected alarms, no missing, no extra', async () => {
  const r = await d.get('/api/v1/alarms?limit=500', { token: admin });
  assert.equal(r.status, 200, r.text);
  const got = r.json.map((a) => `${a.rule} ${a.source} ${a.max_level || a.level}`).sort();
  // the permit jobs (demo/scenario.json "permits", filed in order: PT-000001 first) too
  const want = scenario.incidents.flatMap((i) => i.expect).concat((scenario.permits || []).flatMap((p) => p.expect || []))
    .filter((e) => e.requires !== 'early')
    .map((e) => `${e.rule} ${e.source} ${e.level}`).sort();
  assert.deepEqual(got, want);
});

test('replies to devices were correct', (t) => {
  const { hj212, jt808, mqtt } = report.sent;
  t.diagnostic(JSON.stringify(report.sent));
  assert.deepEqual(report.replies.first_errors, []);
  assert.equal(report.replies.errors, 0);
  assert.ok(hj212.frames > 1000, `hj212 frames ${hj212.frames}`);
  assert.equal(hj212.acks, hj212.frames, '9014 for every upload');
  assert.equal(hj212.bad_replies, 0);
  assert.ok(hj212.time_sets >= 13, `1012 answered ${hj212.time_sets}`);
  assert.equal(hj212.outages, 1);
  assert.ok(hj212.recalls >= 1 && hj212.recalled_records >= 2, `recall ${hj212.recalls}/${hj212.recalled_records}`);
  assert.equal(jt808.registrations, 58);
  assert.equal(jt808.authentications, 58);
  assert.equal(jt808.bad_replies, 0);
  assert.ok(jt808.batches >= 1, '0x0704 back-fill sent');
  assert.equal(jt808.acks, jt808.frames, 'a reply for every terminal message');
  assert.equal(mqtt.acked, mqtt.messages, 'PUBACK for every publish');
  assert.equal(mqtt.failed, 0);
  assert.ok(report.sent.modbus.requests > 31, 'the controllers were polled');
});

const canon = (m) => {
  const { __name__, ...labels } = m;
  return `${__name__}{${Object.keys(labels).sort().map((k) => `${k}="${labels[k]}"`).join(',')}}`;
};
const canonText = (s) => {
  const m = /^([^{]+)\{(.*)\}$/.exec(s);
  const labels = {};
  for (const p of m[2].match(/[a-z_]+="[^"]*"/g) || []) { const i = p.indexOf('='); labels[p.slice(0, i)] = p.slice(i + 2, -1); }
  return canon({ __name__: m[1], ...labels });
};

test('no sample was lost: the simulator sent what the store holds, series by series', async () => {
  // samples up to the report's end; minute and hour records carry their period's start
  const start = report.start_ms / 1000 - 7200, end = Date.now() / 1000 + 3600;
  const cutoff = (m) => report.end_ms - (m.cn === '2051' ? 60000 : m.cn === '2061' ? 3600000 : 0);
  const want = new Map(Object.entries(report.series).map(([k, v]) => [canonText(k), v]));
  const got = new Map();
  for (const sel of ['{__name__=~"hj212_.*"}', '{__name__=~"vehicle_(lat|lon|altitude_m|speed_kmh|heading|alarm_bits|status_bits|mileage_km)"}',
    '{__name__=~"tank_.*|kiln_.*"}']) {
    const r = await d.get(`/api/v1/export?match[]=${encodeURIComponent(sel)}&start=${start}&end=${end}`, { token: admin });
    assert.equal(r.status, 200, r.text);
    for (const line of r.text.split('\n').filter(Boolean)) {
      const o = JSON.parse(line);
      const c = cutoff(o.metric);
      const n = o.timestamps.filter((t) => t <= c).length;
      if (n) got.set(canon(o.metric), n);
    }
  }
  const diff = [];
  for (const [k, v] of want) if (got.get(k) !== v) diff.push(`${k}: sent ${v}, stored ${got.get(k)}`);
  for (const [k, v] of got) if (!want.has(k)) diff.push(`${k}: stored ${v}, never sent`);
  assert.deepEqual(diff.slice(0, 20), []);
  assert.ok(want.size > 1000, `series ${want.size}`);
  // Modbus: the daemon stamps polls itself; every detector point must have samples
  const gas = await d.get(`/api/v1/series?match[]=${encodeURIComponent('gas_concentration')}`, { token: admin });
  assert.equal(gas.json.data.length, 835);
});

test("the daemon's error counters stayed at zero", async () => {
  const r = await d.get('/metrics');
  const bad = r.text.split('\n').filter((l) => /^parkwatch_\w*(_dropped_total|_errors_total|_failed_total|_failures_total)(\{|\s)/.test(l))
    .filter((l) => !/\s0$/.test(l));
  assert.deepEqual(bad, []);
});

test('the demo\'s work-order loop: the park dispatches, the enterprise answers with a photo, one is returned, one accepted', async () => {
  const wanted = scenario.workorders.dispatch.length;
  let orders = [];
  for (let i = 0; i < 600; i++) {
    orders = (await d.get('/api/v1/workorders?enterprise=E01&limit=100', { token: admin })).json.filter((o) => o.dispatcher === 'admin');
    const full = await Promise.all(orders.map(async (o) => (await d.get(`/api/v1/workorders/${o.id}`, { token: admin })).json));
    const returned = full.filter((o) => o.history.some((h) => h.action === 'return'));
    const closed = full.filter((o) => o.state === 'closed');
    if (orders.length === wanted && returned.length >= 1 && closed.length >= 1) {
      for (const o of closed) {
        assert.ok(o.evidence.length >= 1 && o.evidence[0].content_type === 'image/png', JSON.stringify(o.evidence));
        assert.deepEqual(o.history.filter((h) => ['dispatch', 'sign', 'start', 'submit', 'accept'].includes(h.action)).map((h) => h.action).slice(0, 4),
          ['dispatch', 'sign', 'start', 'submit']);
        assert.equal(o.history.find((h) => h.action === 'sign').user, 'enterprise');
      }
      // the first order carries the incident's alarm
      assert.ok(full.some((o) => o.alarm_id > 0), 'an order dispatched from the incident\'s alarm');
      return;
    }
    await sleep(200);
  }
  assert.fail(`the loop did not close: ${JSON.stringify(orders.map((o) => [o.id, o.state, o.returns]))}\n${simLog.slice(-2000)}`);
});

test('the daemon\'s automatic P1 order from the H2S leak is answered by E06 and accepted once the leak is over', async () => {
  let e06 = [];
  for (let i = 0; i < 600; i++) {
    const list = (await d.get('/api/v1/workorders?enterprise=E06&limit=100', { token: admin })).json;
    e06 = await Promise.all(list.map(async (o) => (await d.get(`/api/v1/workorders/${o.id}`, { token: admin })).json));
    if (e06.length && e06.every((o) => o.state === 'closed')) break;
    await sleep(200);
  }
  // one order for the leak's alarm group (the other detectors' alarms are noted on it)
  assert.equal(e06.length, 1, JSON.stringify(e06.map((o) => [o.id, o.title, o.state])));
  const [o] = e06;
  assert.equal(o.state, 'closed', `${JSON.stringify(o.history.map((h) => [h.action, h.user]))}\n${simLog.slice(-2000)}`);
  assert.equal(o.source, 'alarm');
  assert.equal(o.priority, 'P1');
  assert.equal(o.dispatcher, 'system');
  const alarm = (await d.get(`/api/v1/alarms/${o.alarm_id}`, { token: admin })).json;
  assert.match(alarm.source, /^E06-GD-04[0-2]\.h2s$/);
  const acts = o.history.map((h) => `${h.action} ${h.user}`).filter((h) => /^(sign|start|submit|return|accept) /.test(h));
  // E06's first submission is returned, as E01's; the acceptance waits for the alarm to clear
  assert.deepEqual(acts, ['sign enterprise-e06', 'start enterprise-e06', 'submit enterprise-e06', 'return admin',
    'submit enterprise-e06', 'accept admin']);
  assert.ok(o.evidence.length >= 1 && o.evidence[0].content_type === 'image/png', JSON.stringify(o.evidence));
  const accepted = o.history.find((h) => h.action === 'accept').at;
  assert.ok(alarm.cleared_at && Date.parse(alarm.cleared_at) <= Date.parse(accepted), `cleared ${alarm.cleared_at}, accepted ${accepted}`);
});
