// ---- verify.js, offline: a tree of a few records built here, a note signed by a key made here ----
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as V from '../../crates/http/console/verify.js';

const enc = new TextEncoder();
function varint(v) { const o = []; v = BigInt(v); while (v >= 0x80n) { o.push(Number(v & 0x7fn) | 0x80); v >>= 7n; } o.push(Number(v)); return o; }
const zigzag = (v) => { v = BigInt(v); return v >= 0n ? v << 1n : ((-v) << 1n) - 1n; };
function text(s) { const b = enc.encode(s); return [...varint(b.length), ...b]; }
function i64(v) { const b = new Uint8Array(8); new DataView(b.buffer).setBigInt64(0, BigInt(v), true); return [...b]; }
/** An independent encoder of docs/format.md "Canonical record bytes", for the known answers. */
function encode(e) {
  let presence = 0; const body = [];
  if (e.id) { presence |= 1; body.push(...text(e.id)); }
  V.TEXT_FIELDS.forEach((f, i) => { if (e[f] !== undefined) { presence |= 1 << (1 + i); body.push(...text(e[f])); } });
  V.INT_FIELDS.forEach((f, i) => { if (e[f] !== undefined) { presence |= 1 << (21 + i); body.push(...varint(zigzag(e[f]))); } });
  if (e.latency_ms !== undefined) { presence |= 1 << 25; const b = new Uint8Array(8); new DataView(b.buffer).setFloat64(0, e.latency_ms, true); body.push(...b); }
  if (e.event_payload !== undefined) { presence |= 1 << 26; body.push(...text(JSON.stringify(e.event_payload))); }
  const p = new Uint8Array(4); new DataView(p.buffer).setUint32(0, presence, true);
  return Uint8Array.from([...i64(e.rx), ...i64(e.cx), ...p, ...body]);
}
const base = 1_770_000_000_123_456_789n;
const events = Array.from({ length: 7 }, (_, i) => ({
  seq: i, id: i % 2 ? `evt-${i}` : `annal:${i}`, rx: base + BigInt(i), cx: base - 1_000_000_000n * BigInt(i),
  created_at: V.nanosToRfc3339(base - 1_000_000_000n * BigInt(i)), received_at: V.nanosToRfc3339(base + BigInt(i)),
  event_type: 'Login Failed', event_code: 101, status: 'failure', actor_id: `user-${i}`, user_id: -i, latency_ms: 1.5 * i,
  event_payload: { b: [1, 2], a: 'x' },
}));
const records = events.map((e) => encode({ ...e, id: e.id.startsWith('annal:') ? undefined : e.id }));
const shown = (e) => { const { rx, cx, ...rest } = e; return rest; };

async function signedNote(name, size, root, keyPair) {
  const body = `example.test/log\n${size}\n${V.b64encode(root)}\n`;
  const pub = new Uint8Array(await crypto.subtle.exportKey('raw', keyPair.publicKey));
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, keyPair.privateKey, enc.encode(body)));
  const blob = new Uint8Array([...(await V.keyHash(name, pub)), ...sig]);
  return { note: `${body}\n\u2014 ${name} ${V.b64encode(blob)}\n`, vkey: await V.vkeyText(name, pub) };
}
const makeKey = () => crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);

describe('verify.js (offline known answers)', () => {
  test('RFC 6962 root of one and two leaves', async () => {
    const a = enc.encode('a'), b = enc.encode('b');
    assert.equal(V.hex(await V.merkleRoot([])), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const la = await V.sha256(Uint8Array.of(0), a), lb = await V.sha256(Uint8Array.of(0), b);
    assert.deepEqual(await V.merkleRoot([a, b]), await V.sha256(Uint8Array.of(1), la, lb));
  });
  test('record bytes decode to the event, and a changed field is named', () => {
    const rec = V.decodeRecord(records[3]);
    assert.deepEqual(V.compareRecord(rec, shown(events[3]), 3), []);
    const diffs = V.compareRecord(rec, { ...shown(events[3]), actor_id: 'mallory' }, 3);
    assert.equal(diffs.length, 1);
    assert.match(diffs[0], /^actor_id/);
    assert.throws(() => V.decodeRecord(records[3].slice(0, -1)), /record/);
  });
  test('every leaf of trees of 1..7 leaves verifies; a changed hash does not', async () => {
    for (let n = 1; n <= 7; n++) {
      const root = await V.merkleRoot(records.slice(0, n));
      for (let m = 0; m < n; m++) {
        const path = await V.auditPath(m, records.slice(0, n));
        assert.deepEqual(await V.rootFromInclusion(m, n, await V.leafHash(records[m]), path), root);
        if (path.length) {
          path[0] = path[0].map((b, i) => (i ? b : b ^ 1));
          assert.notDeepEqual(await V.rootFromInclusion(m, n, await V.leafHash(records[m]), path), root);
        }
      }
    }
  });
  test('verifyEvent: green, then each step failing by name', async () => {
    const n = 7, keys = await makeKey();
    const root = await V.merkleRoot(records);
    const { note, vkey } = await signedNote('example.test', n, root, keys);
    const fetchProof = async (seq, size) => ({ leaf_index: Number(seq), tree_size: Number(size), leaf_input: V.b64encode(records[Number(seq)]),
      audit_path: (await V.auditPath(Number(seq), records)).map(V.b64encode) });
    const ok = await V.verifyEvent({ event: shown(events[5]), note, vkeyText: vkey, fetchProof });
    assert.equal(ok.seq, 5n); assert.equal(ok.size, 7n); assert.equal(ok.signer, 'example.test');
    const step = async (args) => { try { await V.verifyEvent({ event: shown(events[5]), note, vkeyText: vkey, fetchProof, ...args }); return 'ok'; } catch (e) { return e.step; } };
    const other = await signedNote('example.test', n, root, await makeKey());
    assert.equal(await step({ vkeyText: other.vkey }), 'signature');
    assert.equal(await step({ note: note.replace(`\n${n}\n`, `\n${n - 1}\n`) }), 'signature');
    assert.equal(await step({ vkeyText: vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+') }), 'key');
    assert.equal(await step({ event: shown(events[6]), note: (await signedNote('example.test', 6, await V.merkleRoot(records.slice(0, 6)), keys)).note }), 'coverage');
    assert.equal(await step({ event: { ...shown(events[5]), status: 'success' } }), 'record');
    const bent = async (s, z) => { const p = await fetchProof(s, z); p.audit_path[1] = V.b64encode(new Uint8Array(32)); return p; };
    assert.equal(await step({ fetchProof: bent }), 'path');
  });
  test('nanosToRfc3339 trims like the server', () => {
    assert.equal(V.nanosToRfc3339(0n), '1970-01-01T00:00:00Z');
    assert.equal(V.nanosToRfc3339(1_500_000_000n), '1970-01-01T00:00:01.5Z');
    assert.equal(V.nanosToRfc3339(1n), '1970-01-01T00:00:00.000000001Z');
  });
});
