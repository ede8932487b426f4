// Supervision beside the rules (issue 15), over real sockets: vehicle alarms go through the same
// transition, restore and restart path as every other alarm — a terminal alarm bit raised before
// a restart clears when the terminal reports the bit clear afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Daemon, sleep } from './harness.mjs';
import { MSG, Terminal, location, register2013 } from './jt808lib.mjs';

const PHONE = '013800000001'; // V1 in small-park.json
const PLATE_GBK = [0xc2, 0xb3, ...Buffer.from('C12345')]; // 鲁C12345
let d, admin;

before(async () => { d = await new Daemon().start(); admin = await d.login(); });
after(async () => { await d.stop(); });

async function until(fn, what, ms = 5000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await sleep(100);
  }
}

// Registers (first time) or authenticates V1's terminal; returns it connected and authenticated.
async function terminal(code) {
  const t = await new Terminal(d.ports.jt808, { phone: PHONE }).connect();
  if (!code) {
    t.send(MSG.REGISTER, register2013({ plate: PLATE_GBK }));
    const r = await t.next(MSG.REGISTER_REPLY);
    assert.equal(r.body[2], 0);
    code = r.body.subarray(3).toString('latin1');
  }
  t.send(MSG.AUTH, [...Buffer.from(code)]);
  const a = await t.next(MSG.PLAT_REPLY);
  assert.equal(a.body[4], 0, 'authenticated');
  return { t, code };
}

// Sends a location and waits for its 0x8001 (written once the data is durable).
async function position(t, fields) {
  t.send(MSG.LOCATION, location(fields));
  const r = await t.next(MSG.PLAT_REPLY);
  assert.equal(r.body[4], 0, 'location acknowledged');
}

const emergency = async () => (await d.get('/api/v1/alarms', { token: admin })).json
  .find((a) => a.source === 'V1' && a.rule === 'vehicle_terminal_emergency');

test('a vehicle alarm raised before a restart clears when the terminal clears the bit', async () => {
  let { t, code } = await terminal();
  const ts = Date.now();
  await position(t, { lat: 36.176, lon: 118.175, speed: 0, ts, alarm: 0x1 });
  let a = await emergency();
  assert.ok(a, 'raised');
  assert.equal(a.state, 'active');
  assert.equal(a.source_kind, 'vehicle');
  t.close();
  for (const signal of ['SIGTERM', 'SIGKILL']) {
    await d.restart(signal);
    ({ t } = await terminal(code));
    // still set after the restart: nothing changes, no second alarm
    await position(t, { lat: 36.176, lon: 118.175, speed: 0, ts: Date.now(), alarm: 0x1 });
    const open = (await d.get('/api/v1/alarms', { token: admin })).json
      .filter((x) => x.source === 'V1' && x.rule === 'vehicle_terminal_emergency' && x.state !== 'closed');
    assert.equal(open.length, 1);
    assert.equal(open[0].id, a.id);
    assert.equal(open[0].state, 'active');
    assert.ok((await d.get('/api/v1/vehicles/alarms', { token: admin })).json
      .some((x) => x.vehicle === 'V1' && x.kind === 'terminal_emergency'));
    t.close();
  }
  await d.restart('SIGTERM');
  ({ t } = await terminal(code));
  await position(t, { lat: 36.176, lon: 118.175, speed: 0, ts: Date.now(), alarm: 0 });
  a = await until(async () => { const x = await emergency(); return x && x.state === 'cleared' && x; }, 'cleared');
  assert.ok(a.cleared_at || a.state === 'cleared');
  assert.ok(!(await d.get('/api/v1/vehicles/alarms', { token: admin })).json
    .some((x) => x.kind === 'terminal_emergency'));
  t.close();
});
