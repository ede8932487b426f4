// The Prometheus-style read API under hostile and real-client use: start/end on series and
// labels, POST form bodies (Grafana), bounded regular expressions, repeated selectors, caps on
// series and samples, and queries that stop when their client leaves or the daemon stops.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, sleep } from './harness.mjs';

let d, admin;
const T0 = 1763870400000;
const form = (pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
const postForm = (p, pairs) => fetch(d.base + p, { method: 'POST', headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/x-www-form-urlencoded' }, body: form(pairs) });
const q = (p, params) => d.get(`${p}?${form(params)}`, { token: admin });

before(async () => {
  d = await new Daemon({ set: ['query.max_series=5000', 'query.max_samples=20000'] }).start();
  admin = await d.login();
  const body = [
    `old,site=a v=1 ${T0}`,
    `old,site=b v=1 ${T0}`,
    `new,site=c v=2 ${T0 + 3600000}`,
    `new,zone=z v=3 ${T0 + 7200000}`,
  ];
  assert.equal((await d.post('/write?precision=ms', body.join('\n'))).status, 204);
});
after(async () => { await d.stop(); });

test('series, labels and label values honour start and end', async () => {
  const s = (T0 + 1800000) / 1000; // between the old and the new samples
  let r = await q('/api/v1/series', [['match[]', '{__name__=~"old_v|new_v"}'], ['start', String(s)]]);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.data.map((m) => m.__name__).sort(), ['new_v', 'new_v']);
  r = await q('/api/v1/series', [['match[]', '{__name__=~"old_v|new_v"}'], ['end', String(s)]]);
  assert.deepEqual(r.json.data.map((m) => m.site).sort(), ['a', 'b']);
  r = await q('/api/v1/labels', [['start', String(s)]]);
  assert.deepEqual(r.json.data, ['__name__', 'site', 'zone']);
  r = await q('/api/v1/labels', [['end', String(s)]]);
  assert.deepEqual(r.json.data, ['__name__', 'site']);
  r = await q('/api/v1/label/site/values', [['start', String(s)], ['end', String(s + 3600)]]);
  assert.deepEqual(r.json.data, ['c']);
  r = await q('/api/v1/label/site/values', []);
  assert.deepEqual(r.json.data, ['a', 'b', 'c']);
});

test('POST with a form body, match[] repeated, as Grafana sends it', async () => {
  let r = await postForm('/api/v1/series', [['match[]', 'old_v{site="a"}'], ['match[]', 'new_v'], ['start', String(T0 / 1000 - 10)]]);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).data.length, 3);
  r = await postForm('/api/v1/labels', [['match[]', 'new_v']]);
  assert.deepEqual((await r.json()).data, ['__name__', 'site', 'zone']);
  r = await postForm('/api/v1/label/site/values', [['match[]', 'old_v']]);
  assert.deepEqual((await r.json()).data, ['a', 'b']);
  r = await postForm('/api/v1/export', [['match[]', 'new_v{zone="z"}']]);
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse((await r.text()).trim()).values, [3]);
});

test('regular expressions are bounded: the nested repeat and catastrophic backtracking are refused', async () => {
  const rss0 = Number((await (await fetch(`${d.base}/metrics`)).text()).match(/process_resident_memory_bytes (\d+)/)?.[1] ?? 0);
  let t = Date.now();
  let r = await q('/api/v1/series', [['match[]', '{__name__=~"(((.{1,40}){1,40}){1,40}){1,40}"}']]);
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error, /regex/);
  assert.ok(Date.now() - t < 2000);
  assert.equal((await d.post('/write?precision=ms', `evil,v=${'a'.repeat(60)}! x=1 ${T0}`)).status, 204);
  t = Date.now();
  for (const ep of ['/api/v1/series', '/api/v1/export', '/api/v1/read', '/api/v1/last', '/api/v1/labels']) {
    r = await q(ep, [['match[]', 'evil_x{v=~"(a|aa)+"}'], ['start', '0']]);
    assert.equal(r.status, 422, `${ep}: ${r.text}`);
    assert.match(r.json.error, /regular expression exceeded its match limit/);
  }
  assert.ok(Date.now() - t < 5000, `took ${Date.now() - t} ms`);
  // the live stream's values= selector goes through the same bounded engine
  for (const sel of ['{__name__=~"(((.{1,40}){1,40}){1,40}){1,40}"}', 'evil_x{v=~"(a|aa)+"}']) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 5000);
    const ev = await fetch(`${d.base}/api/v1/events?values=${encodeURIComponent(sel)}`, { headers: { Authorization: `Bearer ${admin}` }, signal: ac.signal });
    clearTimeout(timer);
    assert.equal(ev.status, 400, sel);
    assert.match((await ev.json()).error, /values: .*(regex|regular expression)/);
  }
  // RE2 syntax that POSIX ERE lacked works
  r = await q('/api/v1/series', [['match[]', '{__name__=~"\\\\w+_v", site=~"\\\\w"}']]);
  assert.equal(r.json.data.length, 3);
  if (rss0) {
    const rss1 = Number((await (await fetch(`${d.base}/metrics`)).text()).match(/process_resident_memory_bytes (\d+)/)[1]);
    assert.ok(rss1 - rss0 < 200e6, `RSS grew by ${rss1 - rss0}`);
  }
});

