// sigstore-check: verifies a parkwatch archive receipt (c2sp.org/tlog-proof@v1) with Sigstore's
// verifier (npm @sigstore/verify 3.1.1, pinned: its tlog/checkpoint.js and tlog/merkle.js are
// internal files): the checkpoint's signature by the log's key and the inclusion proof of the
// leaf. Sigstore has no consistency proofs.
//
//   node tests/verifiers/sigstore-check.mjs --vkey VKEY --receipt FILE --leaf FILE
//   import { verifyReceipt } from './sigstore-check.mjs'  // throws on anything wrong
import { createRequire } from 'node:module';
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { verifyCheckpoint } = require('@sigstore/verify/dist/tlog/checkpoint.js');
const { verifyMerkleInclusion } = require('@sigstore/verify/dist/tlog/merkle.js');

// name+<8 hex key ID>+base64(0x01 || Ed25519 public key) -> Sigstore's trusted log material
export function tlogOfVkey(vkey) {
  // the base64 key may itself contain '+': split at the first two only
  const m = /^([^+]+)\+([^+]*)\+(.*)$/.exec(vkey.trim()) || [];
  const [, name, id, b64] = m;
  const raw = Buffer.from(b64 || '', 'base64');
  if (!name || !/^[0-9a-f]{8}$/.test(id || '') || raw.length !== 33 || raw[0] !== 1) {
    throw new Error(`not a verifier key: ${vkey}`);
  }
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: raw.subarray(1).toString('base64url') };
  return {
    name,
    // the note signature's key hint is the c2sp key ID; Sigstore matches it with the log ID
    logID: Buffer.from(id, 'hex'),
    baseURL: `https://${name}`,
    publicKey: createPublicKey({ key: jwk, format: 'jwk' }),
  };
}

export function parseReceipt(text) {
  const sep = text.indexOf('\n\n');
  if (sep < 0) throw new Error('receipt: no empty line before the checkpoint');
  const lines = text.slice(0, sep).split('\n');
  if (lines[0] !== 'c2sp.org/tlog-proof@v1') throw new Error('receipt: not c2sp.org/tlog-proof@v1');
  let i = 1;
  if (lines[i]?.startsWith('extra ')) i++;
  const m = /^index (\d+)$/.exec(lines[i] || '');
  if (!m) throw new Error('receipt: no index line');
  const hashes = lines.slice(i + 1).map((l) => {
    const h = Buffer.from(l, 'base64');
    if (h.length !== 32 || h.toString('base64') !== l) throw new Error(`receipt: bad hash line ${l}`);
    return h;
  });
  return { index: m[1], hashes, checkpoint: text.slice(sep + 2) };
}

// Throws unless the receipt's checkpoint is signed by vkey's key with the log's origin and the
// leaf is included at the receipt's index.
export function verifyReceipt(vkey, receiptText, leaf) {
  const tlog = tlogOfVkey(vkey);
  const r = parseReceipt(receiptText);
  const entry = {
    inclusionProof: { logIndex: r.index, hashes: r.hashes, checkpoint: { envelope: r.checkpoint } },
    canonicalizedBody: leaf,
  };
  const cp = verifyCheckpoint(entry, [tlog]);
  if (cp.origin !== tlog.name) throw new Error(`checkpoint origin ${cp.origin} is not ${tlog.name}`);
  verifyMerkleInclusion(entry, cp);
  return { index: Number(r.index), size: Number(cp.logSize) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (n) => { const i = process.argv.indexOf(n); return i > 0 ? process.argv[i + 1] : undefined; };
  const vkey = arg('--vkey'), receipt = arg('--receipt'), leaf = arg('--leaf');
  if (!vkey || !receipt || !leaf) {
    console.error('usage: node sigstore-check.mjs --vkey VKEY --receipt FILE --leaf FILE');
    process.exit(2);
  }
  try {
    const r = verifyReceipt(vkey, readFileSync(receipt, 'utf8'), readFileSync(leaf));
    console.log(`OK index=${r.index} size=${r.size}`);
  } catch (e) {
    console.error(`sigstore-check: ${e.message}`);
    process.exit(1);
  }
}
