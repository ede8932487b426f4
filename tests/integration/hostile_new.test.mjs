// Hostile review of this session's new routes and parsers, beyond what robustness.test.mjs (every
// route × method × role, generic bad bodies) and write_scope.test.mjs (cross-enterprise writes)
// already cover: cross-enterprise reads of permits (one, nearby, list, stats, spot checks) and
// listings; ids that overflow, are negative or stale; numbers that are not finite; control
// characters and formula cells (CSV injection) in the supervision report's CSV and the gathering
// places' CSV; a period of 10 MB; many concurrent filings; a daemon killed in the middle of a batch.
// After each part the daemon is alive and the data it acknowledged is intact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { Daemon, DATA, sleep } from './harness.mjs';

let d, tmp;
const tok = {};
// formula cells a spreadsheet would evaluate (OWASP "CSV injection")
const FORMULAS = ['=HYPERLINK("http://evil.example/?x","点我")', '@SUM(1+1)', '+1+1', '-1+cmd|\' /C calc\'!A0'];

const iso = (ms) => new Date(ms).toISOString();
const permit = (enterprise, extra = {}) => ({ type: 'height', ...(enterprise ? { enterprise } : {}), location: [118.17, 36.18],
  planned_start: iso(Date.now() + 60000), planned_end: iso(Date.now() + 3600000), ...extra });

async function alive(what) {
  assert.equal(d.proc.exitCode, null, `daemon died after ${what}:\n${d.stderr.slice(-2000)}`);
  const h = await d.get('/healthz');
  assert.equal(h.status, 200, `healthz after ${what}`);
}

// one raw request (for what fetch refuses to send)
function raw(port, data, timeout = 10000) {
  return new Promise((resolve) => {
    let out = Buffer.alloc(0);
    const s = net.connect(port, '127.0.0.1', () => s.write(data));
    const finish = () => { clearTimeout(timer); s.destroy(); const m = /^HTTP\/1\.[01] (\d{3})/.exec(out.toString('latin1')); resolve(m ? Number(m[1]) : 0); };
    const timer = setTimeout(finish, timeout);
    s.on('data', (c) => { out = Buffer.concat([out, c]); if (out.includes('\r\n\r\n')) finish(); });
    s.on('error', finish);
    s.on('close', finish);
  });
}

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'pw-hostile-'));
  const park = JSON.parse(readFileSync(path.join(DATA, 'small-park.json'), 'utf8'));
  park.enterprises[1].name = FORMULAS[0];
  // detectors of both enterprises a few metres from where the permits below are
  park.devices.find((x) => x.id === 'E1-GD-001').location = [118.1701, 36.1801];
  park.devices.find((x) => x.id === 'E2-GD-001').location = [118.1702, 36.1799];
  park.departments = [{ id: 'AJ', name: FORMULAS[2], kind: '安监' }, { id: 'HB', name: FORMULAS[3], kind: '环保' }];
  park.gathering_places = [{ id: 'GP-1', name: FORMULAS[1], kind: 'canteen', class: 2, location: [118.171, 36.181], people: 80, phone: '+8605331234567' }];
  const model = path.join(tmp, 'park.json');
  writeFileSync(model, JSON.stringify(park));
  d = await new Daemon({ model }).start();
  tok.admin = await d.login();
  for (const u of [
    { name: 'sup', password: 'sup-password', role: 'supervisor' },
    { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' },
    { name: 'ent2', password: 'ent2-password', role: 'enterprise', enterprise: 'E2' },
    { name: 'aj', password: 'aj-password', role: 'department', department: 'AJ' },
    { name: 'viewer', password: 'viewer-password', role: 'viewer' },
  ]) {
    const r = await d.post('/api/v1/users', u, { token: tok.admin });
    assert.equal(r.status, 201, r.text);
    tok[u.name] = await d.login(u.name, u.password);
  }
  for (const [name, body] of [['regulator', { role: 'regulator' }], ['e1tok', { role: 'enterprise', enterprise: 'E1' }]]) {
    const r = await d.post('/api/v1/tokens', { name: `hostile-${name}`, ...body }, { token: tok.admin });
    assert.equal(r.status, 201, r.text);
    tok[name] = r.json.token;
  }
});
after(async () => { await d.stop(); rmSync(tmp, { recursive: true, force: true }); });

