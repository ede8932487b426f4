// JT/T 808 terminal side for integration tests, written from the standard independently of the
// C codec: escaping, XOR checksum, 2013 and 2019 headers, and the bodies the tests send.
import net from 'node:net';

export const MSG = {
  TERM_REPLY: 0x0001, HEARTBEAT: 0x0002, DEREGISTER: 0x0003, TIME_QUERY: 0x0004,
  REGISTER: 0x0100, AUTH: 0x0102, LOCATION: 0x0200, LOCATION_REPLY: 0x0201, BATCH: 0x0704,
  PLAT_REPLY: 0x8001, TIME_REPLY: 0x8004, REGISTER_REPLY: 0x8100, LOCATION_QUERY: 0x8201,
};

const u16 = (v) => [(v >> 8) & 0xff, v & 0xff];
const u32 = (v) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
// packed digits; hex digits a-f too (terminals with a hex id in the phone field)
const bcd = (s) => { const out = []; for (let i = 0; i < s.length; i += 2) out.push((parseInt(s[i], 16) << 4) | parseInt(s[i + 1], 16)); return out; };

export function escape(bytes) {
  const out = [];
  for (const b of bytes) {
    if (b === 0x7e) out.push(0x7d, 0x02);
    else if (b === 0x7d) out.push(0x7d, 0x01);
    else out.push(b);
  }
  return out;
}

// One frame: { id, phone (digits), serial, body (array/Buffer), ed2019, version, sub }; sub =
// { total, index } makes it one packet of a subpackaged message.
export function frame({ id, phone, serial, body = [], ed2019 = false, version = 1, sub }) {
  body = [...body];
  const props = body.length | (ed2019 ? 0x4000 : 0) | (sub ? 0x2000 : 0);
  const head = [...u16(id), ...u16(props)];
  if (ed2019) head.push(version);
  head.push(...bcd(phone.padStart(ed2019 ? 20 : 12, '0')), ...u16(serial));
  if (sub) head.push(...u16(sub.total), ...u16(sub.index));
  const content = [...head, ...body];
  let x = 0;
  for (const b of content) x ^= b;
  return Buffer.from([0x7e, ...escape([...content, x]), 0x7e]);
}

// Parses one unescaped frame (without flags) into { id, props, phone, serial, body, ed2019 }.
export function parse(raw) {
  const b = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x7d) { b.push(raw[i + 1] === 0x02 ? 0x7e : 0x7d); i++; } else b.push(raw[i]);
  }
  let x = 0;
  for (let i = 0; i < b.length - 1; i++) x ^= b[i];
  const id = (b[0] << 8) | b[1];
  const props = (b[2] << 8) | b[3];
  const ed2019 = (props & 0x4000) !== 0;
  const pn = ed2019 ? 10 : 6;
  const p0 = ed2019 ? 5 : 4;
  const phone = b.slice(p0, p0 + pn).map((v) => v.toString(16).padStart(2, '0')).join('');
  const serial = (b[p0 + pn] << 8) | b[p0 + pn + 1];
  const body = Buffer.from(b.slice(p0 + pn + 2, b.length - 1));
  return { id, props, phone, serial, body, ed2019, checksumOk: x === b[b.length - 1] };
}

// Device time: BCD YYMMDDhhmmss in UTC+8.
export function bcdTime(ms) {
  const d = new Date(ms + 8 * 3600e3);
  const two = (v) => String(v).padStart(2, '0');
  return bcd(two(d.getUTCFullYear() % 100) + two(d.getUTCMonth() + 1) + two(d.getUTCDate()) +
    two(d.getUTCHours()) + two(d.getUTCMinutes()) + two(d.getUTCSeconds()));
}

