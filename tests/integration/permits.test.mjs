// Special-operation permits over the wire (issue 18): the live flow — a hot-work permit filed and
// started beside a gas detector, the detector's reading raised past its 一级 setpoint through the
// real HJ 212 ingest path, a red finding, an alarm and a work order within a second, the SSE
// `permit` event —; confined space beside a toxic alarm; wind from the park's weather station;
// the transitions (409 on a refused state or role, 400 naming the field); scope (enterprise A
// neither sees nor acts on B's permits); batch filing as JSON and CSV with errors by row and
// column; hostile input; statistics and the spot-check draw with a problem opening a work order;
// durability across kill -9.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, DATA, sleep, until } from './harness.mjs';
import { frame, local14, qnOf, Station } from './hj212lib.mjs';

let d, tmp;
const tok = {};
const MN_GAS = 'PT0000000000000000000001';
const MN_TOX = 'PT0000000000000000000002';
const MN_MET = 'PT0000000000000000000003';
// E1's tank farm dike (a major-hazard installation in it) and the detector 12 m east of the work
const SITE = [118.1650, 36.1810];
const GD = [118.16513, 36.1810];
const TOX = [118.1700, 36.1800];

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'pw-permits-'));
  const park = JSON.parse(readFileSync(path.join(DATA, 'small-park.json'), 'utf8'));
  park.areas.find((a) => a.id === 'E1-A1').polygon = [[118.1640, 36.1800], [118.1660, 36.1800], [118.1660, 36.1820], [118.1640, 36.1820]];
  park.devices.push(
    { id: 'E1-GD-HJ', name: '动火点旁可燃气体探测器', kind: 'gas_detector', enterprise: 'E1', location: GD, protocol: 'hj212',
      hj212: { mn: MN_GAS, password: '123456', st: '22' },
      points: [{ id: 'E1-GD-HJ.lel', name: '可燃气体', quantity: 'combustible', unit: '%LEL',
        series: `hj212_rtd{mn="${MN_GAS}",code="a99001",cn="2011"}`, setpoints: { alarm1: 25, alarm2: 50 } }] },
    { id: 'E2-TOX-HJ', name: '受限空间入口硫化氢探测器', kind: 'gas_detector', enterprise: 'E2', location: TOX, protocol: 'hj212',
      hj212: { mn: MN_TOX, password: '123456', st: '22' },
      points: [{ id: 'E2-TOX-HJ.h2s', name: '硫化氢', quantity: 'h2s', unit: 'ppm',
        series: `hj212_rtd{mn="${MN_TOX}",code="a99002",cn="2011"}`, setpoints: { alarm1: 7.1, alarm2: 14.1 } }] },
    { id: 'MET-01', name: '园区气象站', kind: 'env_station', location: [118.17, 36.18], protocol: 'hj212',
      hj212: { mn: MN_MET, password: '123456', st: '22' },
      points: [
        { id: 'MET-01.ws', name: '风速', quantity: 'wind_speed', unit: 'm/s', series: `hj212_rtd{mn="${MN_MET}",code="a01007",cn="2011"}` },
        { id: 'MET-01.wd', name: '风向', quantity: 'wind_direction', unit: '°', series: `hj212_rtd{mn="${MN_MET}",code="a01008",cn="2011"}` }] });
  const model = path.join(tmp, 'park.json');
  writeFileSync(model, JSON.stringify(park));
  d = await new Daemon({ model, set: ['permits.weekend_raises=false', 'permits.night_from=0', 'permits.night_to=0'] }).start();
  tok.admin = await d.login();
  for (const u of [
    { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' },
    { name: 'ent2', password: 'ent2-password', role: 'enterprise', enterprise: 'E2' },
    { name: 'viewer', password: 'viewer-password', role: 'viewer' },
  ]) {
    const r = await d.post('/api/v1/users', u, { token: tok.admin });
    assert.equal(r.status, 201, r.text);
    tok[u.name] = await d.login(u.name, u.password);
  }
});
after(async () => { await d.stop(); rmSync(tmp, { recursive: true, force: true }); });

const iso = (ms) => new Date(ms).toISOString();
const act = (id, a, who) => d.post(`/api/v1/permits/${id}/${a}`, {}, { token: tok[who] });

