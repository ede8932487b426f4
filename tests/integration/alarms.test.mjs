// Rules, alarms and live events end to end: readings sent over the wire raise, escalate and clear
// the expected alarms (and no others), the SSE stream shows them, operators act on them with
// role and enterprise checks, storm control groups a burst of 500 detector alarms of one area.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Daemon, DATA, sleep } from './harness.mjs';

let d, admin;
// sample times only move forward across tests (older samples do not change rule state)
let clock = Date.now();
const now = () => { clock += 10000; return clock; };

// Collects server-sent events from /api/v1/events.
class Sse {
  constructor(daemon, token, query = '') { this.d = daemon; this.token = token; this.query = query; this.events = []; }
  async open(lastId) {
    this.ctrl = new AbortController();
    const headers = { Authorization: `Bearer ${this.token}` };
    if (lastId) headers['Last-Event-ID'] = String(lastId);
    const res = await fetch(`${this.d.base}/api/v1/events${this.query}`, { headers, signal: this.ctrl.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /text\/event-stream/);
    this.done = (async () => {
      const dec = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body) {
          buf += dec.decode(chunk, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i); buf = buf.slice(i + 2);
            const ev = {};
            for (const line of block.split('\n')) {
              const m = /^(id|event|data): ?(.*)$/.exec(line);
              if (m) ev[m[1]] = m[2];
            }
            if (ev.event) { if (ev.data) ev.json = JSON.parse(ev.data); this.events.push(ev); }
          }
        }
      } catch { /* aborted */ }
    })();
    return this;
  }
  async waitFor(pred, timeout = 5000) {
    const t0 = Date.now();
    while (Date.now() - t0 < timeout) {
      const e = this.events.find(pred);
      if (e) return e;
      await sleep(20);
    }
    throw new Error(`no such event; have ${JSON.stringify(this.events.map((e) => [e.event, e.json?.event, e.json?.alarm?.rule]))}`);
  }
  close() { this.ctrl.abort(); }
}

before(async () => {
  d = await new Daemon().start();
  admin = await d.login();
  for (const u of [
    { name: 'ent1', password: 'ent1-password', role: 'enterprise', enterprise: 'E1' },
    { name: 'ent2', password: 'ent2-password', role: 'enterprise', enterprise: 'E2' },
    { name: 'viewer', password: 'viewer-password', role: 'viewer' },
  ]) assert.equal((await d.post('/api/v1/users', u, { token: admin })).status, 201);
});
after(async () => { await d.stop(); });

const write = async (lines) => {
  const r = await d.post('/write?precision=ms', lines.join('\n'));
  assert.equal(r.status, 204, r.text);
};

test('a combustible gas reading raises first level, escalates to second, then clears; SSE shows each', async () => {
  const sse = await new Sse(d, admin).open();
  const t = now();
  await write([`gas,device=E1-GD-001 concentration=30 ${t}`]);
  const raised = await sse.waitFor((e) => e.event === 'alarm' && e.json.event === 'raised' && e.json.alarm.rule === 'gas');
  assert.equal(raised.json.alarm.source, 'E1-GD-001-P');
  assert.equal(raised.json.alarm.gas_level, 1);
  assert.equal(raised.json.alarm.level, 'orange');
  await write([`gas,device=E1-GD-001 concentration=60 ${t + 1000}`]);
  const up = await sse.waitFor((e) => e.json?.event === 'updated' && e.json.alarm.gas_level === 2);
  assert.equal(up.json.alarm.level, 'red');
  assert.equal(up.json.alarm.id, raised.json.alarm.id);
  await write([`gas,device=E1-GD-001 concentration=1 ${t + 2000}`]);
  await sse.waitFor((e) => e.json?.event === 'cleared' && e.json.alarm.id === raised.json.alarm.id);
  const list = await d.get('/api/v1/alarms', { token: admin });
  const mine = list.json.filter((a) => a.source === 'E1-GD-001-P');
  assert.equal(mine.length, 1, 'one alarm per (source, rule)');
  assert.equal(mine[0].state, 'cleared');
  assert.equal(mine[0].max_level, 'red');
  // and no other alarm was raised by these readings
  assert.deepEqual(list.json.map((a) => a.rule).filter((r) => r !== 'gas'), []);
  sse.close();
});

