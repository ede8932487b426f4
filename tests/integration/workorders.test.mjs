// Work orders over the wire: a gas alarm at level 二级 opens an order automatically; the
// enterprise signs, rectifies with evidence (raw body and multipart, type-checked by content),
// submits; the park returns it, the enterprise resubmits, the park accepts: closed, with its full
// history — and all of it survives kill -9. Scope and roles through the one dispatcher (every
// role on one edge), departments, the board, and an escalation that came due while the daemon
// was down firing once after it starts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, DATA, sleep, until } from './harness.mjs';

let d, tmp;
const tok = {};
const PNG = Buffer.from('89504e470d0a1a0a0000000d494844520000000100000001080600000000', 'hex');
const PDF = Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n');

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'pw-wo-'));
  const park = JSON.parse(readFileSync(path.join(DATA, 'small-park.json'), 'utf8'));
  park.departments = [{ id: 'AJ', name: '园区安监局', kind: '安监' }, { id: 'XF', name: '消防站', kind: '消防' }];
  const model = path.join(tmp, 'park.json');
  writeFileSync(model, JSON.stringify(park));
  d = await new Daemon({ model, set: ['workorders.p1_sign=30s', 'workorders.p1_rectify=1h',
    'workorders.reminder_lead=1s', 'workorders.l2_after_p1=1h', 'workorders.l3_after_p1=2h'] }).start();
  tok.admin = await d.login();
  for (const u of [
    { name: 'sup', password: 'sup-password', role: 'supervisor' },
    { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' },
    { name: 'ent2', password: 'ent2-password', role: 'enterprise', enterprise: 'E2' },
    { name: 'aj', password: 'aj-password', role: 'department', department: 'AJ' },
    { name: 'xf', password: 'xf-password', role: 'department', department: 'XF' },
    { name: 'viewer', password: 'viewer-password', role: 'viewer' },
  ]) {
    const r = await d.post('/api/v1/users', u, { token: tok.admin });
    assert.equal(r.status, 201, r.text);
    tok[u.name] = await d.login(u.name, u.password);
  }
});
after(async () => { await d.stop(); rmSync(tmp, { recursive: true, force: true }); });

const act = (id, action, who, body = {}) => d.post(`/api/v1/workorders/${id}/${action}`, body, { token: tok[who] });