test('permits: an enterprise reads nothing of another enterprise (one, nearby, list, stats, spot checks)', async () => {
  const p2 = await d.post('/api/v1/permits', permit(), { token: tok.ent2 });
  assert.equal(p2.status, 201, p2.text);
  assert.equal(p2.json.enterprise, 'E2');
  const p1 = await d.post('/api/v1/permits', permit(), { token: tok.ent1 });
  assert.equal(p1.status, 201, p1.text);
  for (const who of ['ent1', 'e1tok']) {
    for (const p of [`/api/v1/permits/${p2.json.id}`, `/api/v1/permits/${p2.json.id}/nearby`]) {
      const r = await d.get(p, { token: tok[who] });
      assert.equal(r.status, 404, `${who} GET ${p}: ${r.status} ${r.text}`);
      assert.ok(!r.text.includes('E2'), r.text);
    }
    for (const q of ['', '?enterprise=E2', '?enterprise=E1', '?active=1', '?limit=10000']) {
      const r = await d.get(`/api/v1/permits${q}`, { token: tok[who] });
      assert.ok(r.status === 200 || r.status === 404, `${q}: ${r.status}`);
      if (r.status === 200) assert.ok(r.json.every((p) => p.enterprise === 'E1'), `${who} list${q}: ${r.text}`);
    }
    const st = await d.get('/api/v1/permits/stats', { token: tok[who] });
    assert.equal(st.status, 200, st.text);
    assert.deepEqual(Object.keys(st.json.by_enterprise), ['E1'], st.text);
    const sc = await d.get('/api/v1/permits/spotchecks', { token: tok[who] });
    assert.equal(sc.status, 403, sc.text); // the draw is the park's (a surprise inspection)
    // a spot check is the park's: refused to an enterprise before it can learn anything
    const sp = await d.post(`/api/v1/permits/${p2.json.id}/spotcheck`, { result: 'ok' }, { token: tok[who] });
    assert.equal(sp.status, 403, sp.text);
  }
  // the detectors near E1's permit: E1 sees its own, not E2's (which the park sees)
  const near = (who) => d.get(`/api/v1/permits/${p1.json.id}/nearby`, { token: tok[who] });
  const park = await near('sup');
  assert.equal(park.status, 200, park.text);
  assert.deepEqual(park.json.detectors.map((x) => x.point).sort(), ['E1-GD-001-P', 'E2-GD-001-P'], park.text);
  for (const who of ['ent1', 'e1tok']) {
    const r = await near(who);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.detectors.map((x) => x.point), ['E1-GD-001-P'], `${who}: ${r.text}`);
    assert.ok(!r.text.includes('E2-GD'), r.text);
  }
  // the park sees both
  const all = (await d.get('/api/v1/permits', { token: tok.sup })).json.map((p) => p.id);
  assert.ok(all.includes(p1.json.id) && all.includes(p2.json.id));
  await alive('cross-enterprise permit reads');
});

