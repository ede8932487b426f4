// JT/T 808 ingest rate end to end: CONNS terminals on real sockets register (0x0100), authenticate
// (0x0102) and then keep WINDOW location reports (0x0200) in flight each, counting the platform's
// general replies (0x8001), which the daemon writes only once the position — and, with the
// archive on, the frame's and the reply's leaves — are durable.
//   node bench/jt808_ingest.mjs NAME PORT FRAMES CONNS WINDOW   -> "NAME <frames/s> frames/s"
import net from 'node:net';
import { MSG, frame, location, parse, register2013 } from '../tests/integration/jt808lib.mjs';

const [name, port, total, conns, windowArg] = process.argv.slice(2);
const FRAMES = Number(total), CONNS = Number(conns), WINDOW = Number(windowArg);
const per = Math.ceil(FRAMES / CONNS);

function terminal(k) {
  return new Promise((resolve, reject) => {
    const phone = `0139${String(k).padStart(8, '0')}`;
    let serial = 0, state = 'register', sent = 0, acked = 0, buf = Buffer.alloc(0), t0;
    const reports = [];
    const ts0 = Date.now() - per * 1000;
    for (let i = 0; i < per; i++)
      reports.push({ lat: 36.1 + (i % 100) * 1e-4, lon: 118.1 + k * 1e-4, speed: 30 + (i % 40), ts: ts0 + i * 1000 });
    const s = net.connect(Number(port), '127.0.0.1', () => {
      s.setNoDelay(true);
      s.write(frame({ id: MSG.REGISTER, phone, serial: serial++, body: register2013({ plate: [...Buffer.from(`BENCH${k}`)] }) }));
    });
    function pump() {
      const chunks = [];
      while (sent < per && sent - acked < WINDOW)
        chunks.push(frame({ id: MSG.LOCATION, phone, serial: serial++ & 0xffff, body: location(reports[sent++]) }));
      if (chunks.length) s.write(Buffer.concat(chunks));
    }
    function onFrame(f) {
      if (state === 'register' && f.id === MSG.REGISTER_REPLY) {
        state = 'auth';
        s.write(frame({ id: MSG.AUTH, phone, serial: serial++, body: [...f.body.subarray(3)] }));
      } else if (state === 'auth' && f.id === MSG.PLAT_REPLY) {
        if (f.body[4] !== 0) { reject(new Error(`terminal ${phone}: authentication refused`)); return; }
        state = 'run';
        t0 = process.hrtime.bigint();
        pump();
      } else if (state === 'run' && f.id === MSG.PLAT_REPLY) {
        acked++;
        if (acked >= per) { s.end(); resolve(t0); } else pump();
      }
    }
    s.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        const a = buf.indexOf(0x7e);
        if (a < 0) { buf = Buffer.alloc(0); break; }
        const b = buf.indexOf(0x7e, a + 1);
        if (b < 0) { buf = buf.subarray(a); break; }
        if (b > a + 1) onFrame(parse(buf.subarray(a + 1, b)));
        buf = buf.subarray(b + 1);
      }
    });
    s.on('error', reject);
  });
}

// every terminal registers first; the timed part is the location reports
const t = process.hrtime.bigint();
const starts = await Promise.all(Array.from({ length: CONNS }, (_, k) => terminal(k)));
const first = starts.reduce((m, x) => (x < m ? x : m), starts[0]);
const secs = Number(process.hrtime.bigint() - (first > t ? first : t)) / 1e9;
console.log(`${name} ${Math.round((per * CONNS) / secs)} frames/s`);
