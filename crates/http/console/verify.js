// Checking one event against a signed checkpoint, with WebCrypto only: the C2SP signed
// note (Ed25519), the canonical record bytes (docs/format.md, "Canonical record bytes") and
// the RFC 9162 inclusion proof. No DOM here, so Node imports this file for its unit tests.

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();

/** The steps of a verification, in order; a failure names the step it failed at. */
export const STEPS = {
  key: 'pinned signer key',
  signature: 'checkpoint signature',
  coverage: 'event not yet in a signed checkpoint',
  proof: 'inclusion proof answer',
  record: 'record bytes match the event',
  path: 'audit path to the signed root',
};

/** A failed verification step; `step` is a key of STEPS. */
export class VerifyError extends Error {
  constructor(step, message) {
    super(`${STEPS[step]}: ${message}`);
    this.step = step;
  }
}

const fail = (step, message) => { throw new VerifyError(step, message); };

// ---- bytes ----

export function b64decode(text) {
  // atob accepts some non-canonical input; a bad character still throws, which is enough
  // here because every decoded value is then checked by hash or signature.
  const bin = atob(text.trim());
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function b64encode(bytes) {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export async function sha256(...parts) {
  return new Uint8Array(await subtle.digest('SHA-256', concat(...parts)));
}

// ---- C2SP signed notes and keys ----

/** First 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pubkey): the key hash of an Ed25519 note key. */
export async function keyHash(name, pub) {
  return (await sha256(utf8.encode(name), Uint8Array.of(0x0a, 0x01), pub)).slice(0, 4);
}

/** The verifier key text `name+hex8(keyhash)+base64(0x01 ‖ pubkey32)`, parsed and checked. */
export async function parseVkey(text) {
  // Only the first two '+' separate: base64 has '+' of its own.
  const m = /^([^+]*)\+([^+]*)\+(.+)$/.exec((text || '').trim());
  if (!m) fail('key', 'a signer key is <name>+<key hash>+<base64 key>');
  const [, name, id, b64] = m;
  if (!name || /\s/.test(name)) fail('key', 'the key name is empty or holds a space');
  if (!/^[0-9a-f]{8}$/.test(id)) fail('key', 'the key hash must be 8 hex digits');
  let raw;
  try { raw = b64decode(b64); } catch { fail('key', 'the key is not base64'); }
  if (raw.length !== 33 || raw[0] !== 0x01) fail('key', 'not an Ed25519 key (0x01 and 32 bytes)');
  const pub = raw.slice(1);
  const hash = await keyHash(name, pub);
  if (hex(hash) !== id) fail('key', 'the key hash does not match the name and key');
  return { name, hash, pub, text: text.trim() };
}

/** Builds the vkey text of a public key (used by the unit tests, and to show keys). */
export async function vkeyText(name, pub) {
  return `${name}+${hex(await keyHash(name, pub))}+${b64encode(concat(Uint8Array.of(1), pub))}`;
}

/**
 * Splits a signed note: `body` is the text up to and including the newline before the
 * blank line (what was signed), then the checkpoint's origin, size and root, then every
 * signature line as {name, hash, sig}.
 */
export function parseNote(note) {
  const split = note.indexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) fail('signature', 'not a signed note (no blank line, or no final newline)');
  const body = note.slice(0, split + 1);
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) fail('signature', 'the checkpoint needs an origin, a size and a root');
  const [origin, sizeText, rootText] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) fail('signature', `tree size ${JSON.stringify(sizeText)} is not a number`);
  let root;
  try { root = b64decode(rootText); } catch { fail('signature', 'the root is not base64'); }
  if (root.length !== 32) fail('signature', 'the root is not 32 bytes');
  const sigs = [];
  for (const line of note.slice(split + 2, -1).split('\n')) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) fail('signature', `malformed signature line ${JSON.stringify(line.slice(0, 40))}`);
    let blob;
    try { blob = b64decode(m[2]); } catch { continue; }
    if (blob.length === 68) sigs.push({ name: m[1], hash: blob.slice(0, 4), sig: blob.slice(4) });
  }
  return { body, origin, size: BigInt(sizeText), root, sigs };
}

/** The note's checkpoint if `vkey` (parsed by parseVkey) signed it; other signatures are ignored. */
export async function verifyNote(note, vkey) {
  const parsed = parseNote(note);
  const ours = parsed.sigs.filter((s) => s.name === vkey.name && equalBytes(s.hash, vkey.hash));
  if (ours.length === 0) {
    const names = parsed.sigs.map((s) => s.name).join(', ') || 'none';
    fail('signature', `no signature by the pinned key ${vkey.name} (signed by: ${names})`);
  }
  const key = await subtle.importKey('raw', vkey.pub, { name: 'Ed25519' }, false, ['verify']);
  for (const s of ours) {
    if (await subtle.verify({ name: 'Ed25519' }, key, s.sig, utf8.encode(parsed.body))) return parsed;
  }
  fail('signature', `the Ed25519 signature by ${vkey.name} does not verify`);
}

