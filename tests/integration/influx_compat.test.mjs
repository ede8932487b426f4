// Real InfluxDB clients against parkwatch: the v2 client (Authorization: Token), the 1.x `influx`
// client (Basic auth, precision=n, /ping, CREATE DATABASE and SHOW DATABASES through /query), the
// 1.x u/p query arguments, and names that InfluxDB and VictoriaMetrics accept.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { InfluxDB as Influx2, Point } from '@influxdata/influxdb-client';
import Influx1 from 'influx';
import { Daemon } from './harness.mjs';

let d, admin, token;
const T0 = 1763870400000;
const exportLines = (text) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
const exp = async (sel) => {
  const r = await d.get(`/api/v1/export?match[]=${encodeURIComponent(sel)}`, { token: admin });
  assert.equal(r.status, 200, r.text);
  return exportLines(r.text);
};

before(async () => {
  d = await new Daemon({ set: ['auth.ingest_loopback_open=false'] }).start();
  admin = await d.login();
  const t = await d.post('/api/v1/tokens', { name: 'telegraf', role: 'supervisor' }, { token: admin });
  assert.equal(t.status, 201, t.text);
  token = t.json.token;
});
after(async () => { await d.stop(); });

test('the InfluxDB 2 client writes with Authorization: Token', async () => {
  const api = new Influx2({ url: d.base, token, timeout: 5000 }).getWriteApi('park', 'telegraf', 'ns', { maxRetries: 0 });
  api.writePoint(new Point('cpu').tag('host', 'h1').floatField('load', 1.5).timestamp(new Date(T0)));
  await api.close();
  const l = await exp('cpu_load{host="h1"}');
  assert.equal(l.length, 1);
  assert.deepEqual(l[0].values, [1.5]);
  assert.deepEqual(l[0].timestamps, [T0]);
  // a wrong token is still refused
  const bad = new Influx2({ url: d.base, token: 'pwt_nope', timeout: 5000 }).getWriteApi('park', 'telegraf', 'ns', { maxRetries: 0 });
  bad.writePoint(new Point('cpu').tag('host', 'h2').floatField('load', 2).timestamp(new Date(T0)));
  await assert.rejects(bad.close(), (e) => e.statusCode === 401);
  // InfluxDB 1.8's v2 API sends `Token user:password`
  const r = await fetch(`${d.base}/api/v2/write?bucket=b&precision=ms`, { method: 'POST', headers: { Authorization: `Token telegraf:${token}` }, body: `cpu,host=h3 load=3 ${T0}` });
  assert.equal(r.status, 204, await r.text());
});

test('the InfluxDB 1.x client: ping, CREATE DATABASE, SHOW DATABASES, precision=n, Basic auth', async () => {
  const c = new Influx1.InfluxDB({ host: '127.0.0.1', port: d.ports.http, database: 'parkwatch', username: 'telegraf', password: token });
  const pings = await c.ping(5000);
  assert.equal(pings[0].online, true);
  assert.equal(pings[0].version, '1.8.10');
  await c.createDatabase('parkwatch');
  await c.writePoints([{ measurement: 'tank', tags: { site: 'north' }, fields: { level: 12.5 }, timestamp: new Date(T0) }]);
  const l = await exp('tank_level{site="north"}');
  assert.equal(l.length, 1);
  assert.deepEqual(l[0].metric, { __name__: 'tank_level', db: 'parkwatch', site: 'north' });
  assert.deepEqual(l[0].timestamps, [T0]);
  assert.ok((await c.getDatabaseNames()).includes('parkwatch'));
  // without credentials the client is refused
  const anon = new Influx1.InfluxDB({ host: '127.0.0.1', port: d.ports.http, database: 'parkwatch' });
  await assert.rejects(anon.writePoints([{ measurement: 'tank', fields: { level: 1 } }]), /401|authentication/);
});

