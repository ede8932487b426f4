// Writes are scoped the way reads are: an enterprise user (logged in, or with an enterprise API
// token) acting on another enterprise's (or the park's) objects gets 404, as a read of them
// would, and nothing changes. Every write route of src/http/*.c is covered: routes above the
// enterprise role must answer 403, routes an enterprise may use must have an entry in CROSS below
// (a new write route without one fails this test).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, DATA, ROOT, sleep } from './harness.mjs';

let d, admin, tmp;
const actors = {}; // name -> bearer secret
let clock = Date.now();
const now = () => { clock += 10000; return clock; };

const write = async (lines) => {
  const r = await d.post('/write?precision=ms', lines.join('\n'));
  assert.equal(r.status, 204, r.text);
};

// the write routes as the route tables declare them
function writeRoutes() {
  const dir = path.join(ROOT, 'src/http');
  const out = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.c'))) {
    const src = readFileSync(path.join(dir, f), 'utf8');
    for (const m of src.matchAll(/\{\s*"(POST|PUT|DELETE|PATCH)",\s*"([^"]+)",\s*(ACCESS_\w+),\s*(true|false)/g))
      out.push({ method: m[1], pattern: m[2], access: m[3], writes: m[4] === 'true', file: f });
  }
  return out;
}

let e2Alarm, e1Alarm, parkSilence, e2Silence, e2Order, e1Order, e2Hazard, e2Permit, e1Permit;

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'pw-scope-'));
  const model = JSON.parse(readFileSync(path.join(DATA, 'small-park.json'), 'utf8'));
  model.vehicles.push({ id: 'V2', plate: '鲁C67890', carrier: '乙物流', hazmat_class: '8', un_number: 'UN1789', cargo: '盐酸', terminal_phone: '013800000002', enterprise: 'E2' });
  const mp = path.join(tmp, 'park.json');
  writeFileSync(mp, JSON.stringify(model));
  d = await new Daemon({ model: mp }).start();
  admin = await d.login();
  for (const u of [
    { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' },
    { name: 'ent2', password: 'ent2-password', role: 'enterprise', enterprise: 'E2' },
  ]) assert.equal((await d.post('/api/v1/users', u, { token: admin })).status, 201);
  actors.session = await d.login('ent1', 'ent1-password');
  const t = await d.post('/api/v1/tokens', { name: 'e1-api', role: 'enterprise', enterprise: 'E1' }, { token: admin });
  assert.equal(t.status, 201, t.text);
  actors.token = t.json.token;
  const ts = now();
  await write([`gas,device=E2-GD-001 concentration=20 ${ts}`, `gas,device=E1-GD-001 concentration=30 ${ts}`]);
  for (let i = 0; i < 50 && (!e1Alarm || !e2Alarm); i++) {
    const list = (await d.get('/api/v1/alarms', { token: admin })).json;
    e2Alarm = list.find((a) => a.device === 'E2-GD-001')?.id;
    e1Alarm = list.find((a) => a.device === 'E1-GD-001')?.id;
    await sleep(100);
  }
  assert.ok(e1Alarm && e2Alarm, 'alarms raised for both enterprises');
  const ent2 = await d.login('ent2', 'ent2-password');
  const ps = await d.post('/api/v1/silences', { kind: 'device', target: 'AQ-01', reason: '检修', duration: '2h' }, { token: admin });
  assert.equal(ps.status, 201, ps.text);
  parkSilence = ps.json.id;
  const es = await d.post('/api/v1/silences', { kind: 'device', target: 'E2-GD-001', reason: '检修', duration: '2h' }, { token: ent2 });
  assert.equal(es.status, 201, es.text);
  e2Silence = es.json.id;
  // work orders, a hazard and a risk point of E2 (and an order of E1) made by the park
  const o2 = await d.post('/api/v1/workorders', { title: 'E2 整改', description: 'x', priority: 'P3', enterprise: 'E2' }, { token: admin });
  assert.equal(o2.status, 201, o2.text);
  e2Order = o2.json.id;
  const o1 = await d.post('/api/v1/workorders', { title: 'E1 整改', description: 'x', priority: 'P3', enterprise: 'E1' }, { token: admin });
  assert.equal(o1.status, 201, o1.text);
  e1Order = o1.json.id;
  const hz = await d.post('/api/v1/hazards', { enterprise: 'E2', title: '储罐区防火堤破损', description: 'x' }, { token: admin });
  assert.equal(hz.status, 201, hz.text);
  e2Hazard = hz.json.id;
  const rp = await d.req('PUT', '/api/v1/risk-points/RP-E2', { token: admin, body: { enterprise: 'E2', name: '罐区', grade: '较大' } });
  assert.ok(rp.status >= 200 && rp.status < 300, rp.text);
  // special-operation permits of E2 and E1, filed by the park
  const pt = (enterprise) => ({ type: 'height', enterprise, location: [118.17, 36.18], planned_start: new Date().toISOString(), planned_end: new Date(Date.now() + 3600000).toISOString() });
  const p2 = await d.post('/api/v1/permits', pt('E2'), { token: admin });
  assert.equal(p2.status, 201, p2.text);
  e2Permit = p2.json.id;
  const p1 = await d.post('/api/v1/permits', pt('E1'), { token: admin });
  assert.equal(p1.status, 201, p1.text);
  e1Permit = p1.json.id;
});
after(async () => { await d.stop(); rmSync(tmp, { recursive: true, force: true }); });

