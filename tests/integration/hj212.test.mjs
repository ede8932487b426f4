// HJ 212 over a real TCP socket: frames split and batched, garbage, bad CRC, durable 9014 replies
// checked byte for byte, data through /api/v1/export, device clock setting, gap recall and
// back-fill, unknown and wrong-password devices.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, sleep } from './harness.mjs';
import { frame, local14, qnOf, Station } from './hj212lib.mjs';

const MN = '010000A8900016F000169DC0'; // AQ-01 in small-park.json, PW 123456
let d, admin;

before(async () => { d = await new Daemon().start(); admin = await d.login(); });
after(async () => { await d.stop(); });

const exportLines = (text) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

test('a real-time frame split byte by byte after garbage is stored and acknowledged with 9014', async () => {
  const st = new Station(d.ports.hj212);
  await st.connect();
  const ts = Date.UTC(2026, 10, 23, 2, 0, 0); // 10:00 local
  const qn = qnOf(ts);
  const f = frame(`QN=${qn};ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=${local14(ts)};a21026-Rtd=12.5,a21026-Flag=N;a34004-Rtd=35,a34004-Flag=M&&`);
  const bytes = Buffer.concat([Buffer.from('garbage!!\r\n#'), f]);
  for (const b of bytes) await st.write(Buffer.from([b]));
  // first the platform sets the clock (1012) ...
  const set = await st.next(/CN=1012;/);
  assert.match(set, new RegExp(`^##\\d{4}QN=\\d{17};ST=22;CN=1012;PW=123456;MN=${MN};Flag=5;CP=&&SystemTime=\\d{14}&&[0-9A-F]{4}\\r\\n$`));
  // ... then answers the data once it is durable, byte for byte
  const ack = await st.next(/CN=9014/);
  assert.equal(ack, frame(`QN=${qn};ST=91;CN=9014;PW=123456;MN=${MN};Flag=4;CP=&&&&`).toString('latin1'));
  const e = exportLines((await d.get(`/api/v1/export?match[]=hj212_rtd{mn="${MN}"}`, { token: admin })).text);
  const so2 = e.find((l) => l.metric.code === 'a21026');
  assert.deepEqual(so2.metric, { __name__: 'hj212_rtd', mn: MN, code: 'a21026', cn: '2011' });
  assert.deepEqual(so2.values, [12.5]);
  assert.deepEqual(so2.timestamps, [ts]);
  st.close();
});

test('frames batched in one write, a bad CRC in between: each good frame answered in order', async () => {
  const st = new Station(d.ports.hj212);
  await st.connect();
  const base = Date.UTC(2026, 10, 23, 3, 0, 0);
  const qns = [0, 1, 2].map((i) => qnOf(base + i * 30000));
  const frames = qns.map((qn, i) => frame(`QN=${qn};ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=${local14(base + i * 30000)};a21026-Rtd=${20 + i},a21026-Flag=N&&`));
  const bad = Buffer.from(frames[1]);
  bad[bad.length - 3] = bad[bad.length - 3] === 0x30 ? 0x31 : 0x30; // corrupt the CRC
  await st.write(Buffer.concat([frames[0], bad, frames[2]]));
  const a0 = await st.next(/CN=9014/);
  const a2 = await st.next(/CN=9014/);
  assert.match(a0, new RegExp(`QN=${qns[0]}`));
  assert.match(a2, new RegExp(`QN=${qns[2]}`));
  await sleep(200);
  assert.equal(st.frames.filter((f) => /CN=9014/.test(f)).length, 0);
  const m = await d.get('/metrics');
  assert.match(m.text, /parkwatch_hj212_frames_dropped_total\{reason="crc"\} [1-9]/);
  const e = exportLines((await d.get(`/api/v1/export?match[]=hj212_rtd{mn="${MN}",code="a21026"}&start=${base / 1000}`, { token: admin })).text);
  assert.deepEqual(e[0].values, [20, 22]);
  st.close();
});