function hotWork(extra = {}) {
  const now = Date.now();
  return { type: 'hot_work', grade: 'special', area: 'E1-A1', location: { type: 'Point', coordinates: SITE }, outdoor: true,
    equipment: 'T-101', planned_start: iso(now + 60000), planned_end: iso(now + 4 * 3600000), leader: '张工',
    workers: ['李四', '王五'], guardian: '赵六', video: 'rtsp://cam/e1-1',
    analyses: [{ at: iso(now - 60000), point: 'T-101 人孔', gas: 'combustible', value: 0, unit: '%LEL', analyst: '钱七' }], ...extra };
}

async function send(st, mn, ts, cp) {
  const qn = qnOf(ts);
  await st.write(frame(`QN=${qn};ST=22;CN=2011;PW=123456;MN=${mn};Flag=5;CP=&&DataTime=${local14(ts)};${cp}&&`));
  await st.next(new RegExp(`QN=${qn}`));
}

// An SSE reader collecting `permit` events.
async function sse(token) {
  const ctl = new AbortController();
  const res = await fetch(`${d.base}/api/v1/events`, { headers: { Authorization: `Bearer ${token}` }, signal: ctl.signal });
  const events = [];
  const reader = res.body.getReader();
  let buf = '';
  (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += Buffer.from(value).toString('utf8');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const chunk = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(chunk), data = /^data: (.*)$/m.exec(chunk);
          if (ev && data && ev[1] === 'permit') events.push(JSON.parse(data[1]));
        }
      }
    } catch { /* aborted */ }
  })();
  return { events, close: () => ctl.abort() };
}