test('repeated selectors: a union of the same series is cheap and correct; caps answer 422', async () => {
  const lines = [];
  for (let i = 0; i < 4000; i++) lines.push(`u,i=${i} v=${i} ${T0}`);
  assert.equal((await d.post('/write?precision=ms', lines.join('\n'))).status, 204);
  // 16 selectors that select the same 4000 series (string-different, so each is evaluated)
  const sels = Array.from({ length: 16 }, (_, k) => ['match[]', `u_v${' '.repeat(k)}`]);
  const t = Date.now();
  const r = await q('/api/v1/series', sels);
  assert.equal(r.status, 200);
  assert.equal(r.json.data.length, 4000);
  assert.ok(Date.now() - t < 10000, `took ${Date.now() - t} ms`);
  // 16 identical ones: evaluated once
  assert.equal((await q('/api/v1/series', Array(16).fill(['match[]', 'u_v']))).json.data.length, 4000);
  assert.equal((await q('/api/v1/series', Array(17).fill(0).map((_, k) => ['match[]', `u_v{i="${k}"}`]))).status, 400);
  // series cap (query.max_series=5000)
  lines.length = 0;
  for (let i = 4000; i < 5500; i++) lines.push(`u,i=${i} v=${i} ${T0}`);
  assert.equal((await d.post('/write?precision=ms', lines.join('\n'))).status, 204);
  let c = await q('/api/v1/export', [['match[]', 'u_v']]);
  assert.equal(c.status, 422);
  assert.match(c.json.error, /query.max_series/);
  c = await q('/api/v1/series', [['match[]', 'u_v{i=~"4.*"}'], ['match[]', 'u_v{i=~"[1235].*"}']]);
  assert.equal(c.status, 422, 'the union is capped too');
  // samples cap (query.max_samples=20000)
  lines.length = 0;
  for (let i = 0; i < 25000; i++) lines.push(`many v=${i} ${T0 + i}`);
  assert.equal((await d.post('/write?precision=ms', lines.join('\n'))).status, 204);
  c = await q('/api/v1/export', [['match[]', 'many_v']]);
  assert.equal(c.status, 422);
  assert.match(c.json.error, /query.max_samples/);
  c = await q('/api/v1/read', [['match[]', 'many_v'], ['start', String(T0 / 1000)], ['end', String(T0 / 1000 + 100)]]);
  assert.equal(c.status, 422);
  c = await q('/api/v1/export', [['match[]', 'many_v'], ['end', String((T0 + 9999) / 1000)]]);
  assert.equal(c.status, 200);
});

// 30,000 label values each costing ~0.2 ms under `(a|aa)+` (below the per-value limit): a query
// of several seconds, to see it stop.
async function slowDaemon(set = []) {
  const d2 = await new Daemon({ set }).start();
  const lines = [];
  for (let i = 0; i < 30000; i++) lines.push(`slow,v=${'a'.repeat(22)}!${i} x=1 ${T0}`);
  assert.equal((await d2.post('/write?precision=ms', lines.join('\n'))).status, 204);
  d2.tok = await d2.login();
  return d2;
}
const slowUrl = (d2) => `${d2.base}/api/v1/series?${form([['match[]', 'slow_x{v=~"(a|aa)+"}']])}`;
const cpuSeconds = (pid) => {
  // utime + stime of /proc/PID/stat, in clock ticks (100 Hz on Linux)
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
import { readFileSync } from 'node:fs';

test('a query whose client left stops working; query.timeout ends a slow one', async () => {
  const d2 = await slowDaemon(['query.timeout=2s']);
  try {
    const ac = new AbortController();
    const p = fetch(slowUrl(d2), { headers: { Authorization: `Bearer ${d2.tok}` }, signal: ac.signal }).catch(() => null);
    await sleep(300);
    ac.abort();
    await p;
    await sleep(500);
    const c0 = cpuSeconds(d2.proc.pid);
    await sleep(1500);
    const used = cpuSeconds(d2.proc.pid) - c0;
    assert.ok(used < 0.5, `the daemon kept working for ${used} s of CPU after the client left`);
    const t = Date.now();
    const r = await fetch(slowUrl(d2), { headers: { Authorization: `Bearer ${d2.tok}` } });
    assert.equal(r.status, 503);
    assert.match((await r.json()).error, /query.timeout/);
    assert.ok(Date.now() - t < 4000);
  } finally { await d2.stop(); }
});

test('SIGTERM interrupts a running query', async () => {
  const d2 = await slowDaemon();
  try {
    const p = fetch(slowUrl(d2), { headers: { Authorization: `Bearer ${d2.tok}` } }).then((r) => r.status, () => 'closed');
    await sleep(300);
    const t = Date.now();
    d2.proc.kill('SIGTERM');
    await d2.exited;
    assert.ok(Date.now() - t < 3000, `shutdown took ${Date.now() - t} ms`);
    assert.ok([503, 'closed'].includes(await p));
  } finally { await d2.stop(); }
});
