// Time series over HTTP: /write (line protocol) with durable acknowledgement, the Prometheus-style
// reads, role scoping of series, and data surviving restarts and kill -9.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { spawn } from 'node:child_process';
import { Daemon, BIN, ROOT, ADMIN_PASSWORD, cli } from './harness.mjs';

let d, admin, ent1;
const T0 = 1763870400000; // 2025-11-23T04:00:00Z

const exportLines = (text) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

before(async () => {
  d = await new Daemon().start();
  admin = await d.login();
  assert.equal((await d.post('/api/v1/users', { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' }, { token: admin })).status, 201);
  ent1 = await d.login('ent1', 'ent1-password');
});
after(async () => { await d.stop(); });

test('POST /write stores line protocol named as VictoriaMetrics names it', async () => {
  const body = [
    `gas,device=E1-GD-001 concentration=3.5 ${T0}`,
    `gas,device=E1-GD-001 concentration=4.25 ${T0 + 1000}`,
    `gas,device=E2-GD-001 concentration=0.5 ${T0}`,
    `tank,device=T1,site=north level=12.5,temp=21i ${T0}`,
  ].join('\n');
  const r = await d.post('/write?precision=ms', body);
  assert.equal(r.status, 204, r.text);
  const e = await d.get(`/api/v1/export?match[]=gas_concentration{device="E1-GD-001"}`, { token: admin });
  assert.equal(e.status, 200);
  const lines = exportLines(e.text);
  assert.equal(lines.length, 1);
  assert.deepEqual(lines[0].metric, { __name__: 'gas_concentration', device: 'E1-GD-001' });
  assert.deepEqual(lines[0].values, [3.5, 4.25]);
  assert.deepEqual(lines[0].timestamps, [T0, T0 + 1000]);
  const t = exportLines((await d.get(`/api/v1/export?match[]=${encodeURIComponent('{__name__=~"tank_.*"}')}`, { token: admin })).text);
  assert.deepEqual(t.map((l) => l.metric.__name__).sort(), ['tank_level', 'tank_temp']);
  assert.equal(t.find((l) => l.metric.__name__ === 'tank_temp').values[0], 21);
});

test('precision, gzip bodies and out-of-order writes', async () => {
  let r = await d.post('/write?precision=s', `wind speed=3.5 ${T0 / 1000 + 60}\nwind speed=2.5 ${T0 / 1000}`);
  assert.equal(r.status, 204, r.text);
  r = await d.req('POST', '/write?precision=s', { body: gzipSync(`wind speed=3 ${T0 / 1000 + 30}\n`), headers: { 'Content-Encoding': 'gzip' } });
  assert.equal(r.status, 204, r.text);
  const l = exportLines((await d.get('/api/v1/export?match[]=wind_speed', { token: admin })).text);
  assert.deepEqual(l[0].timestamps, [T0, T0 + 30000, T0 + 60000]);
  assert.deepEqual(l[0].values, [2.5, 3, 3.5]);
  r = await d.req('POST', '/write', { body: 'not gzip', headers: { 'Content-Encoding': 'gzip' } });
  assert.equal(r.status, 400);
  r = await d.post('/write?precision=fortnights', 'x v=1');
  assert.equal(r.status, 400);
  assert.match(r.json.error, /precision/);
});

test('a bad line gives 400 naming its line number while good lines are stored', async () => {
  const body = [`good1 v=1 ${T0}`, 'bad line without fields', `good2 v=2 ${T0}`, `bad2 v=notanumber ${T0}`].join('\n');
  const r = await d.post('/write?precision=ms', body);
  assert.equal(r.status, 400);
  assert.match(r.json.error, /line 2/);
  assert.match(r.json.error, /line 4/);
  for (const name of ['good1_v', 'good2_v']) {
    const l = exportLines((await d.get(`/api/v1/export?match[]=${name}`, { token: admin })).text);
    assert.equal(l.length, 1, name);
  }
  const m = await d.get('/metrics');
  assert.match(m.text, /parkwatch_write_lines_rejected_total [1-9]/);
});

test('a NUL byte inside a label is refused, the other lines are stored', async () => {
  const r = await d.post('/write?precision=ms', `nul,a=b\u0000c v=1 ${T0}\nnulok v=2 ${T0}`);
  assert.equal(r.status, 400);
  const l = exportLines((await d.get('/api/v1/export?match[]=nulok_v', { token: admin })).text);
  assert.deepEqual(l[0].values, [2]);
  const bad = exportLines((await d.get('/api/v1/export?match[]=nul_v', { token: admin })).text);
  assert.deepEqual(bad, []);
});

test('the write cache: spellings of one series, the db argument, body order, checks on hits', async () => {
  const w = async (q, body) => { const r = await d.post(`/write?precision=ms${q}`, body); return r; };
  // 1: a new series (created by the writer); 2: found in tsdb and cached; 3: a cache hit
  assert.equal((await w('', `cache,b=2,a=1 v=1,w=10 ${T0}`)).status, 204);
  assert.equal((await w('', `cache,b=2,a=1 v=2 ${T0 + 1000}`)).status, 204);
  assert.equal((await w('', `cache,b=2,a=1 v=3 ${T0 + 2000}`)).status, 204);
  // the tags in another order (another cache key): still the one series
  assert.equal((await w('', `cache,a=1,b=2 v=4 ${T0 + 3000}`)).status, 204);
  // the db argument names another series, also once the line without it is cached
  assert.equal((await w('&db=x', `cache,b=2,a=1 v=5 ${T0 + 4000}`)).status, 204);
  assert.equal((await w('&db=x', `cache,b=2,a=1 v=5.5 ${T0 + 4500}`)).status, 204);
  // a db tag in the line wins over the argument
  assert.equal((await w('&db=x', `cache,b=2,a=1,db=y v=6 ${T0 + 4000}`)).status, 204);
  // a cached series with a field key holding a NUL byte is still refused; its neighbour is stored
  let r = await w('', `cache,b=2,a=1 v\u0000=7 ${T0 + 5000}\ncache,b=2,a=1 v=8 ${T0 + 5000}`);
  assert.equal(r.status, 400);
  // body order is kept when a miss (a new spelling) and a hit share a timestamp: the last wins
  r = await w('', `cache,b=2,a=1,z= v=100 ${T0 + 6000}\ncache,b=2,a=1 v=200 ${T0 + 6000}`);
  assert.equal(r.status, 204, r.text);
  const all = exportLines((await d.get('/api/v1/export?match[]=cache_v', { token: admin })).text);
  assert.equal(all.length, 3);
  const plain = all.find((l) => l.metric.db === undefined);
  assert.deepEqual(plain.metric, { __name__: 'cache_v', a: '1', b: '2' });
  assert.deepEqual(plain.timestamps, [T0, T0 + 1000, T0 + 2000, T0 + 3000, T0 + 5000, T0 + 6000]);
  assert.deepEqual(plain.values, [1, 2, 3, 4, 8, 200]);
  assert.deepEqual(all.find((l) => l.metric.db === 'x').values, [5, 5.5]);
  assert.deepEqual(all.find((l) => l.metric.db === 'y').values, [6]);
  assert.equal(exportLines((await d.get('/api/v1/export?match[]=cache_w', { token: admin })).text).length, 1);
  const m = await d.get('/metrics');
  assert.match(m.text, /parkwatch_write_cache_hits_total [1-9]/);
});

test('series, labels and label values as in the Prometheus API', async () => {
  const s = await d.get('/api/v1/series?match[]=gas_concentration', { token: admin });
  assert.equal(s.json.status, 'success');
  assert.deepEqual(s.json.data.map((x) => x.device).sort(), ['E1-GD-001', 'E2-GD-001']);
  const l = await d.get('/api/v1/labels', { token: admin });
  assert.ok(l.json.data.includes('__name__') && l.json.data.includes('device') && l.json.data.includes('site'));
  const v = await d.get('/api/v1/label/device/values', { token: admin });
  assert.deepEqual(v.json.data, ['E1-GD-001', 'E2-GD-001', 'T1']);
  const bad = await d.get('/api/v1/series?match[]=gas{device="x"', { token: admin });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /match\[\]/);
  assert.equal((await d.get('/api/v1/series', { token: admin })).status, 400);
  assert.equal((await d.get('/api/v1/export?match[]=wind_speed&start=yesterday', { token: admin })).status, 400);
});

test('an enterprise user reads only the series of its own points', async () => {
  const e = exportLines((await d.get('/api/v1/export?match[]=gas_concentration', { token: ent1 })).text);
  assert.deepEqual(e.map((l) => l.metric.device), ['E1-GD-001']);
  const s = await d.get(`/api/v1/series?match[]=${encodeURIComponent('{__name__=~".+"}')}`, { token: ent1 });
  assert.deepEqual(s.json.data.map((x) => x.__name__ + x.device), ['gas_concentrationE1-GD-001']);
  const v = await d.get('/api/v1/label/device/values', { token: ent1 });
  assert.deepEqual(v.json.data, ['E1-GD-001']);
  const last = await d.get('/api/v1/last?match[]=gas_concentration', { token: ent1 });
  assert.deepEqual(last.json.data.map((x) => x.metric.device), ['E1-GD-001']);
  // an enterprise user cannot write
  const w = await d.post('/write', `x v=1 ${T0}`, { token: ent1 });
  assert.equal(w.status, 403);
});

test('read (raw and downsampled) and last values', async () => {
  const r = await d.get(`/api/v1/read?match[]=wind_speed&start=${T0 / 1000}&end=${T0 / 1000 + 120}`, { token: admin });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.data[0].values, [2.5, 3, 3.5]);
  const ds = await d.get(`/api/v1/read?match[]=wind_speed&start=${T0 / 1000}&end=${T0 / 1000 + 120}&step=60&agg=max`, { token: admin });
  assert.deepEqual(ds.json.data[0].timestamps, [T0, T0 + 60000]);
  assert.deepEqual(ds.json.data[0].values, [3, 3.5]);
  const last = await d.get('/api/v1/last?match[]=wind_speed', { token: admin });
  assert.equal(last.json.data[0].ts, T0 + 60000);
  assert.equal(last.json.data[0].value, 3.5);
});

test('without a token /write is refused when loopback is not open', async () => {
  const d2 = await new Daemon({ set: ['auth.ingest_loopback_open=false'] }).start();
  try {
    assert.equal((await d2.post('/write', `x v=1 ${T0}`)).status, 401);
    const tok = await d2.login();
    assert.equal((await d2.post('/write', `x v=1 ${T0}`, { token: tok })).status, 204);
  } finally { await d2.stop(); }
});

test('acknowledged data survives a clean restart and kill -9', async () => {
  const d3 = new Daemon();
  d3.stop = d3.stop.bind(d3);
  await d3.start();
  try {
    const lines = [];
    for (let i = 0; i < 500; i++) lines.push(`durable,k=a v=${i} ${T0 + i * 1000}`);
    assert.equal((await d3.post('/write?precision=ms', lines.join('\n'))).status, 204);
    // kill -9 right after the acknowledgement
    d3.proc.kill('SIGKILL');
    await d3.exited;
    const args = d3.proc.spawnargs.slice(1);
    d3.proc = spawn(BIN, args, { cwd: ROOT, env: { ...process.env, PARKWATCH_ADMIN_PASSWORD: ADMIN_PASSWORD } });
    d3.proc.stderr.on('data', (x) => { d3.stderr += x; });
    d3.exited = new Promise((res) => d3.proc.on('exit', (code, signal) => res({ code, signal })));
    for (let i = 0; i < 200; i++) {
      try { if ((await fetch(`${d3.base}/healthz`)).ok) break; } catch { /* starting */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    const tok = await d3.login();
    const l = exportLines((await d3.get('/api/v1/export?match[]=durable_v', { token: tok })).text);
    assert.equal(l[0].values.length, 500);
    assert.equal(l[0].values[499], 499);
  } finally { await d3.stop(); }
});

test('parkwatch fsck checks a data directory offline', async () => {
  const d4 = await new Daemon().start();
  try {
    const lines = [];
    for (let i = 0; i < 100; i++) lines.push(`fsck,k=a v=${i} ${T0 + i * 1000}`);
    assert.equal((await d4.post('/write?precision=ms', lines.join('\n'))).status, 204);
    d4.proc.kill('SIGTERM');
    await d4.exited;
    const r = cli(['fsck', d4.dir]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /fsck .*tsdb: \d+ files, \d+ WAL records, .* 0 errors/);
    assert.equal(cli(['fsck', '/nonexistent/pw-data']).status, 1);
  } finally { await d4.stop(); }
});