test('acknowledge, comment, assign and close, with history; roles and enterprise scope enforced', async () => {
  const t = now();
  await write([`gas,device=E2-GD-001 concentration=10 ${t}`]); // H2S 10 ppm > 7.1 first level
  let a;
  for (let i = 0; i < 50 && !a; i++) {
    a = (await d.get('/api/v1/alarms?state=active', { token: admin })).json.find((x) => x.source === 'E2-GD-001-P');
    if (!a) await sleep(50);
  }
  assert.ok(a, 'alarm raised');
  const e2 = await d.login('ent2', 'ent2-password');
  const e1 = await d.login('ent1', 'ent1-password');
  const viewer = await d.login('viewer', 'viewer-password');
  assert.equal((await d.get(`/api/v1/alarms/${a.id}`, { token: e1 })).status, 404);
  assert.ok(!(await d.get('/api/v1/alarms', { token: e1 })).json.some((x) => x.id === a.id));
  assert.equal((await d.post(`/api/v1/alarms/${a.id}/ack`, {}, { token: e1 })).status, 404);
  assert.equal((await d.post(`/api/v1/alarms/${a.id}/ack`, {}, { token: viewer })).status, 403);
  assert.equal((await d.post(`/api/v1/alarms/${a.id}/close`, {}, { token: e2 })).status, 409); // not cleared yet
  let r = await d.post(`/api/v1/alarms/${a.id}/ack`, { text: '已通知现场' }, { token: e2 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, 'acknowledged');
  assert.equal(r.json.acknowledged_by, 'ent2');
  assert.equal((await d.post(`/api/v1/alarms/${a.id}/comment`, { text: '检查阀门' }, { token: e2 })).status, 200);
  assert.equal((await d.post(`/api/v1/alarms/${a.id}/assign`, { assignee: 'zhang' }, { token: admin })).status, 200);
  await write([`gas,device=E2-GD-001 concentration=0.2 ${t + 1000}`]);
  for (let i = 0; i < 50; i++) {
    r = await d.get(`/api/v1/alarms/${a.id}`, { token: e2 });
    if (r.json.state === 'cleared') break;
    await sleep(50);
  }
  assert.equal(r.json.state, 'cleared');
  r = await d.post(`/api/v1/alarms/${a.id}/close`, { text: '处理完毕' }, { token: e2 });
  assert.equal(r.json.state, 'closed');
  const actions = r.json.history.map((h) => h.action);
  for (const x of ['raise', 'ack', 'comment', 'assign', 'clear', 'close']) assert.ok(actions.includes(x), `${x} in ${actions}`);
  assert.equal(r.json.assignee, 'zhang');
  assert.equal((await d.get('/api/v1/alarms?state=bogus', { token: admin })).status, 400);
});

test('a silence with reason and expiry marks alarms silenced', async () => {
  const r = await d.post('/api/v1/silences', { kind: 'device', target: 'E1-GD-001', reason: '检修', duration: '1h' }, { token: admin });
  assert.equal(r.status, 201, r.text);
  const t = now();
  await write([`gas,device=E1-GD-001 concentration=40 ${t}`]);
  let a;
  for (let i = 0; i < 50; i++) {
    a = (await d.get('/api/v1/alarms?state=active', { token: admin })).json.find((x) => x.source === 'E1-GD-001-P');
    if (a) break;
    await sleep(50);
  }
  assert.equal(a.silenced, true);
  const s = await d.get('/api/v1/silences', { token: admin });
  assert.equal(s.json[0].reason, '检修');
  assert.equal((await d.req('DELETE', `/api/v1/silences/${r.json.id}`, { token: admin })).status, 200);
  await write([`gas,device=E1-GD-001 concentration=0 ${t + 1000}`]);
});

test('storm control: 500 detectors of one area become one area alarm grouping them', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-storm-'));
  const model = JSON.parse(readFileSync(path.join(DATA, 'small-park.json'), 'utf8'));
  model.areas.push({ id: 'E1-STORM', name: '储罐区B', enterprise: 'E1', kind: 'tank_farm' });
  for (let i = 0; i < 500; i++) {
    const id = `E1-S-${String(i).padStart(3, '0')}`;
    model.devices.push({ id, name: `探测器${i}`, kind: 'gas_detector', enterprise: 'E1', area: 'E1-STORM', protocol: 'none',
      points: [{ id: `${id}-P`, name: '可燃气体', quantity: 'combustible', unit: '%LEL', series: `gas_concentration{device="${id}"}`, setpoints: { alarm1: 25, alarm2: 50 } }] });
  }
  writeFileSync(path.join(dir, 'storm.json'), JSON.stringify(model));
  const ds = await new Daemon({ model: path.join(dir, 'storm.json') }).start();
  try {
    const tok = await ds.login();
    const sse = await new Sse(ds, tok).open();
    const t = now();
    const lines = [];
    for (let i = 0; i < 500; i++) lines.push(`gas,device=E1-S-${String(i).padStart(3, '0')} concentration=70 ${t}`);
    assert.equal((await ds.post('/write?precision=ms', lines.join('\n'))).status, 204);
    const area = await sse.waitFor((e) => e.json?.alarm?.rule === 'linked' && e.json.event === 'raised');
    assert.equal(area.json.alarm.source, 'E1-STORM');
    let members;
    for (let i = 0; i < 100; i++) {
      const all = (await ds.get('/api/v1/alarms?state=active&limit=500&rule=gas', { token: tok })).json;
      members = all.filter((a) => a.area === 'E1-STORM');
      if (members.length === 500 && members.every((m) => m.group_id === area.json.alarm.id)) break;
      await sleep(50);
    }
    assert.equal(members.length, 500);
    assert.ok(members.every((m) => m.group_id === area.json.alarm.id), 'detector alarms grouped under the area alarm');
    // the storm collapses: the area alarm is notified, and at most the detectors that came
    // before it (rules.linked_count = 2), not the 500
    await sleep(300);
    const notified = sse.events.filter((e) => e.json?.notify).map((e) => e.json.alarm.source);
    assert.ok(notified.includes('E1-STORM'));
    assert.ok(notified.length <= 3, `notified: ${notified}`);
    const groups = await ds.get('/api/v1/alarm-groups', { token: tok });
    assert.ok(groups.json.some((g) => g.area === 'E1-STORM'));
    sse.close();
  } finally { await ds.stop(); rmSync(dir, { recursive: true, force: true }); }
});