test('permits: hostile ids, numbers and text are 4xx naming the field; nothing is filed', async () => {
  const before = (await d.get('/api/v1/permits?limit=10000', { token: tok.admin })).json.length;
  for (const id of ['PT-99999999999999999999', 'PT--1', 'PT-', 'PT-0', 'PT-000000', '-1', '%00', 'PT-1%0A', 'PT-00000000000001']) {
    for (const suffix of ['', '/nearby']) {
      const r = await d.get(`/api/v1/permits/${id}${suffix}`, { token: tok.admin });
      assert.equal(r.status, 404, `GET ${id}${suffix}: ${r.status} ${r.text}`);
    }
    const r = await d.post(`/api/v1/permits/${id}/start`, {}, { token: tok.admin });
    assert.equal(r.status, 404, `start ${id}: ${r.status}`);
  }
  const bad = [
    [{ location: ['__inf__', 36.18] }, 'location'], // cJSON reads 1e999 as infinity
    [{ location: [36.18, '__inf__'] }, 'location'],
    [{ location: [181, 36] }, 'location'],
    [{ location: { type: 'Polygon', coordinates: [Array.from({ length: 1000 }, (_, i) => [118 + i * 1e-5, 36 + (i % 2) * 1e-5])] } }, 'location'],
    [{ location: { type: 'Polygon', coordinates: [[[118, 36], [118, 36]]] } }, 'location'],
    [{ leader: 'x\u001b[31mFAKE LOG LINE\n' }, 'leader'],
    [{ leader: 'a'.repeat(64) }, 'leader'],
    [{ workers: ['ok', 'bad\u0007'] }, 'workers'],
    [{ workers: Array(17).fill('w') }, 'workers'],
    [{ workers: 'x' }, 'workers'],
    [{ type: 'hot_work' }, 'grade'],
    [{ grade: 'special' }, 'grade'],
    [{ type: 7 }, 'type'],
    [{ outdoor: 'yes' }, 'outdoor'],
    [{ planned_start: '9999-99-99T99:99:99Z' }, 'planned_start'],
    [{ planned_start: '0000-01-01T00:00:00Z' }, 'planned_start'],
    [{ planned_start: 1e308 }, 'planned_start'],
    [{ planned_end: iso(Date.now()) }, 'planned_end'],
    [{ analyses: [{ at: iso(Date.now()), gas: 'o2', unit: '%', value: -1 }] }, 'value'],
    [{ analyses: [{ at: iso(Date.now()), gas: 'o2', unit: '%', value: '20.9' }] }, 'value'],
    [{ analyses: [{ at: iso(Date.now()), gas: 'o2', unit: '%', value: '__inf__' }] }, 'value'],
    [{ enterprise: 'E1\u007f' }, 'enterprise'],
    [{ enterprise: 'NO-SUCH' }, 'enterprise'],
  ];
  for (const [extra, field] of bad) {
    const r = await d.post('/api/v1/permits', JSON.stringify(permit('E1', extra)).replaceAll('"__inf__"', '1e999'),
      { token: tok.admin, headers: { 'Content-Type': 'application/json' } });
    assert.equal(r.status, 400, `${JSON.stringify(extra).slice(0, 80)}: ${r.status} ${r.text}`);
    assert.ok(r.json?.error?.includes(field), `${field}: ${r.text}`);
  }
  // JSON that is not JSON: NaN / Infinity literals, deep nesting, a huge number as a string
  for (const body of ['{"type":"height","location":[NaN,36]}', '{"type":"height","location":[Infinity,36]}',
    '['.repeat(5000) + ']'.repeat(5000), `{"type":"height","location":[${'9'.repeat(400)},36]}`]) {
    const r = await d.post('/api/v1/permits', body, { token: tok.admin, headers: { 'Content-Type': 'application/json' } });
    assert.ok(r.status === 400 || r.status === 413, `${body.slice(0, 40)}: ${r.status} ${r.text}`);
  }
  // a NUL in a string is refused (cJSON would cut the string there: "E1\u0000x" read as "E1")
  for (const extra of [{ enterprise: 'E1\u0000E2' }, { workers: ['ok', 'bad\u0000'] }, { leader: '\u0000' }]) {
    const r = await d.post('/api/v1/permits', permit('E1', extra), { token: tok.admin });
    assert.equal(r.status, 400, `${JSON.stringify(extra)}: ${r.status} ${r.text}`);
    assert.match(r.json.error, /u0000/);
  }
  // analyses on a stale (cancelled) permit, and transitions it no longer allows
  const p = await d.post('/api/v1/permits', permit('E1'), { token: tok.admin });
  assert.equal(p.status, 201, p.text);
  assert.equal((await d.post(`/api/v1/permits/${p.json.id}/cancel`, {}, { token: tok.admin })).status, 200);
  for (const a of ['start', 'pause', 'resume', 'complete', 'cancel']) {
    const r = await d.post(`/api/v1/permits/${p.json.id}/${a}`, {}, { token: tok.admin });
    assert.equal(r.status, 409, `${a} after cancel: ${r.status} ${r.text}`);
  }
  const an = await d.post(`/api/v1/permits/${p.json.id}/analyses`, { at: iso(Date.now()), gas: 'o2', value: 20.9, unit: '%' }, { token: tok.admin });
  assert.ok(an.status === 409 || an.status === 404, `analysis on a cancelled permit: ${an.status} ${an.text}`);
  // a spot check's text: no control characters (it goes into a work order, the page, the logs)
  const spot = await d.post('/api/v1/permits', permit('E1'), { token: tok.admin });
  for (const text of ['\u001b[31mred', 'bell\u0007', 'x\u007f']) {
    const r = await d.post(`/api/v1/permits/${spot.json.id}/spotcheck`, { result: 'problem', text }, { token: tok.sup });
    assert.equal(r.status, 400, `${JSON.stringify(text)}: ${r.status} ${r.text}`);
    assert.match(r.json.error, /^text/);
  }
  const sp = await d.post(`/api/v1/permits/${spot.json.id}/spotcheck`, { result: 'ok', text: '现场检查\n正常' }, { token: tok.sup });
  assert.ok(sp.status !== 400 && sp.status < 500, `${sp.status} ${sp.text}`);
  // analyses are added all or none: 31 of 32, then two more is refused and adds nothing
  const full = await d.post('/api/v1/permits', permit('E1'), { token: tok.admin });
  assert.equal(full.status, 201, full.text);
  const gas = (i) => ({ at: iso(Date.now() - i * 1000), gas: 'o2', value: 20.9, unit: '%', analyst: `A${i}` });
  let ar = await d.post(`/api/v1/permits/${full.json.id}/analyses`, Array.from({ length: 31 }, (_, i) => gas(i)), { token: tok.admin });
  assert.equal(ar.status, 201, ar.text);
  ar = await d.post(`/api/v1/permits/${full.json.id}/analyses`, [gas(40), gas(41)], { token: tok.admin });
  assert.equal(ar.status, 409, ar.text);
  assert.equal((await d.get(`/api/v1/permits/${full.json.id}`, { token: tok.admin })).json.analyses.length, 31, 'nothing of the refused pair was added');
  ar = await d.post(`/api/v1/permits/${full.json.id}/analyses`, gas(42), { token: tok.admin });
  assert.equal(ar.status, 201, ar.text);
  assert.equal(ar.json.analyses.length, 32);
  // unicode text round-trips
  const u = await d.post('/api/v1/permits', permit('E1', { leader: '张三 🔥 ﷽', workers: ['李四', 'Ünïcødé'] }), { token: tok.admin });
  assert.equal(u.status, 201, u.text);
  const g = await d.get(`/api/v1/permits/${u.json.id}`, { token: tok.admin });
  assert.equal(g.json.leader, '张三 🔥 ﷽');
  assert.deepEqual(g.json.workers, ['李四', 'Ünïcødé']);
  const after = (await d.get('/api/v1/permits?limit=10000', { token: tok.admin })).json.length;
  assert.equal(after, before + 4, 'only the four good permits were filed');
  // query parameters out of range
  for (const q of ['stats?from=9999-99-99', 'stats?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z', 'spotchecks?date=9999-99-99',
    'spotchecks?date=2026-02-31x', '?limit=0', '?limit=99999999999999999999', '?state=x%00', '?type=' + 'x'.repeat(5000), '?active=2']) {
    const r = await d.get(`/api/v1/permits${q.startsWith('?') ? '' : '/'}${q}`, { token: tok.admin });
    assert.equal(r.status, 400, `${q.slice(0, 40)}: ${r.status} ${r.text}`);
  }
  await alive('hostile permit input');
});