test('live flow: hot work beside a detector raised past 一级 over HJ 212 → red finding, alarm and work order within a second', async (t) => {
  const ev1 = await sse(tok.ent1), ev2 = await sse(tok.ent2);
  let r = await d.post('/api/v1/permits', hotWork(), { token: tok.ent1 });
  assert.equal(r.status, 201, r.text);
  const p = r.json;
  assert.match(p.id, /^PT-\d{6}$/);
  assert.equal(p.enterprise, 'E1');
  assert.equal(p.state, 'filed');
  assert.equal(p.grade, 'special');
  assert.deepEqual(p.location, { type: 'Point', coordinates: SITE });
  assert.ok(Array.isArray(p.findings));
  r = await act(p.id, 'start', 'ent1');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, 'in_progress');
  assert.equal(r.json.worst, 'none', JSON.stringify(r.json.findings));

  const st = new Station(d.ports.hj212);
  await st.connect();
  // background: 3 %LEL is nothing; 12 %LEL is amber (>= 10 %LEL within 30 m)
  await send(st, MN_GAS, Date.now(), 'a99001-Rtd=3,a99001-Flag=N');
  await sleep(300);
  r = await d.get(`/api/v1/permits/${p.id}`, { token: tok.ent1 });
  assert.equal(r.json.worst, 'none', r.text);
  await send(st, MN_GAS, Date.now(), 'a99001-Rtd=12,a99001-Flag=N');
  const amber = await until(async () => {
    const g = await d.get(`/api/v1/permits/${p.id}`, { token: tok.ent1 });
    return g.json.findings.find((f) => f.rule === 'gas_near' && f.severity === 'amber') && g.json;
  }, { what: 'an amber gas_near finding', timeout: 3000 });
  assert.equal(amber.worst, 'amber');

  // past the 一级 setpoint (25 %LEL): red, an alarm and a P1 work order to E1 within a second
  const t0 = Date.now();
  await send(st, MN_GAS, t0, 'a99001-Rtd=27.5,a99001-Flag=N');
  const red = await until(async () => {
    const g = await d.get(`/api/v1/permits/${p.id}`, { token: tok.ent1 });
    return g.json.findings.find((f) => f.rule === 'gas_near' && f.severity === 'red') && g.json;
  }, { what: 'a red gas_near finding', timeout: 1000, every: 20 });
  const f = red.findings.find((x) => x.rule === 'gas_near');
  assert.equal(f.evidence.device, 'E1-GD-HJ');
  assert.equal(f.evidence.value, 27.5);
  assert.ok(f.evidence.distance_m > 5 && f.evidence.distance_m < 15, JSON.stringify(f.evidence));
  const alarm = await until(async () => {
    const a = await d.get('/api/v1/alarms?state=active', { token: tok.ent1 });
    return (a.json.alarms || a.json).find((x) => x.source === p.id && x.rule === 'permit_gas_near');
  }, { what: 'a permit_gas_near alarm', timeout: 1000, every: 20 });
  assert.equal(alarm.enterprise, 'E1');
  const order = await until(async () => {
    const l = await d.get('/api/v1/workorders', { token: tok.ent1 });
    return l.json.find((o) => o.source === 'permit' && o.description.includes(p.id) && o.title.includes('gas_near'));
  }, { what: 'a work order for the red finding', timeout: 1000, every: 20 });
  const took = Date.now() - t0;
  t.diagnostic(`reading sent → red finding, alarm and work order seen over HTTP: ${took} ms`);
  assert.ok(took < 1000, `took ${took} ms`);
  assert.equal(order.priority, 'P1');
  assert.equal(order.enterprise, 'E1');
  // the enterprise's officer sees it on its event stream; the other enterprise does not
  await until(() => ev1.events.some((e) => e.id === p.id && e.worst === 'red'), { what: 'SSE permit event', timeout: 2000 });
  assert.ok(!ev2.events.some((e) => e.id === p.id));
  ev1.close();
  ev2.close();
  // one order per permit and rule, however often it is red again
  await send(st, MN_GAS, Date.now(), 'a99001-Rtd=3,a99001-Flag=N');
  await until(async () => (await d.get(`/api/v1/permits/${p.id}`, { token: tok.ent1 })).json.worst === 'none', { what: 'finding cleared' });
  await until(async () => {
    const a = await d.get(`/api/v1/alarms?state=active`, { token: tok.admin });
    return !(a.json.alarms || a.json).some((x) => x.source === p.id && x.rule === 'permit_gas_near' && x.cond_active !== false && x.state === 'active');
  }, { what: 'the alarm cleared' }).catch(() => {});
  await send(st, MN_GAS, Date.now(), 'a99001-Rtd=30,a99001-Flag=N');
  await until(async () => (await d.get(`/api/v1/permits/${p.id}`, { token: tok.ent1 })).json.worst === 'red', { what: 'red again' });
  await sleep(300);
  const orders = (await d.get('/api/v1/workorders', { token: tok.admin })).json.filter((o) => o.source === 'permit' && o.description.includes(p.id) && o.title.includes('gas_near'));
  assert.equal(orders.length, 1);

  // nearby: the detector with its live value, and the wind
  await send(st, MN_MET, Date.now(), 'a01007-Rtd=3.2,a01007-Flag=N;a01008-Rtd=135,a01008-Flag=N');
  await sleep(200);
  r = await d.get(`/api/v1/permits/${p.id}/nearby`, { token: tok.ent1 });
  assert.equal(r.status, 200, r.text);
  const det = r.json.detectors.find((x) => x.device === 'E1-GD-HJ');
  assert.equal(det.value, 30);
  assert.equal(det.level, 'alarm1');
  assert.equal(r.json.wind.station, 'MET-01');
  assert.equal(r.json.wind.speed_ms, 3.2);
  assert.equal(r.json.wind.from_deg, 135);
  st.sock.destroy();
});

