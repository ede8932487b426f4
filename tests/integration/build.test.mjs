// The build from a fresh checkout: `make -j2` must not compile while scripts/deps.sh is still
// installing what the compiler needs. Checked with the real Makefile on a stand-in tree whose
// deps.sh takes a second to produce a header that the only source file includes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './harness.mjs';

test('make -j2 waits for scripts/deps.sh before compiling', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pw-mk-'));
  try {
    copyFileSync(path.join(ROOT, 'Makefile'), path.join(dir, 'Makefile'));
    for (const d of ['scripts', 'src', 'tests/integration']) mkdirSync(path.join(dir, d), { recursive: true });
    writeFileSync(path.join(dir, 'scripts/deps.sh'), '#!/bin/sh\nsleep 1\necho "#define GENERATED 0" > src/generated.h\n');
    chmodSync(path.join(dir, 'scripts/deps.sh'), 0o755);
    copyFileSync(path.join(ROOT, 'scripts/check-layering.sh'), path.join(dir, 'scripts/check-layering.sh'));
    chmodSync(path.join(dir, 'scripts/check-layering.sh'), 0o755);
    writeFileSync(path.join(dir, 'src/main.c'), '#include "generated.h"\nint main(void) { return GENERATED; }\n');
    writeFileSync(path.join(dir, 'tests/integration/modbus_server.c'), 'int main(void) { return 0; }\n');
    mkdirSync(path.join(dir, 'tests/verifiers/archivecheck'), { recursive: true });
    writeFileSync(path.join(dir, 'tests/verifiers/archivecheck/main.go'), 'package main\n\nfunc main() {}\n');
    const r = spawnSync('make', ['-j2'], { cwd: dir, encoding: 'utf8', timeout: 120000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(spawnSync(path.join(dir, 'build/parkwatch')).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