test('permits: batches — too many, a foreign row, and atomic; CSV with formulas and binary', async () => {
  const count = async () => (await d.get('/api/v1/permits?limit=10000', { token: tok.admin })).json.length;
  const n0 = await count();
  let r = await d.post('/api/v1/permits', Array.from({ length: 1001 }, () => permit('E1')), { token: tok.admin });
  assert.equal(r.status, 413, r.text);
  r = await d.post('/api/v1/permits?atomic=1', [permit(), permit('E2')], { token: tok.ent1 });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.filed, 0);
  r = await d.post('/api/v1/permits?atomic=maybe', [permit()], { token: tok.ent1 });
  assert.equal(r.status, 400, r.text);
  assert.equal(await count(), n0, 'nothing filed');
  const head = 'type,enterprise,lon,lat,planned_start,planned_end\n';
  for (const body of [head + `height,E1,nan,36.18,${iso(Date.now() + 6e4)},${iso(Date.now() + 36e5)}\n`,
    head + `height,E1,inf,36.18,${iso(Date.now() + 6e4)},${iso(Date.now() + 36e5)}\n`,
    head + `height,E1,1e999,36.18,${iso(Date.now() + 6e4)},${iso(Date.now() + 36e5)}\n`,
    head + `"height,E1,118,36.18\n`, head + '\u0000\u0001\u0002,,,,,\n', 'x'.repeat(100) + '\n' + 'y,'.repeat(100000)]) {
    r = await d.post('/api/v1/permits/import?atomic=1', body, { token: tok.admin, headers: { 'Content-Type': 'text/csv' } });
    assert.ok(r.status >= 400 && r.status < 500, `${JSON.stringify(body.slice(head.length, head.length + 30))}: ${r.status} ${r.text.slice(0, 300)}`);
  }
  // (the headers only: the server answers 413 from them and closes)
  const big = { length: 5 << 20 };
  const st = await raw(d.ports.http, `POST /api/v1/permits/import HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tok.admin}\r\nContent-Type: text/csv\r\nContent-Length: ${big.length}\r\n\r\n`);
  assert.equal(st, 413);
  assert.equal(await count(), n0, 'nothing filed');
  await alive('hostile batches');
});