// ---- canonical record bytes ----

/** Text fields in presence-bit order (bits 1–20), then int fields (bits 21–24). */
export const TEXT_FIELDS = ['event_type', 'event_group', 'action', 'status', 'actor_type', 'actor_id',
  'source', 'resource_type', 'resource_id', 'session_id', 'vm_id', 'request_id', 'correlation_id',
  'http_method', 'path', 'ip_address', 'user_agent', 'node_ip', 'worker_id', 'error_message'];
export const INT_FIELDS = ['event_code', 'user_id', 'task_id', 'http_status'];
const LATENCY_BIT = 1 + TEXT_FIELDS.length + INT_FIELDS.length;
const PAYLOAD_BIT = LATENCY_BIT + 1;
const PRESENCE_MASK = 0x07ff_ffff;
const strict = new TextDecoder('utf-8', { fatal: true });

/** A reader over record bytes that names the offset of whatever it cannot read. */
class Reader {
  constructor(bytes) { this.b = bytes; this.at = 0; this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength); }
  need(n) { if (this.at + n > this.b.length) fail('record', `the record ends inside a field at byte ${this.at}`); }
  i64() { this.need(8); const v = this.view.getBigInt64(this.at, true); this.at += 8; return v; }
  u32() { this.need(4); const v = this.view.getUint32(this.at, true); this.at += 4; return v; }
  f64() { this.need(8); const v = this.view.getFloat64(this.at, true); this.at += 8; return v; }
  varint() {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      this.need(1);
      const b = this.b[this.at++];
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
    fail('record', `varint too long at byte ${this.at}`);
  }
  text() {
    const len = Number(this.varint());
    this.need(len);
    const s = this.b.subarray(this.at, this.at + len);
    this.at += len;
    try { return strict.decode(s); } catch { fail('record', `text at byte ${this.at - len} is not UTF-8`); }
  }
}

const unzigzag = (v) => (v >> 1n) ^ -(v & 1n);

/** Decodes canonical record bytes into {received_at, created_at (ns, BigInt), id?, fields…}. */
export function decodeRecord(bytes) {
  const r = new Reader(bytes);
  const rec = { received_at: r.i64(), created_at: r.i64() };
  const presence = r.u32();
  if (presence & ~PRESENCE_MASK) fail('record', 'unknown presence bits are set');
  const has = (bit) => (presence & (1 << bit)) !== 0;
  if (has(0)) rec.id = r.text();
  TEXT_FIELDS.forEach((f, i) => { if (has(1 + i)) rec[f] = r.text(); });
  INT_FIELDS.forEach((f, i) => { if (has(1 + TEXT_FIELDS.length + i)) rec[f] = unzigzag(r.varint()); });
  if (has(LATENCY_BIT)) rec.latency_ms = r.f64();
  if (has(PAYLOAD_BIT)) rec.event_payload = r.text();
  if (r.at !== bytes.length) fail('record', `${bytes.length - r.at} bytes left after the last field`);
  return rec;
}

/** Nanoseconds since the epoch as the server writes them: RFC 3339 UTC, trailing zeros cut. */
export function nanosToRfc3339(ns) {
  const sec = ns / 1_000_000_000n - (ns % 1_000_000_000n < 0n ? 1n : 0n);
  const frac = ns - sec * 1_000_000_000n;
  const iso = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  const digits = frac === 0n ? '' : '.' + frac.toString().padStart(9, '0').replace(/0+$/, '');
  return `${iso}${digits}Z`;
}

/** Fields of an API event that the record does not hold. */
const DERIVED = new Set(['seq']);

/**
 * Every difference between decoded record `rec` and the event as shown (`event`, the API's
 * JSON at `seq`), as readable strings; empty when they are the same event.
 */