test('alarm → order → rectify → return → resubmit → accept → closed, durable across kill -9', async () => {
  // a level 二级 combustible gas reading of E1's detector
  const t = Date.now();
  let r = await d.post('/write?precision=ms', `gas,device=E1-GD-001 concentration=60 ${t}`);
  assert.equal(r.status, 204, r.text);
  const order = await until(async () => {
    const l = await d.get('/api/v1/workorders?state=open&priority=P1', { token: tok.admin });
    return l.json && l.json.find((o) => o.source === 'alarm' && o.enterprise === 'E1');
  }, { what: 'an automatic P1 order for E1' });
  assert.equal(order.state, 'dispatched');
  assert.equal(order.priority, 'P1');
  assert.ok(order.alarm_id > 0);
  assert.ok(Date.parse(order.sign_due_at) - Date.parse(order.dispatched_at) === 30000);
  const id = order.id;
  // the same alarm group opens no second order, by hand either
  r = await d.post('/api/v1/workorders', { alarm_id: order.alarm_id }, { token: tok.admin });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.headers.get('x-existing-order'), String(id));

  // scope: E2 and the departments do not see it; the viewer reads but cannot act
  assert.equal((await d.get(`/api/v1/workorders/${id}`, { token: tok.ent2 })).status, 404);
  assert.equal((await d.get(`/api/v1/workorders/${id}`, { token: tok.aj })).status, 404);
  assert.equal((await d.get(`/api/v1/workorders/${id}`, { token: tok.viewer })).status, 200);
  assert.equal((await act(id, 'sign', 'viewer')).status, 403);
  assert.equal((await act(id, 'sign', 'ent2')).status, 404);
  const l2 = await d.get('/api/v1/workorders', { token: tok.ent2 });
  assert.equal(l2.status, 200);
  assert.ok(!l2.json.some((o) => o.id === id));

  // the enterprise signs; the park may not sign; the enterprise may not accept
  r = await act(id, 'sign', 'admin');
  assert.equal(r.status, 409);
  assert.match(r.json.error, /role/);
  r = await act(id, 'sign', 'ent1');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, 'signed');
  assert.equal((await act(id, 'accept', 'ent1')).status, 409);
  assert.equal((await act(id, 'start', 'ent1')).json.state, 'rectifying');

  // evidence: raw body with its type; multipart from a browser; checked by content
  r = await d.post(`/api/v1/workorders/${id}/evidence?filename=site.png`, new Uint8Array(PNG),
    { token: tok.ent1, headers: { 'Content-Type': 'image/png' } });
  assert.equal(r.status, 201, r.text);
  const sha = r.json.sha256;
  assert.match(sha, /^[0-9a-f]{64}$/);
  r = await d.post(`/api/v1/workorders/${id}/evidence`, new Uint8Array(PDF),
    { token: tok.ent1, headers: { 'Content-Type': 'image/jpeg' } });
  assert.equal(r.status, 415, r.text);
  r = await d.post(`/api/v1/workorders/${id}/evidence`, new Uint8Array(Buffer.from('MZ not a photo')),
    { token: tok.ent1, headers: { 'Content-Type': 'image/png' } });
  assert.equal(r.status, 415, r.text);
  const form = new FormData();
  form.append('file', new Blob([PDF], { type: 'application/pdf' }), '整改报告.pdf');
  const res = await fetch(`${d.base}/api/v1/workorders/${id}/evidence`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${tok.ent1}` } });
  assert.equal(res.status, 201, await res.clone().text());
  const pdfSha = (await res.json()).sha256;

  // submit; the park returns it (a reason is required); resubmit; accept
  assert.equal((await act(id, 'submit', 'ent1')).json.state, 'submitted');
  assert.equal((await act(id, 'return', 'admin')).status, 400);
  r = await act(id, 'return', 'admin', { text: '照片看不清阀门' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, 'rectifying');
  assert.equal(r.json.returns, 1);
  assert.equal((await act(id, 'submit', 'ent1')).json.state, 'submitted');
  // a P1 order from an alarm closes only once the alarm is cleared (evidence is attached)
  r = await act(id, 'accept', 'sup');
  assert.equal(r.status, 409);
  assert.match(r.json.error, /cleared/);
  assert.equal((await d.post(`/api/v1/alarms/${order.alarm_id}/clear`, { text: '已处置' }, { token: tok.admin })).status, 200);
  r = await act(id, 'accept', 'sup');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, 'closed');

  // the download is recorded; another enterprise cannot fetch it
  const dl = await fetch(`${d.base}/api/v1/workorders/${id}/evidence/${sha}`, { headers: { Authorization: `Bearer ${tok.admin}` } });
  assert.equal(dl.status, 200);
  assert.equal(dl.headers.get('content-type'), 'image/png');
  assert.deepEqual(Buffer.from(await dl.arrayBuffer()), PNG);
  assert.equal((await d.get(`/api/v1/workorders/${id}/evidence/${sha}`, { token: tok.ent2 })).status, 404);

  // kill -9: everything acknowledged is there
  await d.restart('SIGKILL');
  const g = await d.get(`/api/v1/workorders/${id}`, { token: tok.ent1 });
  assert.equal(g.status, 200);
  assert.equal(g.json.state, 'closed');
  const actions = g.json.history.map((h) => h.action);
  assert.deepEqual(actions.filter((a) => a !== 'evidence'),
    ['dispatch', 'sign', 'start', 'submit', 'return', 'submit', 'accept']);
  assert.equal(actions.filter((a) => a === 'evidence').length, 2);
  assert.equal(g.json.history.find((h) => h.action === 'return').text, '照片看不清阀门');
  assert.deepEqual(g.json.evidence.map((e) => e.sha256).sort(), [sha, pdfSha].sort());
  assert.equal(g.json.evidence.find((e) => e.sha256 === pdfSha).filename, '整改报告.pdf');
});

test('every role on the sign edge, through the dispatcher; departments; requests (吹哨)', async () => {
  let r = await d.post('/api/v1/workorders', { title: '消防通道堵塞', priority: 'P3', department: 'AJ' }, { token: tok.admin });
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  const expect = { admin: 409, sup: 409, ent1: 404, ent2: 404, xf: 404, viewer: 403, aj: 200 };
  for (const [who, status] of Object.entries(expect)) {
    r = await act(id, 'sign', who);
    assert.equal(r.status, status, `${who}: ${r.text}`);
  }
  const me = await d.get('/api/v1/me', { token: tok.aj });
  assert.equal(me.json.role, 'department');
  assert.equal(me.json.department, 'AJ');
  // a department sees what is assigned to it only
  const mine = await d.get('/api/v1/workorders', { token: tok.aj });
  assert.ok(mine.json.every((o) => o.department === 'AJ'));
  assert.ok(mine.json.some((o) => o.id === id));
  assert.equal((await d.get('/api/v1/workorders', { token: tok.xf })).json.length, 0);
  // departments read the park but do not act on alarms
  assert.equal((await d.get('/api/v1/alarms', { token: tok.aj })).status, 200);
  assert.equal((await d.post('/api/v1/alarms/1/ack', {}, { token: tok.aj })).status, 403);
  // an enterprise raises a request to a department, sees it, cannot dispatch to enterprises
  r = await d.post('/api/v1/workorders', { title: '请求安监指导', department: 'AJ' }, { token: tok.ent1 });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.source, 'request');
  assert.equal(r.json.requester, 'ent1');
  assert.equal((await d.get(`/api/v1/workorders/${r.json.id}`, { token: tok.ent1 })).status, 200);
  assert.equal((await d.get(`/api/v1/workorders/${r.json.id}`, { token: tok.ent2 })).status, 404);
  assert.equal((await d.post('/api/v1/workorders', { title: 'x', enterprise: 'E2' }, { token: tok.ent1 })).status, 409);
  // validation names the field
  r = await d.post('/api/v1/workorders', { title: 'x', priority: 'P9', enterprise: 'E1' }, { token: tok.admin });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /priority/);
  r = await d.post('/api/v1/workorders', { title: 'x', enterprise: 'E404' }, { token: tok.admin });
  assert.equal(r.status, 404);
  // departments as JSON and CSV
  assert.equal((await d.get('/api/v1/departments', { token: tok.viewer })).json.length, 2);
  const csv = await d.get('/api/v1/departments?format=csv', { token: tok.viewer });
  assert.match(csv.text, /^id,name,kind,phone\r\nAJ,园区安监局,安监,\r\n/);
});

test('the board: every unit ranked, public view without reasons', async () => {
  const b = await d.get('/api/v1/board', { token: tok.admin });
  assert.equal(b.status, 200);
  const units = b.json.units.map((u) => u.unit).sort();
  assert.deepEqual(units, ['AJ', 'E1', 'E2', 'XF']);
  assert.deepEqual(b.json.units.map((u) => u.rank), [1, 2, 3, 4]);
  const e1 = b.json.units.find((u) => u.unit === 'E1');
  assert.ok(Array.isArray(e1.reasons));
  const again = await d.get('/api/v1/board', { token: tok.admin });
  assert.deepEqual(again.json.units, b.json.units);
  const pub = await d.get('/api/v1/board', { token: tok.viewer });
  assert.ok(pub.json.units.every((u) => u.reasons === undefined && u.colour));
});

test('an escalation due while the daemon was down fires once after it starts', async () => {
  const due = new Date(Date.now() + 2500).toISOString();
  let r = await d.post('/api/v1/workorders', { title: '罐区巡检', priority: 'P2', enterprise: 'E2', due_at: due }, { token: tok.admin });
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  assert.equal(r.json.due_at.slice(0, 19), due.slice(0, 19));
  d.proc.kill('SIGKILL');
  await d.exited;
  await sleep(3500);
  await d.spawn();
  const g = await until(async () => {
    const x = await d.get(`/api/v1/workorders/${id}`, { token: tok.ent2 });
    return x.json.overdue_level >= 1 && x.json;
  }, { what: 'overdue level 1' });
  await sleep(1500); // more ticks: nothing fires again
  const h = (await d.get(`/api/v1/workorders/${id}`, { token: tok.ent2 })).json.history;
  const levels = h.filter((x) => x.action === 'escalated').map((x) => x.detail);
  assert.deepEqual(levels, ['L0', 'L1']);
  assert.equal(g.overdue_level, 1);
  // overdue filter
  const od = await d.get('/api/v1/workorders?overdue=true', { token: tok.admin });
  assert.ok(od.json.some((o) => o.id === id));
  assert.ok(od.json.every((o) => o.overdue_level >= 1));
});

test('hazards and risk points over HTTP: ledger import, 五落实, the hazard order, scope', async () => {
  let r = await d.post('/api/v1/risk-points/import', 'id,name,grade,lon,lat\r\nE1-RP-1,液氯储罐,重大,119.1,34.6\r\nE1-RP-2,仓库,较大,,\r\n',
    { token: tok.ent1, headers: { 'Content-Type': 'text/csv' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.imported, 2);
  r = await d.post('/api/v1/risk-points/import', 'id,name,grade\r\nX,x,紫\r\n', { token: tok.ent1, headers: { 'Content-Type': 'text/csv' } });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /line 2/);
  const rp = await d.get('/api/v1/risk-points', { token: tok.ent1 });
  assert.deepEqual(rp.json.map((p) => p.colour), ['red', 'orange']);
  assert.equal((await d.get('/api/v1/risk-points', { token: tok.ent2 })).json.length, 0);
  r = await d.post('/api/v1/hazards', { title: '防火堤裂缝', grade: '较大', risk_point: 'E1-RP-1' }, { token: tok.ent1 });
  assert.equal(r.status, 201, r.text);
  const id = r.json.id;
  assert.equal(r.json.state, 'graded');
  const deadline = new Date(Date.now() + 10 * 86400000).toISOString();
  r = await d.post(`/api/v1/hazards/${id}/rectify`, { measures: '修补', deadline }, { token: tok.ent1 });
  assert.equal(r.status, 400);
  assert.match(r.json.error, /owner/);
  r = await d.post(`/api/v1/hazards/${id}/rectify`, { measures: '修补', owner: '张三', funds: '5万', interim_plan: '限液位', deadline }, { token: tok.ent1 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, 'rectifying');
  const o = await d.get(`/api/v1/workorders/${r.json.order_id}`, { token: tok.ent1 });
  assert.equal(o.json.hazard_id, id);
  assert.equal(o.json.priority, 'P2');
  assert.equal(o.json.due_at.slice(0, 19), deadline.slice(0, 19));
  assert.equal((await d.post(`/api/v1/hazards/${id}/submit`, {}, { token: tok.ent1 })).json.state, 'pending');
  assert.equal((await d.post(`/api/v1/hazards/${id}/accept`, {}, { token: tok.ent1 })).status, 409);
  assert.equal((await d.get(`/api/v1/hazards/${id}`, { token: tok.ent2 })).status, 404);
  assert.equal((await d.post(`/api/v1/hazards/${id}/accept`, {}, { token: tok.sup })).json.state, 'closed');
  assert.equal((await d.post('/api/v1/hazards', { title: 'x' }, { token: tok.aj })).status, 403);
});

// Collects the `workorder` events of /api/v1/events for one user.
async function woEvents(who) {
  const ctrl = new AbortController();
  const res = await fetch(`${d.base}/api/v1/events`, { headers: { Authorization: `Bearer ${tok[who]}` }, signal: ctrl.signal });
  assert.equal(res.status, 200);
  const out = [];
  (async () => {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev === 'workorder') out.push(JSON.parse(data));
        }
      }
    } catch { /* aborted */ }
  })();
  return { out, close: () => ctrl.abort() };
}

test('work-order events on the event stream, scoped to the enterprise or the department', async () => {
  const park = await woEvents('sup'), ent1 = await woEvents('ent1'), ent2 = await woEvents('ent2'), aj = await woEvents('aj');
  await sleep(300);
  let r = await d.post('/api/v1/workorders', { title: '检查报警仪', priority: 'P3', enterprise: 'E1' }, { token: tok.admin });
  const e1Order = r.json.id;
  r = await d.post('/api/v1/workorders', { title: '道路积水', priority: 'P4', department: 'AJ' }, { token: tok.admin });
  const ajOrder = r.json.id;
  await act(e1Order, 'sign', 'ent1');
  await until(async () => park.out.length >= 3 && ent1.out.length >= 2 && aj.out.length >= 1, { what: 'events', timeout: 5000 });
  await sleep(300);
  const ids = (s) => [...new Set(s.out.map((e) => e.order.id))].sort();
  assert.deepEqual(ids(park), [e1Order, ajOrder].sort());
  assert.deepEqual(ids(ent1), [e1Order]);
  assert.deepEqual(ids(aj), [ajOrder]);
  assert.deepEqual(ids(ent2), []);
  assert.deepEqual(ent1.out.map((e) => e.event), ['created', 'sign']);
  for (const s of [park, ent1, ent2, aj]) s.close();
});

test('every role on reads, comments, evidence, cancel and dispatch (one dispatcher, one table)', async () => {
  const fresh = async () => (await d.post('/api/v1/workorders', { title: '矩阵', priority: 'P3', enterprise: 'E1' }, { token: tok.admin })).json.id;
  const id = await fresh();
  const roles = ['admin', 'sup', 'ent1', 'ent2', 'aj', 'viewer'];
  const expect = {
    get: { admin: 200, sup: 200, ent1: 200, ent2: 404, aj: 404, viewer: 200 },
    comment: { admin: 200, sup: 200, ent1: 200, ent2: 404, aj: 404, viewer: 403 },
    evidence: { admin: 201, sup: 201, ent1: 201, ent2: 404, aj: 404, viewer: 403 },
    cancel: { admin: 200, sup: 200, ent1: 409, ent2: 404, aj: 404, viewer: 403 },
    dispatch: { admin: 201, sup: 201, ent1: 409, ent2: 409, aj: 409, viewer: 403 },
  };
  for (const who of roles) {
    const g = await d.get(`/api/v1/workorders/${id}`, { token: tok[who] });
    assert.equal(g.status, expect.get[who], `get by ${who}`);
    const c = await act(id, 'comment', who, { text: `${who} 看过` });
    assert.equal(c.status, expect.comment[who], `comment by ${who}: ${c.text}`);
    const e = await d.post(`/api/v1/workorders/${id}/evidence`, new Uint8Array(PDF), { token: tok[who], headers: { 'Content-Type': 'application/pdf' } });
    assert.equal(e.status, expect.evidence[who], `evidence by ${who}: ${e.text}`);
    const n = await d.post('/api/v1/workorders', { title: '派发', priority: 'P4', enterprise: 'E2' }, { token: tok[who] });
    assert.equal(n.status, expect.dispatch[who], `dispatch by ${who}: ${n.text}`);
  }
  // cancel last: on its own fresh order per role, so one success does not hide the others
  for (const who of roles) {
    const o = who === 'admin' ? id : await fresh();
    const c = await act(o, 'cancel', who, { text: '撤销' });
    assert.equal(c.status, expect.cancel[who], `cancel by ${who}: ${c.text}`);
  }
  // the list of each role holds only what it may see
  for (const who of ['ent1', 'ent2', 'aj']) {
    const l = (await d.get('/api/v1/workorders?limit=1000', { token: tok[who] })).json;
    for (const o of l) {
      if (who === 'aj') assert.equal(o.department, 'AJ');
      else assert.ok(o.enterprise === (who === 'ent1' ? 'E1' : 'E2') || o.requester === who, JSON.stringify(o));
    }
  }
});