test('permits: 60 concurrent filings by two enterprises and the park all land once, with distinct ids', async () => {
  const n0 = (await d.get('/api/v1/permits?limit=10000', { token: tok.admin })).json.length;
  const who = ['ent1', 'ent2', 'admin'];
  const rs = await Promise.all(Array.from({ length: 60 }, (_, i) => {
    const w = who[i % 3];
    return d.post('/api/v1/permits', i % 5 ? permit(w === 'admin' ? 'E1' : undefined, { leader: `L${i}` }) : [permit(w === 'admin' ? 'E2' : undefined, { leader: `L${i}` })], { token: tok[w] });
  }));
  for (const r of rs) assert.ok(r.status === 201, `${r.status} ${r.text}`);
  const ids = rs.map((r) => r.json.id || r.json.results[0].id);
  assert.equal(new Set(ids).size, 60, 'distinct ids');
  const list = (await d.get('/api/v1/permits?limit=10000', { token: tok.admin })).json;
  assert.equal(list.length, n0 + 60);
  for (let i = 0; i < 60; i++) {
    const p = list.find((x) => x.id === ids[i]);
    assert.ok(p, ids[i]);
    assert.equal(p.leader, `L${i}`);
    const w = who[i % 3];
    assert.equal(p.enterprise, w === 'ent2' || (w === 'admin' && i % 5 === 0) ? 'E2' : 'E1', `${ids[i]} of ${w}`);
  }
  await alive('concurrent filings');
});

test('incidents: hostile ids and parameters answer 4xx; close is the park\'s', async () => {
  for (const id of ['INC-99999999999999999999', 'INC--1', 'INC-0', 'INC-', 'INC-1e3', '-1', 'PT-000001', 'INC-0000001x']) {
    const g = await d.get(`/api/v1/incidents/${id}`, { token: tok.admin });
    assert.equal(g.status, 404, `GET ${id}: ${g.status} ${g.text}`);
    const c = await d.post(`/api/v1/incidents/${id}/close`, { reason: 'x' }, { token: tok.admin });
    assert.equal(c.status, 404, `close ${id}: ${c.status} ${c.text}`);
  }
  for (const who of ['ent1', 'e1tok', 'viewer', 'aj', 'regulator']) {
    const c = await d.post('/api/v1/incidents/INC-000001/close', { reason: 'x' }, { token: tok[who] });
    assert.equal(c.status, 403, `${who} close: ${c.status}`);
  }
  for (const q of ['state=x%00', 'state=OPEN', 'limit=0', 'limit=-1', 'limit=99999999999999999999', 'limit=1e3', 'limit=', 'state=' + 'x'.repeat(100000)]) {
    const r = await d.get(`/api/v1/incidents?${q}`, { token: tok.admin });
    assert.ok(r.status === 400 || r.status === 414 || r.status === 431, `?${q.slice(0, 30)}: ${r.status} ${r.text.slice(0, 200)}`);
  }
  for (const body of ['{"reason":' + '"x",'.repeat(10) + '}', '{"reason":5}', '[]', '{"reason":"' + 'x'.repeat(501) + '"}', '['.repeat(100000)]) {
    const r = await d.post('/api/v1/incidents/INC-000001/close', body, { token: tok.admin, headers: { 'Content-Type': 'application/json' } });
    assert.ok(r.status === 400 || r.status === 404 || r.status === 413, `${body.slice(0, 20)}: ${r.status} ${r.text}`);
  }
  // control characters and broken UTF-8 in the reason are refused before anything is looked up
  for (const reason of ['\u001b[2J\u001b[H fake', 'a\u0000b', 'bell\u0007', 'del\u007f']) {
    const r = await d.post('/api/v1/incidents/INC-000001/close', { reason }, { token: tok.admin });
    assert.equal(r.status, 400, `${JSON.stringify(reason)}: ${r.status} ${r.text}`);
  }
  const bad8 = Buffer.concat([Buffer.from('{"reason":"'), Buffer.from([0xff, 0xfe, 0x41]), Buffer.from('"}')]);
  const r8 = await d.req('POST', '/api/v1/incidents/INC-000001/close', { token: tok.admin, body: new Uint8Array(bad8), headers: { 'Content-Type': 'application/json' } });
  assert.equal(r8.status, 400, r8.text);
  const l = await d.get('/api/v1/incidents', { token: tok.ent1 });
  assert.equal(l.status, 200, l.text);
  await alive('hostile incident requests');
});