test('SSE resumes with Last-Event-ID without losing alarms, and streams subscribed values', async () => {
  const sse = await new Sse(d, admin, `?values=${encodeURIComponent('gas_concentration{device="E1-GD-001"}')}`).open();
  await sleep(100);
  const t = now();
  await write([`gas,device=E1-GD-001 concentration=2.5 ${t}`]);
  const v = await sse.waitFor((e) => e.event === 'values');
  assert.equal(v.json[0].metric.device, 'E1-GD-001');
  assert.equal(v.json[0].value, 2.5);
  const lastId = Number(sse.events.filter((e) => e.id).at(-1)?.id || 0);
  sse.close();
  // an alarm happens while disconnected
  await write([`gas,device=E1-GD-001 concentration=55 ${t + 1000}`]);
  await sleep(200);
  const again = await new Sse(d, admin).open(lastId);
  await again.waitFor((e) => e.json?.alarm?.source === 'E1-GD-001-P' && e.json.alarm.gas_level === 2);
  again.close();
  await write([`gas,device=E1-GD-001 concentration=0 ${t + 2000}`]);
});

test('an enterprise user only receives its own enterprise on the event stream', async () => {
  const e1 = await d.login('ent1', 'ent1-password');
  const sse = await new Sse(d, e1).open();
  const t = now();
  await write([`gas,device=E2-GD-001 concentration=20 ${t}`, `gas,device=E1-GD-001 concentration=30 ${t}`]);
  await sse.waitFor((e) => e.json?.alarm?.source === 'E1-GD-001-P');
  await sleep(200);
  assert.ok(!sse.events.some((e) => e.json?.alarm?.enterprise === 'E2'));
  sse.close();
});

test('alarms come back after a restart', async () => {
  const before = (await d.get('/api/v1/alarms?state=active', { token: admin })).json.map((a) => a.id).sort();
  assert.ok(before.length > 0);
  await d.restart();
  admin = await d.login();
  const afterIds = (await d.get('/api/v1/alarms?state=active', { token: admin })).json.map((a) => a.id).sort();
  assert.deepEqual(afterIds, before);
});

test('the event stream carries device status and vehicle positions on request', async () => {
  const sse = await new Sse(d, admin, '?devices=1&vehicles=1').open();
  const dev = await sse.waitFor((e) => e.event === 'devices', 8000);
  assert.ok(Array.isArray(dev.json.hj212));
  assert.ok(Array.isArray(dev.json.modbus));
  const veh = await sse.waitFor((e) => e.event === 'vehicles', 8000);
  assert.ok(Array.isArray(veh.json));
  sse.close();
});

// parkwatch_alarm_event_latency_seconds from GET /metrics: { count, sum, inf, type }.
async function latencyHistogram() {
  const r = await d.get('/metrics');
  assert.equal(r.status, 200);
  const h = { count: NaN, sum: NaN, inf: NaN, type: null };
  for (const line of r.text.split('\n')) {
    let m;
    if ((m = /^# TYPE parkwatch_alarm_event_latency_seconds (\w+)$/.exec(line))) h.type = m[1];
    else if ((m = /^parkwatch_alarm_event_latency_seconds_count (\S+)$/.exec(line))) h.count = Number(m[1]);
    else if ((m = /^parkwatch_alarm_event_latency_seconds_sum (\S+)$/.exec(line))) h.sum = Number(m[1]);
    else if ((m = /^parkwatch_alarm_event_latency_seconds_bucket\{le="\+Inf"\} (\S+)$/.exec(line))) h.inf = Number(m[1]);
  }
  return h;
}

test('an alarm event written to an SSE client is observed in the latency histogram', async () => {
  const before = await latencyHistogram();
  assert.equal(before.type, 'histogram');
  assert.equal(before.inf, before.count);
  const sse = await new Sse(d, admin).open();
  const t = now();
  await write([`gas,device=E1-GD-001 concentration=0 ${t}`]);
  await write([`gas,device=E1-GD-001 concentration=60 ${t + 1000}`]);
  await sse.waitFor((e) => e.json?.alarm?.source === 'E1-GD-001-P' && e.json.alarm.value === 60);
  // the observation is made when the event is handed to the connection, before it is sent
  const afterH = await latencyHistogram();
  assert.ok(afterH.count >= before.count + 1, `count ${before.count} -> ${afterH.count}`);
  assert.ok(afterH.sum > 0 && afterH.sum >= before.sum, `sum ${before.sum} -> ${afterH.sum}`);
  assert.equal(afterH.inf, afterH.count);
  sse.close();
  await write([`gas,device=E1-GD-001 concentration=0 ${t + 2000}`]);
});