const silence = (kind, target) => ({ kind, target, reason: 'x', duration: '1h' });

// Per operator-level write route: attempts on objects outside E1 (each must be 404) and one on
// E1's own object (must succeed: the route is reachable, so the 404s mean something).
const CROSS = {
  'POST /api/v1/alarms/{id}/ack': { foreign: () => [[`/api/v1/alarms/${e2Alarm}/ack`, { text: 'x' }]], own: () => [`/api/v1/alarms/${e1Alarm}/ack`, { text: 'ok' }] },
  'POST /api/v1/alarms/{id}/comment': { foreign: () => [[`/api/v1/alarms/${e2Alarm}/comment`, { text: 'x' }]], own: () => [`/api/v1/alarms/${e1Alarm}/comment`, { text: 'ok' }] },
  'POST /api/v1/alarms/{id}/assign': { foreign: () => [[`/api/v1/alarms/${e2Alarm}/assign`, { assignee: 'ent1' }]], own: () => [`/api/v1/alarms/${e1Alarm}/assign`, { assignee: 'ent1' }] },
  'POST /api/v1/alarms/{id}/clear': { foreign: () => [[`/api/v1/alarms/${e2Alarm}/clear`, { text: 'x' }]], own: null },
  'POST /api/v1/alarms/{id}/close': { foreign: () => [[`/api/v1/alarms/${e2Alarm}/close`, { text: 'x' }]], own: null },
  'POST /api/v1/silences': {
    foreign: () => [
      ['/api/v1/silences', silence('device', 'E2-GD-001')],
      ['/api/v1/silences', silence('device', 'AQ-01')], // park-owned
      ['/api/v1/silences', silence('point', 'E2-GD-001-P')],
      ['/api/v1/silences', silence('area', 'E2-A1')],
      ['/api/v1/silences', silence('enterprise', 'E2')],
      ['/api/v1/silences', silence('source', 'E2-GD-001-P')],
      ['/api/v1/silences', silence('source', 'V2')],
      ['/api/v1/silences', silence('device', 'NO-SUCH-DEVICE')],
    ],
    own: () => ['/api/v1/silences', silence('point', 'E1-GD-001-P')],
  },
  'DELETE /api/v1/silences/{id}': { foreign: () => [[`/api/v1/silences/${parkSilence}`], [`/api/v1/silences/${e2Silence}`]], own: null },
  'POST /api/v1/vehicles/{id}/locate': { foreign: () => [['/api/v1/vehicles/V2/locate']], own: null },
  // work orders: another enterprise's order is not found; dispatching one to another enterprise is
  // refused (an enterprise may only raise a request to a department)
  'POST /api/v1/workorders': { foreign: () => [['/api/v1/workorders', { title: 'x', description: 'x', priority: 'P3', enterprise: 'E2' }]], want: [403, 404, 409], own: null },
  ...Object.fromEntries(['sign', 'bounce', 'start', 'submit', 'return', 'accept', 'cancel', 'reopen', 'extend', 'decide-extension', 'assign', 'comment', 'evidence'].map((a) => [
    `POST /api/v1/workorders/{id}/${a}`,
    { foreign: () => [[`/api/v1/workorders/${e2Order}/${a}`, a === 'evidence' ? '%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n' : { text: 'x', assignee: 'ent1', duration: '2d', approve: true, decision: 'approve' }]], own: a === 'comment' ? () => [`/api/v1/workorders/${e1Order}/comment`, { text: 'ok' }] : null },
  ])),
  'POST /api/v1/hazards': { foreign: () => [['/api/v1/hazards', { enterprise: 'E2', title: 'x', description: 'x' }]], want: [403, 404, 409], own: () => ['/api/v1/hazards', { title: 'E1 隐患', description: 'x' }] },
  ...Object.fromEntries(['grade', 'rectify', 'progress', 'submit', 'accept', 'return'].map((a) => [
    `POST /api/v1/hazards/{id}/${a}`,
    { foreign: () => [[`/api/v1/hazards/${e2Hazard}/${a}`, { grade: '一般', text: 'x', measures: 'x', owner: 'x', deadline: '2030-01-01T00:00:00Z' }]], own: null },
  ])),
  'PUT /api/v1/risk-points/{id}': { foreign: () => [['/api/v1/risk-points/RP-E2', { enterprise: 'E1', name: 'x', grade: '低' }], ['/api/v1/risk-points/RP-E2X', { enterprise: 'E2', name: 'x', grade: '低' }]], want: [403, 404, 409], own: null },
  'POST /api/v1/risk-points/import': { foreign: () => [['/api/v1/risk-points/import', 'id,enterprise,name,grade\nRP-X,E2,x,低\n']], want: [403, 404, 409], own: null },
  // permits: filing for another enterprise is refused (403; in a batch or CSV every such row is
  // refused: 400 with nothing filed); another enterprise's permit is not found
  'POST /api/v1/permits': {
    foreign: () => [['/api/v1/permits', { type: 'height', enterprise: 'E2', location: [118.17, 36.18], planned_start: '2030-01-01T00:00:00Z', planned_end: '2030-01-01T01:00:00Z' }],
      ['/api/v1/permits', [{ type: 'height', enterprise: 'E2', location: [118.17, 36.18], planned_start: '2030-01-01T00:00:00Z', planned_end: '2030-01-01T01:00:00Z' }]]],
    want: [400, 403], own: () => ['/api/v1/permits', { type: 'height', location: [118.17, 36.18], planned_start: '2030-01-01T00:00:00Z', planned_end: '2030-01-01T01:00:00Z' }] },
  'POST /api/v1/permits/import': { foreign: () => [['/api/v1/permits/import', 'type,enterprise,lon,lat,planned_start,planned_end\nheight,E2,118.17,36.18,2030-01-01T00:00:00Z,2030-01-01T01:00:00Z\n']], want: [400, 403], own: null },
  ...Object.fromEntries(['start', 'pause', 'resume', 'complete', 'close', 'cancel', 'analyses'].map((a) => [
    `POST /api/v1/permits/{id}/${a}`,
    { foreign: () => [[`/api/v1/permits/${e2Permit}/${a}`, a === 'analyses' ? { at: '2030-01-01T00:00:00Z', gas: 'o2', value: 20.9, unit: '%' } : {}]],
      own: a === 'analyses' ? () => [`/api/v1/permits/${e1Permit}/analyses`, { at: '2030-01-01T00:00:00Z', gas: 'o2', value: 20.9, unit: '%' }] : null },
  ])),
};