test('listings: only the park lists and lifts; an enterprise sees its own listings only; stale and overflowing ids', async () => {
  const e2 = await d.post('/api/v1/listings', { unit: 'E2', basis: 'other', reason: '重大隐患整改不力' }, { token: tok.sup });
  assert.equal(e2.status, 201, e2.text);
  const e1 = await d.post('/api/v1/listings', { unit: 'E1', basis: 'other', reason: '甲' }, { token: tok.sup });
  assert.equal(e1.status, 201, e1.text);
  for (const who of ['ent1', 'e1tok', 'viewer', 'aj', 'regulator']) {
    const c = await d.post('/api/v1/listings', { unit: 'E1', basis: 'other', reason: 'x' }, { token: tok[who] });
    assert.equal(c.status, 403, `${who} list: ${c.status}`);
    const l = await d.post(`/api/v1/listings/${e2.json.id}/lift`, { text: 'x' }, { token: tok[who] });
    assert.equal(l.status, 403, `${who} lift: ${l.status}`);
  }
  for (const who of ['ent1', 'e1tok']) {
    const r = await d.get('/api/v1/listings', { token: tok[who] });
    assert.equal(r.status, 200, r.text);
    const units = (Array.isArray(r.json) ? r.json : r.json.listings || []).map((x) => x.unit);
    assert.ok(units.includes('E1') && !units.includes('E2'), `${who}: ${r.text}`);
    assert.ok(!r.text.includes('重大隐患整改不力'), r.text);
  }
  for (const body of [{ unit: 'HB', basis: 'nonsense', reason: 'x' }, { unit: 'HB', basis: 'other', reason: '' },
    { unit: 'HB', basis: 'other', reason: 'x\u0001y' }, { unit: 'HB', basis: 'other', reason: 'x\u0000y' }, { unit: 'HB', basis: 'other', reason: 'x'.repeat(100000) },
    { unit: 'HB', basis: 'major_hazard', reason: 'x', hazard_id: 1e300 }, { unit: 'HB', basis: 'major_hazard', reason: 'x', hazard_id: -1 },
    { unit: 'HB', basis: 'other', reason: 'x', due_at: '9999-99-99T00:00:00Z' }, { unit: 'HB', basis: 'other', reason: 'x', due_at: '2000-01-01T00:00:00Z' },
    { unit: 'E1\n', basis: 'other', reason: 'x' }, { unit: 5, basis: 'other', reason: 'x' }]) {
    const r = await d.post('/api/v1/listings', body, { token: tok.sup });
    assert.ok(r.status === 400 || r.status === 404 || r.status === 413, `${JSON.stringify(body).slice(0, 80)}: ${r.status} ${r.text}`);
  }
  for (const id of ['99999999999999999999', '-1', '0', 'abc', '1e3', '9223372036854775807']) {
    const r = await d.post(`/api/v1/listings/${id}/lift`, { text: 'x' }, { token: tok.sup });
    assert.ok(r.status === 404 || r.status === 400, `lift ${id}: ${r.status} ${r.text}`);
  }
  assert.equal((await d.post(`/api/v1/listings/${e1.json.id}/lift`, { text: '已整改' }, { token: tok.sup })).status, 200);
  const again = await d.post(`/api/v1/listings/${e1.json.id}/lift`, { text: '再次' }, { token: tok.sup });
  assert.equal(again.status, 409, `a second lift: ${again.status} ${again.text}`);
  const active = (await d.get('/api/v1/listings?active=1', { token: tok.sup })).json;
  const act = (Array.isArray(active) ? active : active.listings || []).map((x) => x.id);
  assert.ok(act.includes(e2.json.id) && !act.includes(e1.json.id), JSON.stringify(active));
  await alive('hostile listings');
});