test('grade inside a major-hazard dike, wind for outdoor hot work, toxic alarm near a confined-space entry', async () => {
  // 一级 inside E1-A1's dike (major-hazard installation): red grade_low at filing, and a work order
  let r = await d.post('/api/v1/permits', hotWork({ grade: 'first', area: null }), { token: tok.ent1 });
  assert.equal(r.status, 201, r.text);
  const g = r.json;
  assert.ok(g.findings.some((f) => f.rule === 'grade_low' && f.severity === 'red'), r.text);
  await until(async () => (await d.get('/api/v1/workorders', { token: tok.ent1 })).json.some((o) => o.description.includes(g.id) && o.title.includes('grade_low')), { what: 'grade work order' });
  // outside the dike, 一级 outdoor hot work: wind 8.0 m/s is red, 7.9 is not
  r = await d.post('/api/v1/permits', hotWork({ grade: 'first', area: null, location: [118.1700, 36.1850] }), { token: tok.ent1 });
  const w = r.json;
  assert.equal(w.worst, 'none', r.text);
  assert.equal((await act(w.id, 'start', 'ent1')).status, 200);
  const st = new Station(d.ports.hj212);
  await st.connect();
  await send(st, MN_MET, Date.now(), 'a01007-Rtd=7.9,a01007-Flag=N');
  await sleep(300);
  assert.ok(!(await d.get(`/api/v1/permits/${w.id}`, { token: tok.ent1 })).json.findings.some((f) => f.rule === 'wind_hot_work'));
  await send(st, MN_MET, Date.now(), 'a01007-Rtd=8.0,a01007-Flag=N');
  await until(async () => (await d.get(`/api/v1/permits/${w.id}`, { token: tok.ent1 })).json.findings.some((f) => f.rule === 'wind_hot_work' && f.severity === 'red'), { what: 'wind finding', timeout: 2000 });
  await send(st, MN_MET, Date.now(), 'a01007-Rtd=2,a01007-Flag=N');

  // confined space of E2 beside its H2S detector
  const now = Date.now();
  r = await d.post('/api/v1/permits', { type: 'confined_space', location: TOX, equipment: 'V-201', planned_start: iso(now), planned_end: iso(now + 3600000),
    analyses: [{ at: iso(now - 60000), gas: 'o2', value: 20.9, unit: '%', analyst: 'a' }] }, { token: tok.ent2 });
  assert.equal(r.status, 201, r.text);
  const cs = r.json;
  assert.equal(cs.grade, null);
  assert.equal((await act(cs.id, 'start', 'ent2')).status, 200);
  await send(st, MN_TOX, Date.now(), 'a99002-Rtd=7.0,a99002-Flag=N');
  await sleep(300);
  assert.ok(!(await d.get(`/api/v1/permits/${cs.id}`, { token: tok.ent2 })).json.findings.some((f) => f.rule === 'toxic_near'));
  await send(st, MN_TOX, Date.now(), 'a99002-Rtd=7.2,a99002-Flag=N');
  await until(async () => (await d.get(`/api/v1/permits/${cs.id}`, { token: tok.ent2 })).json.findings.some((f) => f.rule === 'toxic_near' && f.severity === 'red'), { what: 'toxic finding', timeout: 2000 });
  st.sock.destroy();
  // pause, analysis while paused, resume, complete, close; an analysis on a closed permit is 409
  assert.equal((await act(cs.id, 'pause', 'ent2')).status, 200);
  r = await d.post(`/api/v1/permits/${cs.id}/analyses`, { at: iso(Date.now()), point: 'V-201', gas: 'h2s', value: 0.5, unit: 'ppm', analyst: 'b' }, { token: tok.ent2 });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.analyses.length, 2);
  assert.equal((await act(cs.id, 'resume', 'ent2')).status, 200);
  assert.equal((await act(cs.id, 'complete', 'ent2')).status, 200);
  r = await act(cs.id, 'close', 'ent2');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, 'closed');
  assert.equal(r.json.pauses.length, 1);
  assert.ok(r.json.pauses[0].to);
  r = await d.post(`/api/v1/permits/${cs.id}/analyses`, { at: iso(Date.now()), gas: 'o2', value: 20.9, unit: '%' }, { token: tok.ent2 });
  assert.equal(r.status, 409, r.text);
});

