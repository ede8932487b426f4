// Witnessing between two daemons (c2sp.org/tlog-witness): park A pushes each new checkpoint to
// park B, which cosigns it only when it is consistent with what B holds; A serves the
// cosignature with its checkpoint. The cosignature is checked here with node's own Ed25519
// (c2sp.org/tlog-cosignature v1), the Go checker still accepts the cosigned checkpoint, and after
// A is killed it catches B up with a consistency proof.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, Daemon, cli, until } from './harness.mjs';
import { frame, local14, qnOf, Station } from './hj212lib.mjs';

const MN = '010000A8900016F000169DC0';
const GO = path.join(path.dirname(BIN), 'tests', 'archivecheck');
let a, b, vkeyA, wvkeyB, tokA;

before(async () => {
  a = new Daemon({ set: ['archive.park_id=A', 'archive.checkpoint_interval=1s'] });
  writeFileSync(`${a.dir}-archive.key`, randomBytes(32), { mode: 0o600 });
  const v = cli(['archive', 'vkey', '--data', a.dir, '--set', 'archive.park_id=A']);
  assert.equal(v.status, 0, v.stderr);
  vkeyA = v.stdout.trim();
  b = await new Daemon({ set: ['archive.park_id=B', `archive.witness_for=${vkeyA}`] }).start();
  wvkeyB = (await b.get('/archive/witness/vkey')).text.trim();
  a.extraSet.push(`archive.witnesses=${b.base}/archive/witness ${wvkeyB}`);
  await a.start();
  tokA = await a.login();
});
after(async () => { await a.stop(); await b.stop(); });

async function feed(n, from) {
  const st = new Station(a.ports.hj212);
  await st.connect();
  for (let i = 0; i < n; i++) {
    const ts = Date.UTC(2026, 10, 25, 0, 0, from + i);
    await st.write(frame(`QN=${qnOf(ts)};ST=22;CN=2011;PW=123456;MN=${MN};Flag=5;CP=&&DataTime=${local14(ts)};a21026-Rtd=${i},a21026-Flag=N&&`));
    await st.next(/CN=9014/);
  }
  st.close();
}

// the checkpoint of A once B's cosignature is on it, for a tree of at least n leaves
const cosigned = (n) => until(async () => {
  const r = await a.get('/archive/checkpoint', { token: tokA });
  const size = Number(r.text.split('\n')[1]);
  return size >= n && r.text.includes('\n\u2014 witness.parkwatch.B ') && r.text;
}, { what: 'a cosigned checkpoint', timeout: 20000 });

function checkCosignature(note) {
  const sep = note.indexOf('\n\n');
  const text = note.slice(0, sep + 1);
  const line = note.split('\n').find((l) => l.startsWith('\u2014 witness.parkwatch.B '));
  const payload = Buffer.from(line.split(' ')[2], 'base64');
  assert.equal(payload.length, 76);
  const [, id, key] = /^[^+]+\+([0-9a-f]{8})\+(.+)$/.exec(wvkeyB);
  assert.equal(payload.subarray(0, 4).toString('hex'), id);
  const raw = Buffer.from(key, 'base64');
  assert.equal(raw[0], 4); // cosignature key type
  const pk = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.subarray(1).toString('base64url') }, format: 'jwk' });
  const t = payload.readBigUInt64BE(4);
  assert.ok(Math.abs(Number(t) - Date.now() / 1000) < 120);
  const msg = Buffer.from(`cosignature/v1\ntime ${t}\n${text}`);
  assert.ok(verify(null, msg, pk, payload.subarray(12)), 'Ed25519 cosignature verifies');
}

test('B cosigns A\'s checkpoints; the cosignature verifies; the Go checker accepts the cosigned note', async () => {
  await feed(5, 0);
  const note = await cosigned(11);
  checkCosignature(note);
  const g = spawnSync(GO, ['-vkey', vkeyA, '-url', a.base, '-token', tokA], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  // B holds A's size: a push claiming B holds nothing is refused with the size B holds
  const cp = (await a.get('/archive/checkpoint', { token: tokA })).text;
  const r = await b.post('/archive/witness/add-checkpoint', `old 0\n\n${cp}`);
  assert.equal(r.status, 409);
  assert.match(r.text, /^\d+\n$/);
  assert.equal(r.headers.get('content-type'), 'text/x.tlog.size');
  assert.equal((await b.post('/archive/witness/add-checkpoint', 'nonsense')).status, 400);
  assert.equal((await a.post('/archive/witness/add-checkpoint', `old 0\n\n${cp}`)).status, 404); // A is no witness
});

test('after a SIGKILL A catches B up with a consistency proof', async () => {
  const before = Number((await a.get('/archive/checkpoint', { token: tokA })).text.split('\n')[1]);
  await a.restart('SIGKILL');
  tokA = await a.login();
  await feed(4, 100);
  const note = await cosigned(before + 8);
  checkCosignature(note);
  const m = await a.get('/metrics');
  assert.match(m.text, /parkwatch_archive_cosignatures_total [1-9]/);
});