// A CSV cell a spreadsheet would run as a formula: one that begins with = + - @ (or a tab or CR,
// which some strip before looking), bare or inside quotes.
const formulaCells = (csv) => {
  const cells = [];
  for (const line of csv.split('\r\n'))
    for (const m of line.matchAll(/(?:^|,)("(?:[^"]|"")*"|[^,]*)/g)) {
      const c = m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1];
      if (/^[=+\-@\t\r]/.test(c) && !/^-?\d+(\.\d+)?$/.test(c)) cells.push(c);
    }
  return cells;
};

test('the supervision report: roles, bad periods, a 10 MB period, and no formula cells in its CSV', async () => {
  // orders for the units whose names are formulas, so that they are in the report's tables
  for (const [unit, kind] of [['E2', 'enterprise'], ['AJ', 'department'], ['HB', 'department']]) {
    const r = await d.post('/api/v1/workorders', { title: FORMULAS[0], description: FORMULAS[1], priority: 'P3', [kind]: unit }, { token: tok.admin });
    assert.equal(r.status, 201, `${unit}: ${r.text}`);
  }
  const month = new Date(Date.now() + 8 * 3600000).toISOString().slice(0, 7);
  for (const [who, want] of [['admin', 200], ['sup', 200], ['regulator', 200], ['ent1', 403], ['e1tok', 403], ['viewer', 403], ['aj', 403], [null, 401]]) {
    const r = await d.get(`/api/v1/reports/supervision?period=${month}`, { token: who ? tok[who] : undefined });
    assert.equal(r.status, want, `${who}: ${r.status} ${r.text.slice(0, 200)}`);
  }
  for (const p of ['9999-99', '2026-13', '2026-00', '2026-Q5', '2026-Q0', '1999', '3000',  '2026-1', '-2026', '2026-11x', '２０２６', '2026-11-01', '']) {
    const r = await d.get(`/api/v1/reports/supervision?period=${p}`, { token: tok.admin });
    assert.equal(r.status, 400, `period ${p}: ${r.status} ${r.text.slice(0, 200)}`);
  }
  assert.equal((await d.get(`/api/v1/reports/supervision?period=${month}&format=xml`, { token: tok.admin })).status, 400);
  // 10 MB of period: refused by the server's request-size bound, never a crash
  const st = await raw(d.ports.http, `GET /api/v1/reports/supervision?period=${'9'.repeat(10 << 20)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tok.admin}\r\n\r\n`);
  assert.ok(st === 0 || (st >= 400 && st < 500), `10 MB period: ${st}`);
  await alive('a 10 MB period');
  const csv = await d.get(`/api/v1/reports/supervision?period=${month}&format=csv`, { token: tok.admin });
  assert.equal(csv.status, 200, csv.text);
  assert.match(csv.headers.get('content-disposition'), new RegExp(`supervision-${month}\\.csv`));
  for (const name of [FORMULAS[0], FORMULAS[2], FORMULAS[3]])
    assert.ok(csv.text.includes(name.replace(/"/g, '""')), `the name ${name} is in the CSV (so the check below means something):\n${csv.text}`);
  assert.deepEqual(formulaCells(csv.text), [], csv.text);
  // the JSON keeps the names as they are
  const js = await d.get(`/api/v1/reports/supervision?period=${month}`, { token: tok.admin });
  assert.ok(js.text.includes(JSON.stringify(FORMULAS[0]).slice(1, -1)), js.text.slice(0, 500));
  await alive('the report');
});

test('gathering places: hostile imports are 400 naming the place; the CSV export has no formula cells and round-trips', async () => {
  const exp0 = await d.get('/api/v1/gathering_places?format=csv', { token: tok.admin });
  assert.equal(exp0.status, 200, exp0.text);
  assert.deepEqual(formulaCells(exp0.text), [], exp0.text);
  // the export imports back to the same places
  let r = await d.post('/api/v1/model/import?csv=gathering_places', exp0.text, { token: tok.admin, headers: { 'Content-Type': 'text/csv' } });
  assert.equal(r.status, 200, r.text);
  let list = (await d.get('/api/v1/gathering_places', { token: tok.admin })).json;
  assert.equal(list.length, 1);
  assert.equal(list[0].name, FORMULAS[1]);
  assert.equal(list[0].phone, '+8605331234567');
  const head = 'id,name,kind,class,lon,lat,people,phone\r\n';
  for (const row of ['GP-2,x,canteen,5,118.17,36.18,1,', 'GP-2,x,canteen,2,nan,36.18,1,', 'GP-2,x,canteen,2,118.17,1e999,1,',
    'GP-2,x,canteen,2,118.17,36.18,-1,', 'GP-2,x,canteen,2,118.17,36.18,1e99,', 'GP-2,x,disco,2,118.17,36.18,1,',
    'GP-2,"x\u0000y",canteen,2,118.17,36.18,1,', 'GP-2,"x\ny\u001b[2J",canteen,2,118.17,36.18,1,', 'GP 2,x,canteen,2,118.17,36.18,1,',
    'GP-2,x,canteen,2.5,118.17,36.18,1,', 'GP-2,x,canteen,2,118.17,,1,', 'GP-2,x,canteen,2,118.17,36.18,1,=1+1']) {
    r = await d.post('/api/v1/model/import?csv=gathering_places', head + row + '\r\n', { token: tok.admin, headers: { 'Content-Type': 'text/csv' } });
    assert.equal(r.status, 400, `${JSON.stringify(row)}: ${r.status} ${r.text}`);
  }
  for (const g of [{ id: 'GP-3', name: 'x', kind: 'school', class: 1, location: [118.17, 36.18], extra: 1 },
    { id: 'GP-3', name: 'x', kind: 'school', class: '1', location: [118.17, 36.18] },
    { id: 'GP-3', name: 'x', kind: 'school', class: 1, location: [118.17] },
    { id: 'GP-3', name: 'x', kind: 'school', class: 1, location: { lon: 1, lat: 2 } },
    { id: 'GP-3', name: 'x'.repeat(100000), kind: 'school', class: 1, location: [118.17, 36.18] },
    'GP-3', null]) {
    const body = `{"version":1,"gathering_places":[${JSON.stringify(g)}]}`;
    r = await d.post('/api/v1/model/import', body, { token: tok.admin, headers: { 'Content-Type': 'application/json' } });
    assert.equal(r.status, 400, `${body.slice(0, 100)}: ${r.status} ${r.text}`);
    assert.match(r.json.error, /gathering_places/, r.text);
  }
  list = (await d.get('/api/v1/gathering_places', { token: tok.admin })).json;
  assert.deepEqual(list.map((g) => g.id), ['GP-1'], 'the bad imports changed nothing');
  await alive('gathering place imports');
});

test('a daemon killed in the middle of a 1,000-permit batch keeps what it acknowledged and files again', async () => {
  const acked = (await d.get('/api/v1/permits?limit=10000', { token: tok.admin })).json.map((p) => p.id).sort();
  const body = JSON.stringify(Array.from({ length: 1000 }, (_, i) => permit('E1', { leader: `K${i}` })));
  // send the batch raw and kill the daemon as soon as the body is out
  const sent = new Promise((resolve) => {
    const s = net.connect(d.ports.http, '127.0.0.1', () => {
      s.write(`POST /api/v1/permits HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tok.admin}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, () => resolve(s));
    });
    s.on('error', () => {});
  });
  (await sent).on('data', () => {});
  await sleep(20);
  await d.restart('SIGKILL');
  tok.admin = await d.login();
  const list = (await d.get('/api/v1/permits?limit=10000', { token: tok.admin })).json;
  const ids = list.map((p) => p.id);
  for (const id of acked) assert.ok(ids.includes(id), `acknowledged ${id} survived`);
  const fresh = list.filter((p) => /^K\d+$/.test(p.leader));
  // the batch is one transaction: all of it or none of it
  assert.ok(fresh.length === 0 || fresh.length === 1000, `${fresh.length} of the batch survived`);
  assert.equal(new Set(ids).size, ids.length, 'no id twice');
  const p = await d.post('/api/v1/permits', permit('E1'), { token: tok.admin });
  assert.equal(p.status, 201, p.text);
  assert.ok(!ids.includes(p.json.id), 'a fresh id after the crash');
  await alive('a kill mid-batch');
});