test('transitions: 409 for a refused state or role, 400 naming the field', async () => {
  let r = await d.post('/api/v1/permits', hotWork({ grade: 'second', area: null, location: [118.172, 36.186] }), { token: tok.ent1 });
  const id = r.json.id;
  r = await act(id, 'resume', 'ent1');
  assert.equal(r.status, 409);
  assert.match(r.json.error, /resume: not allowed for a permit that is filed/);
  assert.equal((await act(id, 'start', 'ent1')).status, 200);
  r = await act(id, 'start', 'ent1');
  assert.equal(r.status, 409);
  // an enterprise cannot cancel a started permit; the park can
  r = await act(id, 'cancel', 'ent1');
  assert.equal(r.status, 409);
  assert.match(r.json.error, /park/);
  assert.equal((await act(id, 'cancel', 'viewer')).status, 403);
  r = await act(id, 'cancel', 'admin');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, 'cancelled');
  assert.equal((await act(id, 'close', 'admin')).status, 409);
  // 400s name the field
  const bad = [
    [{ ...hotWork(), type: 'welding' }, /^\$\.type: /],
    [{ ...hotWork(), grade: undefined }, /^\$\.grade: /],
    [{ ...hotWork(), planned_end: 'tomorrow' }, /^\$\.planned_end: /],
    [{ ...hotWork(), location: [500, 1] }, /^\$\.location: /],
    [{ ...hotWork(), workers: 'everyone' }, /^\$\.workers: /],
    [{ ...hotWork(), area: 'E2-A1' }, /^area: /],
    [{ ...hotWork(), enterprise: 'E9' }, /^enterprise: /],
    [{ ...hotWork(), enterprise: '' }, /^enterprise: required/],
  ];
  for (const [body0, re] of bad) {
    const body = { enterprise: 'E1', ...body0 };
    r = await d.post('/api/v1/permits', body, { token: tok.admin });
    assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 80)} → ${r.text}`);
    assert.match(r.json.error, re);
  }
  r = await d.post('/api/v1/permits/PT-999999/start', {}, { token: tok.admin });
  assert.equal(r.status, 404);
  r = await d.get('/api/v1/permits/nonsense', { token: tok.admin });
  assert.equal(r.status, 404);
  r = await d.get('/api/v1/permits?state=running', { token: tok.admin });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /^state: /);
});

test('scope: enterprise A neither sees nor acts on B\'s permits; park roles see all', async () => {
  const now = Date.now();
  let r = await d.post('/api/v1/permits', { type: 'height', location: [118.175, 36.179], planned_start: iso(now), planned_end: iso(now + 3600000) }, { token: tok.ent2 });
  assert.equal(r.status, 201, r.text);
  const b = r.json;
  assert.equal(b.enterprise, 'E2');
  assert.equal((await d.get(`/api/v1/permits/${b.id}`, { token: tok.ent1 })).status, 404);
  assert.equal((await d.get(`/api/v1/permits/${b.id}/nearby`, { token: tok.ent1 })).status, 404);
  for (const a of ['start', 'pause', 'resume', 'complete', 'close', 'cancel'])
    assert.equal((await act(b.id, a, 'ent1')).status, 404, a);
  assert.equal((await d.post(`/api/v1/permits/${b.id}/analyses`, { at: iso(now), gas: 'o2', value: 20, unit: '%' }, { token: tok.ent1 })).status, 404);
  r = await d.get('/api/v1/permits', { token: tok.ent1 });
  assert.ok(r.json.length > 0 && r.json.every((p) => p.enterprise === 'E1'));
  r = await d.get('/api/v1/permits?enterprise=E2', { token: tok.ent1 });
  assert.deepEqual(r.json, []);
  // filing for another enterprise is refused; the park files for anyone
  r = await d.post('/api/v1/permits', { type: 'height', enterprise: 'E2', location: [118.175, 36.179], planned_start: iso(now), planned_end: iso(now + 3600000) }, { token: tok.ent1 });
  assert.equal(r.status, 403, r.text);
  r = await d.post('/api/v1/permits', { type: 'height', enterprise: 'E2', location: [118.175, 36.179], planned_start: iso(now), planned_end: iso(now + 3600000) }, { token: tok.admin });
  assert.equal(r.status, 201, r.text);
  r = await d.get('/api/v1/permits?enterprise=E2&type=height&active=1', { token: tok.viewer });
  assert.ok(r.json.length >= 2 && r.json.every((p) => p.enterprise === 'E2' && p.type === 'height'));
  // statistics and spot checks are scoped too
  r = await d.get('/api/v1/permits/stats', { token: tok.ent2 });
  assert.deepEqual(Object.keys(r.json.by_enterprise), ['E2']);
  // the day's spot-check draw is the park's: an enterprise must not learn which permits will be inspected
  r = await d.get('/api/v1/permits/spotchecks', { token: tok.ent2 });
  assert.equal(r.status, 403);
  // the inspector's result is the park's
  assert.equal((await d.post(`/api/v1/permits/${b.id}/spotcheck`, { result: 'ok' }, { token: tok.ent2 })).status, 403);
});

test('batches: JSON array and CSV keep good rows and name bad ones by row and column; atomic=1 files none', async () => {
  const now = Date.now();
  const good = { type: 'lifting', location: [118.176, 36.179], planned_start: iso(now), planned_end: iso(now + 3600000), outdoor: true };
  let r = await d.post('/api/v1/permits', [good, { ...good, planned_start: 'x' }, good], { token: tok.ent2 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.filed, 2);
  assert.equal(r.json.rejected, 1);
  assert.match(r.json.results[1].error, /^\$\[1\]\.planned_start: /);
  assert.match(r.json.results[0].id, /^PT-/);
  r = await d.post('/api/v1/permits?atomic=1', [good, { ...good, type: 'x' }], { token: tok.ent2 });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.filed, 0);
  assert.equal(r.json.results[0].id, null);

  const start = iso(now), end = iso(now + 7200000);
  const csv = 'type,grade,lon,lat,planned_start,planned_end,workers,outdoor,equipment\r\n' +
    `动火,二级,118.177,36.179,${start},${end},"张三、李四",是,E-1\r\n` +
    `confined_space,,118.177,north,${start},${end},,,V-1\r\n` +
    `height,,118.177,36.179,${start},${end},,maybe,\r\n` +
    `blind_plate,,118.177,36.179,${start},${end},,,P-1001\r\n`;
  r = await d.req('POST', '/api/v1/permits/import', { token: tok.ent2, body: csv, headers: { 'Content-Type': 'text/csv' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.filed, 2);
  assert.deepEqual(r.json.results.map((x) => x.line), [2, 3, 4, 5]);
  assert.match(r.json.results[1].error, /^line 3: column lat: /);
  assert.match(r.json.results[2].error, /^line 4: column outdoor: /);
  const hot = await d.get(`/api/v1/permits/${r.json.results[0].id}`, { token: tok.ent2 });
  assert.equal(hot.json.grade, 'second');
  assert.deepEqual(hot.json.workers, ['张三', '李四']);
  assert.equal(hot.json.outdoor, true);
  // a second blind plate on P-1001 at the same time: red conflict on both
  r = await d.req('POST', '/api/v1/permits/import?atomic=1', { token: tok.ent2, body: `type,lon,lat,planned_start,planned_end,equipment\nblind_plate,118.177,36.179,${start},${end},P-1001\n`, headers: { 'Content-Type': 'text/csv' } });
  assert.equal(r.status, 201, r.text);
  const bp = await d.get(`/api/v1/permits/${r.json.results[0].id}`, { token: tok.ent2 });
  assert.ok(bp.json.findings.some((f) => f.rule === 'blind_plate_conflict' && f.severity === 'red'), bp.text);
  // header errors, wrong type
  r = await d.req('POST', '/api/v1/permits/import', { token: tok.ent2, body: 'type,colour\nheight,red\n', headers: { 'Content-Type': 'text/csv' } });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /colour/);
  r = await d.req('POST', '/api/v1/permits/import', { token: tok.ent2, body: csv, headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 415);
});

test('hostile input: oversized, malformed, deep and stale', async () => {
  let r = await d.req('POST', '/api/v1/permits', { token: tok.ent1, body: '{"type":', headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 400);
  r = await d.req('POST', '/api/v1/permits', { token: tok.ent1, body: '['.repeat(5000) + ']'.repeat(5000), headers: { 'Content-Type': 'application/json' } });
  assert.equal(r.status, 400);
  r = await d.post('/api/v1/permits', Array.from({ length: 1001 }, () => ({})), { token: tok.ent1 });
  assert.equal(r.status, 413);
  r = await d.post('/api/v1/permits', hotWork({ leader: 'x'.repeat(500) }), { token: tok.ent1 });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /^\$\.leader: /);
  r = await d.post('/api/v1/permits', hotWork({ workers: Array(17).fill('a') }), { token: tok.ent1 });
  assert.equal(r.status, 400);
  r = await d.post('/api/v1/permits', hotWork({ location: { type: 'Polygon', coordinates: [Array.from({ length: 70 }, (_, i) => [118.16 + i * 1e-5, 36.18])] } }), { token: tok.ent1 });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /at most 64 vertices/);
  r = await d.req('POST', '/api/v1/permits/import', { token: tok.ent1, body: 'type,lon,lat,planned_start,planned_end\n"height,1,2', headers: { 'Content-Type': 'text/csv' } });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.results[0].error, /^line 2: a quoted cell is not closed/);
  r = await d.req('POST', '/api/v1/permits/import', { token: tok.ent1, body: 'type,lon,lat,planned_start,planned_end\n' + 'height,1,2,x,y\n'.repeat(1001), headers: { 'Content-Type': 'text/csv' } });
  assert.equal(r.status, 413, r.text);
  r = await d.req('POST', '/api/v1/permits/import', { token: tok.ent1, body: 'type,lon\x00,lat\n', headers: { 'Content-Type': 'text/csv' } });
  assert.equal(r.status, 400);
  r = await d.post('/api/v1/permits/PT-000001x/start', {}, { token: tok.ent1 });
  assert.equal(r.status, 404);
  r = await d.get('/api/v1/permits/stats?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', { token: tok.admin });
  assert.equal(r.status, 400);
  r = await d.get('/api/v1/permits/spotchecks?date=2026-13-01', { token: tok.admin });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /^date: /);
  // the daemon is still fine
  assert.equal((await d.get('/api/v1/permits?limit=1', { token: tok.admin })).status, 200);
});

test('statistics and the daily spot-check draw; a problem opens a work order; durable across kill -9', async () => {
  let r = await d.get('/api/v1/permits/stats', { token: tok.admin });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.json.by_type.hot_work >= 3, r.text);
  assert.equal(r.json.by_hour.length, 24);
  assert.equal(r.json.by_weekday.length, 7);
  assert.equal(r.json.by_hour.reduce((a, b) => a + b, 0), Object.values(r.json.by_type).reduce((a, b) => a + b, 0));
  assert.ok(r.json.findings_by_rule.gas_near >= 2, r.text);
  assert.ok(r.json.findings_by_rule.grade_low >= 1);
  r = await d.get('/api/v1/permits/spotchecks', { token: tok.admin });
  assert.equal(r.status, 200, r.text);
  // every special-grade hot work of today is drawn
  const all = (await d.get('/api/v1/permits?type=hot_work', { token: tok.admin })).json;
  const specials = all.filter((p) => p.grade === 'special' && p.state !== 'cancelled');
  for (const p of specials) assert.ok(r.json.some((x) => x.permit.id === p.id), `special ${p.id} drawn`);
  const again = await d.get('/api/v1/permits/spotchecks', { token: tok.admin });
  assert.deepEqual(again.json.map((x) => x.permit.id), r.json.map((x) => x.permit.id)); // deterministic
  const pick = r.json[0].permit.id;
  r = await d.post(`/api/v1/permits/${pick}/spotcheck`, { result: 'problem' }, { token: tok.admin });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /^text: /);
  r = await d.post(`/api/v1/permits/${pick}/spotcheck`, { result: 'problem', text: '监护人不在现场' }, { token: tok.admin });
  assert.equal(r.status, 201, r.text);
  r = await d.get('/api/v1/permits/spotchecks', { token: tok.admin });
  const row = r.json.find((x) => x.permit.id === pick);
  assert.equal(row.result.result, 'problem');
  assert.equal(row.result.by, 'admin');
  assert.ok(row.result.workorder > 0);
  const wo = await d.get(`/api/v1/workorders/${row.result.workorder}`, { token: tok.admin });
  assert.equal(wo.json.source, 'spotcheck');
  assert.equal(wo.json.priority, 'P2');

  const before = (await d.get('/api/v1/permits?limit=10000', { token: tok.admin })).json;
  await d.restart('SIGKILL');
  tok.admin = await d.login();
  const after = (await d.get('/api/v1/permits?limit=10000', { token: tok.admin })).json;
  assert.deepEqual(after.map((p) => [p.id, p.state, p.worst]), before.map((p) => [p.id, p.state, p.worst]));
  r = await d.get('/api/v1/permits/spotchecks', { token: tok.admin });
  assert.equal(r.json.find((x) => x.permit.id === pick).result.result, 'problem');
});
