// Paced load for `POST /write`: a park's steady rate rather than as fast as possible. Sends
// bodies of 2,000 lines × 10 fields (20,000 samples, 10,000 series) at RATE samples/s for
// SECONDS and prints the achieved rate and the p50/p99 request latency (204 = durable).
//   node bench/uplink_paced.mjs NAME URL [rate=200000] [seconds=10]
import http from 'node:http';

const [name, url, rate = '200000', seconds = '10'] = process.argv.slice(2);
const RATE = Number(rate), SECS = Number(seconds);
const DEVICES = 1000, FIELDS = 10, LINES = 2000, PER = LINES * FIELDS;
const u = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const t0 = 1763870400000;
function body(round) {
  const out = [];
  for (let i = 0; i < LINES; i++) {
    const dev = i % DEVICES;
    const ts = t0 + (round * 2 + Math.floor(i / DEVICES)) * 1000;
    const f = [];
    for (let k = 0; k < FIELDS; k++) f.push(`f${k}=${((dev * 7 + k * 13 + round) % 1000) / 10 + 0.05}`);
    out.push(`sensor,device=D${String(dev).padStart(4, '0')},site=s${dev % 10} ${f.join(',')} ${ts}`);
  }
  return Buffer.from(out.join('\n') + '\n');
}
function post(data) {
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST', agent,
      headers: { 'Content-Type': 'text/plain', 'Content-Length': data.length } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}
const n = Math.max(1, Math.round((RATE * SECS) / PER));
const bodies = [];
for (let i = 0; i < n + 1; i++) bodies.push(body(i));
await post(bodies[n]); // warm-up: creates the series
const lat = [];
const start = performance.now();
const inflight = [];
for (let i = 0; i < n; i++) {
  const due = start + (i * PER * 1000) / RATE;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const t = performance.now();
  inflight.push(post(bodies[i]).then(() => lat.push(performance.now() - t)));
}
await Promise.all(inflight);
const secs = (performance.now() - start) / 1000;
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
console.log(`${name}_rate ${Math.round((n * PER) / secs)} samples/s`);
console.log(`${name}_p50 ${q(0.5).toFixed(1)} ms`);
console.log(`${name}_p99 ${q(0.99).toFixed(1)} ms`);
agent.destroy();
