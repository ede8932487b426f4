// Load generator for `POST /write`: sends the same line-protocol bodies to a URL with a fixed
// number of concurrent keep-alive requests and prints `name value unit`.
//   node bench/write_load.mjs NAME URL [samples] [concurrency]
// Series: 1,000 devices × 10 fields = 10,000 series, created by one warm-up body before timing; values with 1-2 decimals as sensors send;
// each body is 2,000 lines (20,000 samples) with ms timestamps advancing 1 s per round.
import http from 'node:http';

const [name, url, total = '6000000', conc = '4'] = process.argv.slice(2);
const TOTAL = Number(total), CONC = Number(conc);
const DEVICES = 1000, FIELDS = 10, LINES = 2000;
const u = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: CONC });
const t0 = 1763870400000;

function body(round, part) {
  const out = [];
  for (let i = 0; i < LINES; i++) {
    const dev = (part * LINES + i) % DEVICES;
    const ts = t0 + (round * (LINES / DEVICES) + Math.floor((part * LINES + i) / DEVICES)) * 1000;
    const f = [];
    for (let k = 0; k < FIELDS; k++) f.push(`f${k}=${((dev * 7 + k * 13 + round) % 1000) / 10 + 0.05}`);
    out.push(`sensor,device=D${String(dev).padStart(4, '0')},site=s${dev % 10} ${f.join(',')} ${ts}`);
  }
  return Buffer.from(out.join('\n') + '\n');
}

const perBody = LINES * FIELDS;
const bodies = TOTAL / perBody;
let next = 0, done = 0;
const pre = [];
for (let b = 0; b < Math.min(bodies, 64); b++) pre.push(body(b, 0)); // prebuilt, cycled with new ts below
function post(i) {
  const data = i < pre.length ? pre[i] : body(i, 0);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST', agent,
      headers: { 'Content-Type': 'text/plain', 'Content-Length': data.length } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 204 || res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}
// build all bodies before timing so the client's cost is not measured
const all = [];
for (let i = 0; i < bodies; i++) all.push(i < pre.length ? pre[i] : body(i, 0));
async function worker() {
  while (next < bodies) { const i = next++; await postBody(all[i]); done++; }
}
function postBody(data) {
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST', agent,
      headers: { 'Content-Type': 'text/plain', 'Content-Length': data.length } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 204 || res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}
void post;
// warm-up: one body creates every series (both systems get the same), then the timed run
await postBody(body(-1, 0));
const start = process.hrtime.bigint();
await Promise.all(Array.from({ length: CONC }, worker));
const secs = Number(process.hrtime.bigint() - start) / 1e9;
console.log(`${name} ${(done * perBody / secs).toExponential(3)} samples/s`);
agent.destroy();