test('u/p query arguments and Basic are accepted on /write only; a user password is not a token', async () => {
  let r = await fetch(`${d.base}/write?db=up&u=telegraf&p=${token}&precision=n`, { method: 'POST', body: `m,k=v f=1 ${T0}000000` });
  assert.equal(r.status, 204, await r.text());
  assert.deepEqual((await exp('m_f{db="up"}'))[0].timestamps, [T0]);
  r = await fetch(`${d.base}/write?db=up&u=admin&p=admin-test-pw-1`, { method: 'POST', body: `m,k=v f=1 ${T0}` });
  assert.equal(r.status, 401);
  const basic = 'Basic ' + Buffer.from(`x:${token}`).toString('base64');
  r = await fetch(`${d.base}/write?db=basic`, { method: 'POST', headers: { Authorization: basic }, body: `m,k=v f=2 ${T0}` });
  assert.equal(r.status, 204);
  // not elsewhere: the API proper takes Bearer/Token only
  assert.equal((await fetch(`${d.base}/api/v1/devices?p=${token}`)).status, 401);
  assert.equal((await fetch(`${d.base}/api/v1/devices`, { headers: { Authorization: basic } })).status, 401);
  assert.equal((await fetch(`${d.base}/api/v1/devices`, { headers: { Authorization: `Token ${token}` } })).status, 200);
});

test('/ping, /health and /query answer as InfluxDB does', async () => {
  let r = await fetch(`${d.base}/ping`);
  assert.equal(r.status, 204);
  assert.equal(r.headers.get('x-influxdb-version'), '1.8.10');
  // HEAD /ping is routed to the same handler; whether HEAD survives send_resp at all is the
  // dispatcher's business (tests/integration/robustness), so it is asserted there
  r = await fetch(`${d.base}/health`);
  assert.equal(r.status, 200);
  assert.equal((await r.json()).status, 'pass');
  // Telegraf's startup statement, as a form body
  r = await fetch(`${d.base}/query`, { method: 'POST', headers: { Authorization: `Token ${token}`, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'q=CREATE+DATABASE+%22telegraf%22' });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { results: [{ statement_id: 0 }] });
  r = await fetch(`${d.base}/query?q=${encodeURIComponent('SELECT * FROM cpu')}`, { headers: { Authorization: `Token ${token}` } });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error, /only CREATE DATABASE and SHOW DATABASES/);
  assert.equal((await fetch(`${d.base}/query?q=SHOW+DATABASES`)).status, 401);
});

test('names InfluxDB and VictoriaMetrics accept are stored as VictoriaMetrics names them', async () => {
  const body = [
    `cpu-load,host.name=a,com.docker.compose.project=p value=1 ${T0}`,
    `温度,区域=东区 值=21.5 ${T0}`,
    `my\\,meas\\ ure,t=1 fi\\=e\\ ld=2 ${T0}`,
  ].join('\n');
  const r = await fetch(`${d.base}/write?precision=ms`, { method: 'POST', headers: { Authorization: `Token ${token}` }, body });
  assert.equal(r.status, 204, await r.text());
  assert.deepEqual((await exp('{__name__="cpu-load_value"}'))[0].metric, { __name__: 'cpu-load_value', 'host.name': 'a', 'com.docker.compose.project': 'p' });
  // Prometheus 3's quoted names select them too
  const t = await exp('{"温度_值","区域"="东区"}');
  assert.deepEqual(t[0].metric, { __name__: '温度_值', 区域: '东区' });
  assert.deepEqual(t[0].values, [21.5]);
  assert.deepEqual((await exp('{__name__="my,meas ure_fi=e ld"}'))[0].metric, { __name__: 'my,meas ure_fi=e ld', t: '1' });
  const lv = await d.get(`/api/v1/label/${encodeURIComponent('host.name')}/values`, { token: admin });
  assert.deepEqual(lv.json.data, ['a']);
  // the second write of the same lines goes through the write cache: still one series each
  assert.equal((await fetch(`${d.base}/write?precision=ms`, { method: 'POST', headers: { Authorization: `Token ${token}` }, body })).status, 204);
  assert.equal((await exp('{__name__="cpu-load_value"}')).length, 1);
});

test('a body mixing good lines, bad values and refused label sets: every count and line is right', async () => {
  const body = [
    `good,k=v f=1 ${T0}`, // 1
    `bad,k=v f=abc ${T0}`, // 2: parser
    `nul,k=a\0b f=1 ${T0}`, // 3: refused (NUL)
    `good,k=w f=1,g=2 ${T0}`, // 4
  ].join('\n');
  const r = await fetch(`${d.base}/write?precision=ms`, { method: 'POST', headers: { Authorization: `Token ${token}` }, body });
  assert.equal(r.status, 400);
  const msg = (await r.json()).error;
  assert.match(msg, /^1 of 4 lines rejected, 1 with samples refused \(3 samples stored, 1 refused\): line 2: .*; line 3: invalid label set/);
  assert.equal((await exp('{__name__=~"good_.*"}')).length, 3);
});

