// Prometheus remote write 1.0 into parkwatch with the real client: Debian's `prometheus` scrapes
// parkwatch's own /metrics and remote-writes the samples back (snappy + protobuf, Bearer token);
// they must then be readable through /api/v1/export. Plus the statuses a sender acts on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, freePort, until } from './harness.mjs';

let d, admin, token;
const havePrometheus = spawnSync('prometheus', ['--version']).status === 0;

before(async () => {
  d = await new Daemon({ set: ['auth.ingest_loopback_open=false'] }).start();
  admin = await d.login();
  const t = await d.post('/api/v1/tokens', { name: 'prometheus', role: 'supervisor' }, { token: admin });
  token = t.json.token;
});
after(async () => { await d.stop(); });

test('a real Prometheus scrapes and remote-writes into parkwatch', { skip: !havePrometheus && 'prometheus not installed (scripts/deps.sh installs it)' }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-prom-'));
  const port = await freePort();
  writeFileSync(path.join(dir, 'prometheus.yml'), [
    'global: { scrape_interval: 1s }',
    'scrape_configs:',
    '  - job_name: parkwatch',
    `    static_configs: [{ targets: ['127.0.0.1:${d.ports.http}'] }]`,
    'remote_write:',
    `  - url: http://127.0.0.1:${d.ports.http}/api/v1/write`,
    `    authorization: { credentials: ${token} }`,
    '    queue_config: { batch_send_deadline: 500ms, min_backoff: 100ms }',
  ].join('\n'));
  let log = '';
  const prom = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn']);
  prom.stderr.on('data', (c) => { log += c; });
  try {
    const up = await until(async () => {
      const r = await d.get(`/api/v1/export?match[]=${encodeURIComponent('up{job="parkwatch"}')}`, { token: admin });
      return r.status === 200 && r.text.trim() ? r.text.trim().split('\n').map((l) => JSON.parse(l)) : null;
    }, { timeout: 30000, every: 250, what: `remote-written samples (prometheus log: ${log})` });
    assert.equal(up[0].metric.instance, `127.0.0.1:${d.ports.http}`);
    assert.equal(up[0].values[0], 1);
    // a counter of parkwatch's own, written back
    const r = await d.get(`/api/v1/series?match[]=${encodeURIComponent('parkwatch_http_requests_total{job="parkwatch"}')}`, { token: admin });
    assert.ok(r.json.data.length >= 1);
    assert.doesNotMatch(log, /non-recoverable|status 4\d\d/);
  } finally {
    prom.kill('SIGTERM');
    await new Promise((res) => prom.on('exit', res));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('remote write statuses: credentials, encoding, garbage', async () => {
  const h = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-protobuf' };
  let r = await fetch(`${d.base}/api/v1/write`, { method: 'POST', headers: { 'Content-Encoding': 'snappy' }, body: 'x' });
  assert.equal(r.status, 401);
  r = await fetch(`${d.base}/api/v1/write`, { method: 'POST', headers: h, body: 'x' });
  assert.equal(r.status, 415);
  r = await fetch(`${d.base}/api/v1/write`, { method: 'POST', headers: { ...h, 'Content-Encoding': 'snappy' }, body: Buffer.from([5, 0xfe, 1]) });
  assert.equal(r.status, 400);
  r = await fetch(`${d.base}/api/v1/write`, { method: 'POST', headers: { ...h, 'Content-Encoding': 'snappy' }, body: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]) });
  assert.equal(r.status, 413, 'announced length over http.max_body: refused before allocating');
  // a valid snappy block (literal) holding bytes that are not a WriteRequest: field 1, wire type 2,
  // length 100 past the end
  const pb = Buffer.from([0x0a, 100, 1, 2, 3]);
  const snappy = Buffer.concat([Buffer.from([pb.length, (pb.length - 1) << 2]), pb]);
  r = await fetch(`${d.base}/api/v1/write`, { method: 'POST', headers: { ...h, 'Content-Encoding': 'snappy' }, body: snappy });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error, /not a remote-write WriteRequest: byte 0: field 1: length 100 past the end/);
  // an empty WriteRequest is fine
  r = await fetch(`${d.base}/api/v1/write`, { method: 'POST', headers: { ...h, 'Content-Encoding': 'snappy' }, body: Buffer.from([0]) });
  assert.equal(r.status, 204);
});
