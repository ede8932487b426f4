// Supervision beyond the single order, over the wire: a 二级 alarm joining the group of an open P2
// order raises it to P1; a park-owned detector's alarm opens its order for the department
// workorders.park_routes names; 挂牌督办 (list, board, lift) by the park only; the regulator's
// report (JSON and CSV) for the park's roles and the regulator, refused to the others.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Daemon, DATA, BIN, freePort, until } from './harness.mjs';

let d, tmp;
const tok = {};

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'pw-wor-'));
  const park = JSON.parse(readFileSync(path.join(DATA, 'small-park.json'), 'utf8'));
  for (const dev of park.devices) if (dev.modbus) dev.modbus.port = 9;
  park.departments = [{ id: 'AJ', name: '园区安监局', kind: '安监' }, { id: 'HB', name: '环保分局', kind: '环保' }];
  // a park-owned combustible gas detector (public pipe rack): no enterprise, no area
  const gd = structuredClone(park.devices.find((x) => x.id === 'E1-GD-001'));
  Object.assign(gd, { id: 'P-GD-001', name: '公共管廊可燃气体探测器', enterprise: undefined, area: undefined });
  gd.points[0].id = 'P-GD-001-P';
  gd.points[0].series = 'gas_concentration{device="P-GD-001"}';
  park.devices.push(gd);
  const model = path.join(tmp, 'park.json');
  writeFileSync(model, JSON.stringify(park));
  d = await new Daemon({ model, set: ['workorders.unacked_after=1s', 'workorders.p1_sign=30s',
    'workorders.p1_rectify=1h', 'workorders.p2_sign=10m', 'workorders.p2_rectify=2h'] }).start();
  tok.admin = await d.login();
  for (const u of [
    { name: 'sup', password: 'sup-password', role: 'supervisor' },
    { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' },
    { name: 'aj', password: 'aj-password', role: 'department', department: 'AJ' },
    { name: 'viewer', password: 'viewer-password', role: 'viewer' },
  ]) {
    const r = await d.post('/api/v1/users', u, { token: tok.admin });
    assert.equal(r.status, 201, r.text);
    tok[u.name] = await d.login(u.name, u.password);
  }
  const reg = await d.post('/api/v1/tokens', { name: 'regulator-tool', role: 'regulator' }, { token: tok.admin });
  assert.equal(reg.status, 201, reg.text);
  tok.regulator = reg.json.token;
});
after(async () => { await d.stop(); rmSync(tmp, { recursive: true, force: true }); });

test('a 二级 alarm raises the open P2 order of its group to P1; park-owned alarms go to a department', async () => {
  // 一级, left unacknowledged for 1 s → a P2 order
  let r = await d.post('/write?precision=ms', `gas,device=E1-GD-001 concentration=30 ${Date.now()}`);
  assert.equal(r.status, 204, r.text);
  const p2 = await until(async () => {
    const l = await d.get('/api/v1/workorders?state=open&enterprise=E1', { token: tok.sup });
    return l.json && l.json.find((o) => o.source === 'alarm');
  }, { what: 'a P2 order for the unacknowledged 一级 alarm' });
  assert.equal(p2.priority, 'P2');
  assert.equal(Date.parse(p2.due_at) - Date.parse(p2.dispatched_at), 2 * 3600 * 1000);
  // the same detector reaches 二级: the order is raised, no second order
  r = await d.post('/write?precision=ms', `gas,device=E1-GD-001 concentration=60 ${Date.now()}`);
  assert.equal(r.status, 204, r.text);
  const raised = await until(async () => {
    const o = (await d.get(`/api/v1/workorders/${p2.id}`, { token: tok.sup })).json;
    return o && o.priority === 'P1' && o;
  }, { what: 'the order raised to P1' });
  assert.equal(Date.parse(raised.due_at) - Date.parse(raised.dispatched_at), 3600 * 1000);
  assert.equal(Date.parse(raised.sign_due_at) - Date.parse(raised.dispatched_at), 30 * 1000);
  const h = raised.history.find((x) => x.action === 'raise');
  assert.ok(h && /P2 → P1/.test(h.text), JSON.stringify(raised.history));
  const all = (await d.get('/api/v1/workorders?enterprise=E1', { token: tok.sup })).json;
  assert.equal(all.filter((o) => o.source === 'alarm').length, 1);
  // a park-owned detector's 二级 alarm → a P1 order for 安监 (default routes: *=安监)
  r = await d.post('/write?precision=ms', `gas,device=P-GD-001 concentration=70 ${Date.now()}`);
  assert.equal(r.status, 204, r.text);
  const po = await until(async () => {
    const l = await d.get('/api/v1/workorders?state=open', { token: tok.aj });
    return l.json && l.json.find((o) => o.source === 'alarm');
  }, { what: 'an order for the department' });
  assert.equal(po.department, 'AJ');
  assert.equal(po.enterprise, null);
  assert.equal(po.priority, 'P1');
  // the department signs it
  r = await d.post(`/api/v1/workorders/${po.id}/sign`, {}, { token: tok.aj });
  assert.equal(r.status, 200, r.text);
});

