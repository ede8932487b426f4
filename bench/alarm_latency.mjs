// Alarm latency under load: a gas reading that crosses its setpoint is posted while background
// line-protocol load runs at RATE samples/s; the time from posting it to its alarm event arriving
// on /api/v1/events is measured (an upper bound of "sample decoded → SSE event written": it adds
// the client's HTTP request and the event's way back). Prints `name value unit` lines.
//   node bench/alarm_latency.mjs BASE_URL TOKEN [seconds] [rate]
import http from 'node:http';

const [base, token, secs = '10', rate = '200000'] = process.argv.slice(2);
const DURATION = Number(secs) * 1000, RATE = Number(rate);
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
const u = new URL(base);

function post(path, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(body);
    const req = http.request({ hostname: u.hostname, port: u.port, path, method: 'POST', agent,
      headers: { 'Content-Length': data.length } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', reject);
    req.end(data);
  });
}

// the event stream
const waiting = [];
const res = await fetch(`${base}/api/v1/events`, { headers: { Authorization: `Bearer ${token}` } });
(async () => {
  const dec = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i); buf = buf.slice(i + 2);
      if (!block.includes('event: alarm') || !block.includes('"E1-GD-001-P"')) continue;
      const w = waiting.shift();
      if (w) w(process.hrtime.bigint());
    }
  }
})().catch(() => {});

// background load: every 100 ms, RATE/10 samples over 1,000 series
let ts = Date.now() - 3600 * 1000, bgSamples = 0, stop = false;
const perTick = RATE / 20, lines = perTick / 10; // two loops, each RATE/2
async function background() {
  while (!stop) {
    const t0 = Date.now();
    const out = [];
    for (let i = 0; i < lines; i++) {
      const f = [];
      for (let k = 0; k < 10; k++) f.push(`f${k}=${(i + k) % 100}.5`);
      out.push(`load,device=L${i % 1000} ${f.join(',')} ${ts + Math.floor(i / 1000)}`);
    }
    ts += Math.ceil(lines / 1000) + 1;
    await post('/write?precision=ms', out.join('\n'));
    bgSamples += perTick;
    const left = 100 - (Date.now() - t0);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
  }
}

const start = Date.now();
const bg = [background(), background()];
const lat = [];
let probeTs = Date.now(), high = false;
while (Date.now() - start < DURATION) {
  high = !high;
  probeTs += 1000;
  const got = new Promise((r) => waiting.push(r));
  const t0 = process.hrtime.bigint();
  await post('/write?precision=ms', `gas,device=E1-GD-001 concentration=${high ? 30 : 0} ${probeTs}`);
  const t1 = await Promise.race([got, new Promise((r) => setTimeout(() => r(null), 2000))]);
  if (t1) lat.push(Number(t1 - t0) / 1e6);
  else waiting.length = 0;
  await new Promise((r) => setTimeout(r, 50));
}
stop = true;
await Promise.all(bg);
const elapsed = (Date.now() - start) / 1000;
if (lat.length === 0) {
  console.error('alarm_latency: no alarm event came back (is the E1-GD-001-P gas rule loaded?)');
  process.exit(1);
}
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
console.log(`alarm_latency_p50 ${q(0.5).toFixed(2)} ms`);
console.log(`alarm_latency_p99 ${q(0.99).toFixed(2)} ms`);
console.log(`alarm_latency_probes ${lat.length} probes`);
console.log(`alarm_latency_background ${(bgSamples / elapsed).toExponential(3)} samples/s`);
process.exit(0);