test('a gap in minute data is recalled and the back-fill lands in place', async () => {
  const st = new Station(d.ports.hj212);
  await st.connect();
  const t0 = Date.UTC(2026, 10, 23, 4, 0, 0);
  const min = (t, v) => frame(`QN=${qnOf(t)};ST=22;CN=2051;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=${local14(t)};a21026-Min=${v},a21026-Avg=${v},a21026-Max=${v},a21026-Flag=N&&`);
  await st.write(min(t0, 0));
  await st.next(/CN=9014/);
  await st.write(min(t0 + 60000, 1));
  await st.next(/CN=9014/);
  // an outage: the next record is 10 minutes later
  await st.write(min(t0 + 600000, 10));
  await st.next(/CN=9014/);
  const recall = await st.next(/CN=2051;.*BeginTime/);
  assert.match(recall, new RegExp(`ST=22;CN=2051;PW=123456;MN=${MN};Flag=5;CP=&&BeginTime=${local14(t0 + 120000)};EndTime=${local14(t0 + 540000)}&&`));
  const rqn = /QN=(\d+)/.exec(recall)[1];
  // the station answers as the standard says: 9011, the records, 9012
  await st.write(frame(`QN=${rqn};ST=91;CN=9011;PW=123456;MN=${MN};Flag=4;CP=&&QnRtn=1&&`));
  for (let k = 2; k <= 9; k++) {
    await st.write(min(t0 + k * 60000, k));
    await st.next(/CN=9014/);
  }
  await st.write(frame(`QN=${rqn};ST=91;CN=9012;PW=123456;MN=${MN};Flag=4;CP=&&ExeRtn=1&&`));
  const e = exportLines((await d.get(`/api/v1/export?match[]=hj212_avg{mn="${MN}",code="a21026",cn="2051"}`, { token: admin })).text);
  assert.deepEqual(e[0].values, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(e[0].timestamps, Array.from({ length: 11 }, (_, k) => t0 + k * 60000));
  const devs = await d.get('/api/v1/hj212/devices', { token: admin });
  const me = devs.json.find((x) => x.mn === MN);
  assert.equal(me.device, 'AQ-01');
  assert.equal(me.known, true);
  assert.ok(me.recalls >= 1);
  st.close();
});

test('unknown MNs are quarantined and listed; wrong passwords rejected', async () => {
  const st = new Station(d.ports.hj212);
  await st.connect();
  const t = Date.UTC(2026, 10, 23, 5, 0, 0);
  await st.write(frame(`QN=${qnOf(t)};ST=31;CN=2011;PW=123456;MN=NEWSTACK0001;Flag=5;CP=&&DataTime=${local14(t)};a21026-Rtd=3&&`));
  await st.next(/CN=9014/); // quarantined data is still kept and acknowledged
  const q = await d.get('/api/v1/hj212/quarantine', { token: admin });
  assert.deepEqual(q.json.map((x) => x.mn), ['NEWSTACK0001']);
  // wrong PW for a registered MN: no reply, counted
  await st.write(frame(`QN=${qnOf(t)};ST=22;CN=2011;PW=999999;MN=${MN};Flag=5;CP=&&DataTime=${local14(t)};a21026-Rtd=99&&`));
  await sleep(300);
  assert.equal(st.frames.filter((f) => /CN=9014/.test(f)).length, 0);
  const m = await d.get('/metrics');
  assert.match(m.text, /parkwatch_hj212_password_rejected_total [1-9]/);
  assert.match(m.text, /parkwatch_hj212_unknown_mn_frames_total\{policy="quarantine"\} [1-9]/);
  st.close();
});

test('notifications get 9013 and a 2005 frame without QN or Flag is stored', async () => {
  const st = new Station(d.ports.hj212);
  await st.connect();
  await st.write(frame(`QN=20261123130000000;ST=22;CN=1013;PW=123456;MN=${MN};Flag=5;CP=&&&&`));
  const n = await st.next(/CN=9013/);
  assert.match(n, /QN=20261123130000000;ST=91;CN=9013;/);
  await st.write(frame(`ST=22;CN=2011;PW=123456;MN=${MN};CP=&&DataTime=20261123140000;a21026-Rtd=7.5&&`));
  await sleep(300);
  const e = exportLines((await d.get(`/api/v1/export?match[]=hj212_rtd{mn="${MN}",code="a21026"}&start=${Date.UTC(2026, 10, 23, 6) / 1000}&end=${Date.UTC(2026, 10, 23, 6, 1) / 1000}`, { token: admin })).text);
  assert.deepEqual(e[0].values, [7.5]);
  st.close();
});

test('responses (9011-9014) are never answered, even with the A bit set: no ping-pong', async () => {
  const st = new Station(d.ports.hj212);
  await st.connect();
  const m0 = await d.get('/metrics');
  const before = Number((/parkwatch_hj212_responses_total (\d+)/.exec(m0.text) || [0, 0])[1]);
  // a data frame first: its 1012 and 9014 are what this connection gets from us
  await st.write(frame(`QN=20261123150000000;ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=20261123150000;a21026-Rtd=3&&`));
  await st.next(/CN=9014/);
  st.frames.length = 0;
  // another platform's (or a confused logger's) answers, Flag=5 (A set, 2017) and Flag=9 (2025)
  for (const [cn, flag] of [[9014, 5], [9013, 5], [9011, 9], [9012, 5]]) {
    await st.write(frame(`QN=20261123150000000;ST=91;CN=${cn};PW=123456;MN=${MN};Flag=${flag};CP=&&${cn === 9011 ? 'QnRtn=1' : cn === 9012 ? 'ExeRtn=1' : ''}&&`));
  }
  // the connection still answers data, and nothing else came back
  await st.write(frame(`QN=20261123150100000;ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=20261123150100;a21026-Rtd=4&&`));
  const ack = await st.next(/CN=9014/);
  assert.match(ack, /QN=20261123150100000;ST=91;CN=9014;/);
  await sleep(200);
  assert.deepEqual(st.frames, [], 'responses were answered');
  const m1 = await d.get('/metrics');
  assert.equal(Number(/parkwatch_hj212_responses_total (\d+)/.exec(m1.text)[1]), before + 2);
  st.close();
});

test('a value that is not a number costs that value only: the other factors are stored and acknowledged', async () => {
  const st = new Station(d.ports.hj212);
  await st.connect();
  const ts = Date.UTC(2026, 10, 23, 8, 0, 0);
  const qn = qnOf(ts);
  await st.write(frame(`QN=${qn};ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=${local14(ts)};a21026-Rtd=-,a21026-Flag=D;a34004-Rtd=41,a34004-Flag=N&&`));
  const ack = await st.next(/CN=9014/);
  assert.match(ack, new RegExp(`QN=${qn};ST=91;CN=9014;`));
  const e = exportLines((await d.get(`/api/v1/export?match[]=hj212_rtd{mn="${MN}"}&start=${ts / 1000 - 1}&end=${ts / 1000 + 1}`, { token: admin })).text);
  assert.deepEqual(e.map((l) => [l.metric.code, l.values]), [['a34004', [41]]]);
  assert.match((await d.get('/metrics')).text, /parkwatch_hj212_items_skipped_total\{reason="not_a_number"\} 1/);
  assert.match(d.stderr, /item value is not a number/);
  st.close();
});

test('records of MNs outside the park model are bounded (2 x hj212.max_connections, at least 64); known MNs keep working', async () => {
  const d2 = await new Daemon({ set: ['hj212.max_connections=10'] }).start();
  try {
    const st = new Station(d2.ports.hj212);
    await st.connect();
    const frames = [];
    for (let i = 0; i < 80; i++) frames.push(frame(`QN=20261123160000${String(i).padStart(3, '0')};ST=22;CN=2011;PW=123456;MN=FAKE${i};Flag=5;CP=&&DataTime=20261123160000;a21026-Rtd=${i}&&`));
    await st.write(Buffer.concat(frames));
    for (let i = 0; i < 64; i++) await st.next(/CN=9014/);
    await st.write(frame(`QN=20261123160100000;ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=20261123160100;a21026-Rtd=9&&`));
    assert.match(await st.next(/CN=9014/), /QN=20261123160100000;/);
    await sleep(200);
    assert.ok(!st.frames.some((f) => /CN=9014/.test(f)), 'frames beyond the bound are not acknowledged');
    const devs = (await d2.get('/api/v1/hj212/devices', { token: await d2.login() })).json;
    const list = Array.isArray(devs) ? devs : devs.devices;
    assert.equal(list.filter((x) => /^FAKE/.test(x.mn)).length, 64);
    assert.match((await d2.get('/metrics')).text, /parkwatch_hj212_unknown_refused_total 16/);
    st.close();
  } finally { await d2.stop(); }
});

test('a reject policy closes the connection of an unknown MN', async () => {
  const d2 = await new Daemon({ set: ['hj212.unknown_devices=reject'] }).start();
  try {
    const st = new Station(d2.ports.hj212);
    await st.connect();
    await st.write(frame(`QN=20261123130000000;ST=22;CN=2011;PW=123456;MN=STRANGER;Flag=5;CP=&&DataTime=20261123130000;a21026-Rtd=1&&`));
    await st.closed;
    assert.equal(st.frames.length, 0);
  } finally { await d2.stop(); }
});