// The event stream of a token, collected until close(): [{event, json}].
async function stream(token) {
  const ctrl = new AbortController();
  const res = await fetch(`${d.base}/api/v1/events`, { headers: { Authorization: `Bearer ${token}` }, signal: ctrl.signal });
  assert.equal(res.status, 200);
  const events = [];
  (async () => {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          const ev = {};
          for (const line of block.split('\n')) { const m = /^(event|data): ?(.*)$/.exec(line); if (m) ev[m[1]] = m[2]; }
          if (ev.event === 'workorder') events.push(JSON.parse(ev.data));
        }
      }
    } catch { /* aborted */ }
  })();
  return { events, close: () => ctrl.abort() };
}

test('挂牌督办: the park lists and lifts, the board shows it, others may not', async () => {
  // boards reload on work-order events: a listing made or lifted is one (the park and the unit see it)
  const park = await stream(tok.sup), e1 = await stream(tok.ent1), aj = await stream(tok.aj);
  let r = await d.post('/api/v1/listings', { unit: 'E1', basis: 'repeat_overdue', reason: '多次超期' }, { token: tok.ent1 });
  assert.equal(r.status, 403, r.text);
  r = await d.post('/api/v1/listings', { unit: 'E1', basis: 'repeat_overdue' }, { token: tok.sup });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error, /reason/);
  r = await d.post('/api/v1/listings', { unit: 'NOPE', basis: 'other', reason: 'x' }, { token: tok.sup });
  assert.equal(r.status, 404, r.text);
  r = await d.post('/api/v1/listings', { unit: 'E1', basis: 'repeat_overdue', reason: '多次超期' }, { token: tok.sup });
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  r = await d.post('/api/v1/listings', { unit: 'E1', basis: 'repeat_overdue', reason: 'again' }, { token: tok.sup });
  assert.equal(r.status, 409, r.text);
  // a 重大 hazard listing: only for an open 重大 hazard
  const hz = await d.post('/api/v1/hazards', { enterprise: 'E2', title: '罐区防火堤缺失', grade: '一般' }, { token: tok.sup });
  assert.equal(hz.status, 201, hz.text);
  r = await d.post('/api/v1/listings', { basis: 'major_hazard', hazard_id: hz.json.id, reason: '挂牌' }, { token: tok.sup });
  assert.equal(r.status, 409, r.text);
  // the board (public view too) and the enterprise's own listing
  const board = (await d.get('/api/v1/board?public=1', { token: tok.viewer })).json;
  assert.equal(board.units.find((u) => u.unit === 'E1').listed, true);
  assert.equal(board.units.find((u) => u.unit === 'E2').listed, false);
  const mine = (await d.get('/api/v1/listings', { token: tok.ent1 })).json;
  assert.deepEqual(mine.listings.map((l) => l.unit), ['E1']);
  assert.deepEqual(mine.candidates, []);
  // lifting needs the park and a reason
  r = await d.post(`/api/v1/listings/${id}/lift`, { text: '整改到位' }, { token: tok.ent1 });
  assert.equal(r.status, 403, r.text);
  r = await d.post(`/api/v1/listings/${id}/lift`, {}, { token: tok.sup });
  assert.equal(r.status, 400, r.text);
  r = await d.post(`/api/v1/listings/${id}/lift`, { text: '整改到位' }, { token: tok.sup });
  assert.equal(r.status, 200, r.text);
  const active = (await d.get('/api/v1/listings?active=1', { token: tok.sup })).json;
  assert.equal(active.listings.length, 0);
  const kinds = (s) => s.events.filter((e) => e.listing).map((e) => `${e.event} ${e.listing.id} ${e.listing.unit} ${e.user} ${e.listing.active}`);
  await until(() => kinds(park).length === 2 && kinds(e1).length === 2, { what: 'listing events' });
  assert.deepEqual(kinds(park), [`listed ${id} E1 sup true`, `lifted ${id} E1 sup false`]);
  assert.deepEqual(kinds(e1), kinds(park));
  const listed = park.events.find((e) => e.event === 'listed');
  assert.equal(listed.level, -1);
  assert.equal(listed.listing.basis, 'repeat_overdue');
  assert.equal(listed.listing.reason, '多次超期');
  assert.deepEqual(kinds(aj), []); // another unit's listing is not a department's business
  for (const s of [park, e1, aj]) s.close();
});

