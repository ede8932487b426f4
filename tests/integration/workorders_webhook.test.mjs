// Work-order events to a webhook: a real HTTP receiver on a free port gets every event as JSON,
// and a delivery answered 500 is retried.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Daemon, freePort, until } from './harness.mjs';

let d, server, port;
const got = [];
let failFirst = true;

before(async () => {
  port = await freePort();
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      if (failFirst) { failFirst = false; res.writeHead(500).end(); return; }
      got.push({ type: req.headers['content-type'], json: JSON.parse(body) });
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  d = await new Daemon({ set: [`workorders.webhook_urls=http://127.0.0.1:${port}/hook`, 'alarm.webhook_backoff=50ms'] }).start();
});
after(async () => { await d.stop(); server.close(); });

test('every work-order event reaches the webhook, retried after a failure', async () => {
  const token = await d.login();
  const r = await d.post('/api/v1/workorders', { title: '巡检', priority: 'P3', enterprise: 'E1' }, { token });
  assert.equal(r.status, 201, r.text);
  assert.equal((await d.post(`/api/v1/workorders/${r.json.id}/comment`, { text: '请今日处理' }, { token })).status, 200);
  await until(async () => got.length >= 2, { what: 'two webhook deliveries' });
  assert.equal(got[0].type, 'application/json');
  assert.deepEqual(got.map((g) => g.json.event), ['created', 'comment']);
  assert.equal(got[0].json.order.id, r.json.id);
  assert.equal(got[0].json.order.enterprise, 'E1');
});