test('the series limit: what was stored is stored, the rest named, counted, logged; HJ 212 still gets 9014', async () => {
  const d2 = await new Daemon({ set: ['storage.max_series=1000'] }).start();
  try {
    const lines = [];
    for (let i = 0; i < 1200; i++) lines.push(`lim,i=${i} v=${i} ${T0}`);
    const r = await d2.post('/write?precision=ms', lines.join('\n'));
    assert.equal(r.status, 400, r.text);
    const series = (await d2.get('/api/v1/series?match[]=lim_v', { token: await d2.login() })).json.data.length;
    assert.ok(series > 900 && series <= 1000, `series stored: ${series}`);
    const refused = 1200 - series;
    assert.match(r.json.error, new RegExp(`^0 of 1200 lines rejected, ${refused} with samples refused \\(${series} samples stored, ${refused} refused\\): line ${series + 1}: series limit reached \\(storage.max_series = 1000\\)`));
    const m = await (await fetch(`${d2.base}/metrics`)).text();
    // (at least: the daemon's own writers may hit the limit too)
    assert.ok(Number(m.match(/parkwatch_pipeline_refused_samples_total\{reason="series_limit"\} (\d+)/)[1]) >= refused);
    assert.match(d2.stderr, /samples refused.*series_limit=\d+/);
    // an HJ 212 station whose frame creates new series: acknowledged (what can be stored is)
    const { frame, local14, qnOf, Station } = await import('./hj212lib.mjs');
    const MN = '010000A8900016F000169DC0';
    const st = new Station(d2.ports.hj212);
    await st.connect();
    const ts = Date.UTC(2026, 10, 23, 2, 0, 0);
    await st.write(frame(`QN=${qnOf(ts)};ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=${local14(ts)};a21026-Rtd=12.5,a21026-Flag=N&&`));
    assert.match(await st.next(/CN=9014/), /CN=9014/);
    st.close();
    // ... and the truth is told about it: the station's refused samples, a log line naming it
    const devs = await d2.get('/api/v1/hj212/devices', { token: await d2.login() });
    assert.equal(devs.json.find((x) => x.mn === MN).refused, 1);
    assert.match(d2.stderr, new RegExp(`samples of a frame refused.*mn=${MN}`));
  } finally { await d2.stop(); }
});

test('a point of the park model can be bound to a series with such names; scoping follows it', async () => {
  const { readFileSync, writeFileSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { DATA } = await import('./harness.mjs');
  const park = JSON.parse(readFileSync(path.join(DATA, 'small-park.json'), 'utf8'));
  park.devices.push({ id: 'E1-TG-001', name: 'telegraf host', kind: 'env_station', enterprise: 'E1', area: 'E1-A1', protocol: 'none',
    points: [{ id: 'E1-TG-001-T', name: '温度', quantity: 'temperature', unit: '°C', series: '{"温度_值", "区域"="东区", "host.name"="h1"}' }] });
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'pw-park-')), 'park.json');
  writeFileSync(file, JSON.stringify(park));
  const d2 = await new Daemon({ model: file }).start();
  try {
    const adm = await d2.login();
    assert.equal((await d2.post('/api/v1/users', { name: 'e1', password: 'e1-password-1', role: 'enterprise', enterprise: 'E1' }, { token: adm })).status, 201);
    const e1 = await d2.login('e1', 'e1-password-1');
    assert.equal((await d2.post('/write?precision=ms', `温度,区域=东区,host.name=h1 值=21.5 ${T0}\n温度,区域=西区,host.name=h1 值=9 ${T0}`)).status, 204);
    // the enterprise user sees the bound series (the model's key equals the storage's) and not the other
    const r = await d2.get(`/api/v1/export?match[]=${encodeURIComponent('{"温度_值"}')}`, { token: e1 });
    const lines = r.text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.metric['区域']), ['东区']);
  } finally { await d2.stop(); }
});