test('the regulator\'s report: JSON and CSV for the park and the regulator only', async () => {
  const now = new Date(Date.now() + 8 * 3600 * 1000);
  const month = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  const q = `${now.getUTCFullYear()}-Q${Math.floor(now.getUTCMonth() / 3) + 1}`;
  let r = await d.get(`/api/v1/reports/supervision?period=${month}`, { token: tok.regulator });
  assert.equal(r.status, 200, r.text);
  const rep = r.json;
  assert.equal(rep.period.label, month);
  assert.equal(rep.period.partial, true);
  assert.ok(rep.orders.dispatched >= 2, JSON.stringify(rep.orders));
  assert.ok(rep.orders.by_source.alarm >= 2);
  assert.ok(rep.orders.by_priority.P1 >= 2);
  assert.ok(rep.enterprises.find((e) => e.unit === 'E1').dispatched >= 1);
  assert.equal(rep.departments.find((e) => e.unit === 'AJ').signed, 1);
  assert.ok(rep.hazards.found.general >= 1);
  assert.ok(rep.activity.actions.raise >= 1);
  // the quarter holds the month
  r = await d.get(`/api/v1/reports/supervision?period=${q}`, { token: tok.sup });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.orders.dispatched, rep.orders.dispatched);
  // CSV
  r = await d.get(`/api/v1/reports/supervision?period=${month}&format=csv`, { token: tok.admin });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'] || r.headers.get?.('content-type') || '', /text\/csv/);
  assert.match(r.text, new RegExp(`orders\\.dispatched,${rep.orders.dispatched}\\r\\n`));
  assert.match(r.text, /\r\nenterprises\r\nunit,name,dispatched,/);
  // refused: enterprise, department, viewer; bad periods
  for (const who of ['ent1', 'aj', 'viewer']) {
    r = await d.get(`/api/v1/reports/supervision?period=${month}`, { token: tok[who] });
    assert.equal(r.status, 403, `${who}: ${r.text}`);
  }
  for (const p of ['2026-13', '2026-Q0', 'now', '']) {
    r = await d.get(`/api/v1/reports/supervision?period=${p}`, { token: tok.sup });
    assert.equal(r.status, 400, `${p}: ${r.text}`);
    assert.match(r.json.error, /period/);
  }
});

test('a malformed workorders.park_routes stops the daemon at start, naming the key', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-wor-bad-'));
  const port = await freePort();
  const r = spawnSync(BIN, ['serve', '--data', dir, '--set', `http.listen=127.0.0.1:${port}`,
    '--set', 'hj212.listen=', '--set', 'jt808.listen=', '--set', 'mqtt.broker=',
    '--set', 'workorders.park_routes=env_station'], { encoding: 'utf8', timeout: 15000 });
  rmSync(dir, { recursive: true, force: true });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /workorders\.park_routes/);
});