test('every write route of an enterprise is in the cross-enterprise matrix; the others refuse it', async () => {
  const routes = writeRoutes();
  assert.ok(routes.length >= 10, `found ${routes.length} write routes`);
  for (const r of routes) {
    const key = `${r.method} ${r.pattern}`;
    if (r.access === 'ACCESS_OPERATOR' || r.access === 'ACCESS_UNIT' || (r.access === 'ACCESS_USER' && r.writes)) {
      assert.ok(CROSS[key], `${key} (${r.file}): an enterprise may call it, so it needs a cross-enterprise case here`);
      continue;
    }
    if (r.access === 'ACCESS_PUBLIC' || r.access === 'ACCESS_USER') continue;
    // above the enterprise role: 403 for both kinds of enterprise credential
    const p = r.pattern.replace(/\{[^}]+\}/g, 'x');
    for (const [who, tok] of Object.entries(actors)) {
      const res = await d.req(r.method, p, { token: tok, body: {} });
      assert.equal(res.status, 403, `${who} ${r.method} ${p}: ${res.text}`);
    }
  }
});

for (const who of ['session', 'token']) {
  test(`an enterprise ${who} gets 404 for every write on another enterprise's or the park's objects`, async () => {
    for (const [key, c] of Object.entries(CROSS)) {
      const method = key.split(' ')[0];
      for (const [p, body] of c.foreign()) {
        const r = await d.req(method, p, { token: actors[who], body });
        const want = c.want || [404];
        assert.ok(want.includes(r.status), `${who}: ${method} ${p} ${JSON.stringify(body)} → ${r.status} ${r.text} (want ${want.join(' or ')})`);
      }
    }
    // nothing changed: the E2 alarm untouched, no silence stamped or aimed outside E1, both
    // foreign silences still in force
    const a = (await d.get(`/api/v1/alarms/${e2Alarm}`, { token: admin })).json;
    assert.equal(a.state, 'active');
    assert.ok(!a.history.some((h) => h.user === 'ent1' || h.user === 'e1-api'), JSON.stringify(a.history));
    const sil = (await d.get('/api/v1/silences', { token: admin })).json;
    const bad = sil.filter((s) => (s.created_by === 'ent1' || s.created_by === 'e1-api') && s.target !== 'E1-GD-001-P');
    assert.deepEqual(bad, [], 'no silence created on foreign objects');
    for (const id of [parkSilence, e2Silence]) assert.ok(sil.some((s) => s.id === id), `silence ${id} still in force`);
    // no permit filed for E2 by E1, E2's permit untouched
    const e2p = (await d.get('/api/v1/permits?enterprise=E2', { token: admin })).json;
    assert.deepEqual(e2p.map((p) => [p.id, p.state, p.analyses.length]), [[e2Permit, 'filed', 0]]);
  });
}

test('the same writes on its own enterprise\'s objects succeed', async () => {
  for (const who of ['session', 'token']) {
    for (const [key, c] of Object.entries(CROSS)) {
      if (!c.own) continue;
      const method = key.split(' ')[0];
      const [p, body] = c.own();
      const r = await d.req(method, p, { token: actors[who], body });
      // 2xx, or 409 when the alarm's state no longer allows it (the second actor): found in scope
      assert.ok((r.status >= 200 && r.status < 300) || r.status === 409, `${who}: ${method} ${p} → ${r.status} ${r.text}`);
    }
  }
  // locate of its own vehicle reaches the terminal check (not connected), not the scope check
  const r = await d.post('/api/v1/vehicles/V1/locate', undefined, { token: actors.session });
  assert.equal(r.status, 409, r.text);
  // and its own silences can be ended
  const sil = (await d.get('/api/v1/silences', { token: actors.session })).json;
  const mine = sil.find((s) => s.created_by === 'ent1');
  assert.ok(mine);
  assert.equal((await d.req('DELETE', `/api/v1/silences/${mine.id}`, { token: actors.session })).status, 200);
});
