// Ports handed to child processes. The e2e scenario once reported a red `gas E04-GD-068.cl2`
// that the scenario never plays: freePort() had given two of the demo's Modbus controllers
// (15026 and 15050) the same port, the simulator merged them into one register map, and the
// drifting E24-GD-032.nh3 (register 62 of the other controller) was read as E04-GD-068's chlorine.
// freePort() now never repeats itself within a process, and the simulator refuses a model in
// which two points share a register of one controller, naming both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, cli, freePort } from './harness.mjs';

test('freePort never hands out the same port twice', async () => {
  // 3,000 probes over the kernel's ~14,000 bind ports: repeats are certain if it does not remember
  const seen = new Set();
  for (let i = 0; i < 3000; i++) {
    const p = await freePort();
    assert.ok(!seen.has(p), `port ${p} handed out twice (after ${i} others)`);
    seen.add(p);
  }
});

test('the simulator refuses two points on one register of a controller, naming both', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-ports-'));
  try {
    // the demo park with its controllers 15026 and 15050 on one port, as the duplicate port made it
    const park = JSON.parse(readFileSync(path.join(ROOT, 'demo/park.json'), 'utf8'));
    const port = await freePort();
    const other = new Map();
    for (const dev of park.devices) {
      if (!dev.modbus) continue;
      if (dev.modbus.port === 15026 || dev.modbus.port === 15050) dev.modbus.port = port;
      else {
        if (!other.has(dev.modbus.port)) other.set(dev.modbus.port, await freePort());
        dev.modbus.port = other.get(dev.modbus.port);
      }
    }
    const model = path.join(dir, 'park.json');
    writeFileSync(model, JSON.stringify(park));
    const r = cli(['sim', '--park', model, '--duration', '1s', '--speed', '1']);
    assert.notEqual(r.status, 0, r.stderr);
    assert.match(r.stderr, /two points on one Modbus register/);
    assert.match(r.stderr, new RegExp(`controller=127\\.0\\.0\\.1:${port} `));
    assert.match(r.stderr, /points=E04-GD-\d+\.\w+,E24-GD-\d+\.\w+/);

    // the same park on distinct ports plays
    for (const dev of park.devices) if (dev.modbus && dev.modbus.port === port && dev.enterprise === 'E24') dev.modbus.port = await freePort();
    writeFileSync(model, JSON.stringify(park));
    const ok = cli(['sim', '--park', model, '--duration', '1s', '--speed', '60']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.doesNotMatch(ok.stderr, /two points/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