export function compareRecord(rec, event, seq) {
  const diffs = [];
  const differ = (name, shown, stored) => diffs.push(`${name}: shown ${JSON.stringify(shown)}, record holds ${JSON.stringify(stored)}`);
  if (BigInt(event.seq) !== BigInt(seq)) differ('seq', event.seq, seq);
  const id = rec.id ?? `annal:${seq}`;
  if (event.id !== id) differ('id', event.id, id);
  for (const t of ['created_at', 'received_at']) {
    const stored = nanosToRfc3339(rec[t]);
    if (event[t] !== stored) differ(t, event[t], stored);
  }
  for (const f of TEXT_FIELDS) if (event[f] !== rec[f]) differ(f, event[f], rec[f]);
  for (const f of INT_FIELDS) {
    // JSON numbers past 2^53 lose digits in the browser; compare as the parser would read the record's.
    const stored = rec[f] === undefined ? undefined : Number(rec[f]);
    if (event[f] !== stored) differ(f, event[f], rec[f]?.toString());
  }
  if (event.latency_ms !== rec.latency_ms) differ('latency_ms', event.latency_ms, rec.latency_ms);
  // Both sides through the same parser: the API writes the stored canonical text verbatim.
  const shownPayload = event.event_payload === undefined ? undefined : JSON.stringify(event.event_payload);
  let storedPayload;
  try { storedPayload = rec.event_payload === undefined ? undefined : JSON.stringify(JSON.parse(rec.event_payload)); } catch { storedPayload = rec.event_payload; }
  if (shownPayload !== storedPayload) differ('event_payload', shownPayload, storedPayload);
  const known = new Set(['id', 'created_at', 'received_at', 'latency_ms', 'event_payload', ...TEXT_FIELDS, ...INT_FIELDS, ...DERIVED]);
  for (const k of Object.keys(event)) if (!known.has(k)) diffs.push(`${k}: shown but no such field in the record format`);
  return diffs;
}

// ---- Merkle tree (RFC 6962 / RFC 9162) ----

export const leafHash = (record) => sha256(Uint8Array.of(0x00), record);
export const nodeHash = (l, r) => sha256(Uint8Array.of(0x01), l, r);

/** RFC 9162 §2.1.3.2: the root that `path` gives for leaf `index` of a tree of `size`. */
export async function rootFromInclusion(index, size, leaf, path) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (fn > sn) fail('path', `leaf ${index} is outside a tree of ${size}`);
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) fail('path', 'the audit path is longer than the tree is deep');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) fail('path', 'the audit path is shorter than the tree is deep');
  return r;
}

/** The RFC 6962 root of a list of leaf inputs (for tests and small checks). */
export async function merkleRoot(leaves) {
  if (leaves.length === 0) return sha256();
  if (leaves.length === 1) return leafHash(leaves[0]);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(await merkleRoot(leaves.slice(0, k)), await merkleRoot(leaves.slice(k)));
}

/** The RFC 6962 audit path of leaf `m` among `leaves` (for tests). */
export async function auditPath(m, leaves) {
  if (leaves.length <= 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return m < k
    ? [...await auditPath(m, leaves.slice(0, k)), await merkleRoot(leaves.slice(k))]
    : [...await auditPath(m - k, leaves.slice(k)), await merkleRoot(leaves.slice(0, k))];
}

// ---- the whole check ----

/**
 * Checks that `event` (API JSON) is included in the checkpoint `note` signed by `vkeyText`,
 * with `fetchProof(seq, size)` giving the server's inclusion proof JSON. Resolves to
 * {seq, size, origin, signer, root} or rejects with a VerifyError naming the step.
 */
export async function verifyEvent({ event, note, vkeyText: pinned, fetchProof }) {
  if (!pinned) fail('key', 'no signer key is pinned');
  const vkey = await parseVkey(pinned);
  const cp = await verifyNote(note, vkey);
  const seq = BigInt(event.seq);
  if (seq >= cp.size) fail('coverage', `seq ${seq} is not in the newest checkpoint (size ${cp.size}); try again after the next checkpoint`);
  const proof = await fetchProof(seq, cp.size);
  let leafInput, path;
  try {
    if (BigInt(proof.leaf_index) !== seq || BigInt(proof.tree_size) !== cp.size) throw new Error('for another leaf or size');
    leafInput = b64decode(proof.leaf_input);
    path = proof.audit_path.map(b64decode);
  } catch (e) {
    fail('proof', `the proof is malformed (${e.message})`);
  }
  const diffs = compareRecord(decodeRecord(leafInput), event, seq);
  if (diffs.length) fail('record', `the signed record differs from the event shown: ${diffs.join('; ')}`);
  if (path.some((h) => h.length !== 32)) fail('path', 'a hash of the audit path is not 32 bytes');
  const root = await rootFromInclusion(seq, cp.size, await leafHash(leafInput), path);
  if (!equalBytes(root, cp.root)) fail('path', `the audit path leads to ${b64encode(root)}, not the signed root ${b64encode(cp.root)}`);
  return { seq, size: cp.size, origin: cp.origin, signer: vkey.name, root: b64encode(cp.root) };
}
