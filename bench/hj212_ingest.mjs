// HJ 212 ingest rate end to end: CONNS stations on real sockets, each keeping WINDOW real-time
// frames (5 values, A bit set) in flight and counting the 9014 replies, which the daemon writes
// only once the frame's samples — and, with the archive on, its leaves — are durable.
//   node bench/hj212_ingest.mjs NAME PORT FRAMES CONNS WINDOW   -> "NAME <frames/s> frames/s"
import net from 'node:net';
import { frame, local14, qnOf } from '../tests/integration/hj212lib.mjs';

const [name, port, total, conns, windowArg] = process.argv.slice(2);
const FRAMES = Number(total), CONNS = Number(conns), WINDOW = Number(windowArg);
const per = Math.ceil(FRAMES / CONNS);

function station(k) {
  return new Promise((resolve, reject) => {
    const mn = `BENCH${String(k).padStart(4, '0')}`;
    const frames = [];
    const t0 = Date.UTC(2026, 0, 1);
    for (let i = 0; i < per; i++) {
      const ts = t0 + i * 1000;
      const v = (j) => `a2100${j}-Rtd=${(i % 97) + j},a2100${j}-Flag=N`;
      frames.push(frame(`QN=${qnOf(ts)};ST=22;CN=2011;PW=123456;MN=${mn};Flag=5;CP=&&DataTime=${local14(ts)};${[1, 2, 3, 4, 5].map(v).join(';')}&&`));
    }
    let sent = 0, acked = 0, buf = '';
    const s = net.connect(Number(port), '127.0.0.1', () => {
      s.setNoDelay(true);
      pump();
    });
    function pump() {
      const chunks = [];
      while (sent < per && sent - acked < WINDOW) chunks.push(frames[sent++]);
      if (chunks.length) s.write(Buffer.concat(chunks));
    }
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        if (buf.slice(0, i).includes('CN=9014')) acked++;
        buf = buf.slice(i + 2);
      }
      if (acked >= per) { s.end(); resolve(); } else pump();
    });
    s.on('error', reject);
  });
}

const t = process.hrtime.bigint();
await Promise.all(Array.from({ length: CONNS }, (_, k) => station(k)));
const secs = Number(process.hrtime.bigint() - t) / 1e9;
console.log(`${name} ${Math.round((per * CONNS) / secs)} frames/s`);