// A 0x0200 body. lat/lon in degrees (negative = south/west bits), speed km/h.
export function location({ lat, lon, speed = 0, heading = 0, alt = 10, ts, alarm = 0, status = 0x3, mileage }) {
  let st = status;
  if (lat < 0) st |= 0x4;
  if (lon < 0) st |= 0x8;
  const out = [...u32(alarm >>> 0), ...u32(st >>> 0), ...u32(Math.round(Math.abs(lat) * 1e6)),
    ...u32(Math.round(Math.abs(lon) * 1e6)), ...u16(alt), ...u16(Math.round(speed * 10)),
    ...u16(heading), ...bcdTime(ts)];
  if (mileage !== undefined) out.push(0x01, 4, ...u32(Math.round(mileage * 10)));
  return out;
}

export function register2013({ plate, color = 1 }) {
  const maker = Buffer.alloc(5); maker.write('PWTST');
  const model = Buffer.alloc(20); model.write('TESTMODEL-808');
  const tid = Buffer.alloc(7); tid.write('T000001');
  return [...u16(37), ...u16(300), ...maker, ...model, ...tid, color, ...plate];
}

export function register2019({ plate, color = 1 }) {
  const maker = Buffer.alloc(11); maker.write('PWTST2019');
  const model = Buffer.alloc(30); model.write('TESTMODEL-2019');
  const tid = Buffer.alloc(30); tid.write('T2019000001');
  return [...u16(37), ...u16(300), ...maker, ...model, ...tid, color, ...plate];
}

export function auth2019(code) {
  const imei = Buffer.alloc(15); imei.write('860000000000001');
  const ver = Buffer.alloc(20); ver.write('1.0.0');
  return [code.length, ...Buffer.from(code), ...imei, ...ver];
}

export const reply8001 = (rs, id, result) => [...u16(rs), ...u16(id), result];
export const batch = (type, bodies) => [...u16(bodies.length), type, ...bodies.flatMap((b) => [...u16(b.length), ...b])];
export { u16, u32 };

// A terminal: a TCP client collecting the platform's frames.
export class Terminal {
  constructor(port, { phone, ed2019 = false }) {
    this.port = port; this.phone = phone; this.ed2019 = ed2019;
    this.serial = 0; this.buf = Buffer.alloc(0); this.frames = []; this.waiters = [];
  }

  async connect() {
    await new Promise((resolve, reject) => {
      this.sock = net.connect(this.port, '127.0.0.1', resolve);
      this.sock.once('error', reject);
      this.sock.on('data', (d) => this.onData(d));
      this.sock.on('close', () => { this.closed = true; for (const w of this.waiters) w.wake(); });
    });
    return this;
  }

  onData(d) {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const s = this.buf.indexOf(0x7e);
      if (s < 0) { this.buf = Buffer.alloc(0); break; }
      const e = this.buf.indexOf(0x7e, s + 1);
      if (e < 0) { this.buf = this.buf.subarray(s); break; }
      if (e === s + 1) { this.buf = this.buf.subarray(e); continue; }
      const wire = Buffer.from(this.buf.subarray(s, e + 1));
      const f = parse(this.buf.subarray(s + 1, e));
      f.wire = wire;
      this.frames.push(f);
      this.buf = this.buf.subarray(e + 1);
    }
    for (const w of [...this.waiters]) w.wake();
  }

  // The next frame from the platform with message id `id` (any when undefined).
  async next(id, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((f) => id === undefined || f.id === id);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.closed) throw new Error(`connection closed waiting for 0x${(id ?? 0).toString(16)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for 0x${(id ?? 0).toString(16)}`);
      await new Promise((resolve) => {
        const w = { wake: () => { clearTimeout(t); this.waiters = this.waiters.filter((x) => x !== w); resolve(); } };
        const t = setTimeout(w.wake, left);
        this.waiters.push(w);
      });
    }
  }

  // Sends a message; returns the serial used.
  send(id, body = [], extra = {}) {
    const serial = this.serial++ & 0xffff;
    this.write(frame({ id, phone: this.phone, serial, body, ed2019: this.ed2019, ...extra }));
    return serial;
  }

  write(bytes) { this.sock.write(bytes); }
  close() { this.sock.destroy(); }
}
