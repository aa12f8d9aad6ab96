// ---- verify.js, offline: a tree of a few records built here, a note signed by a key made here ----
import { test, describe, before, after, afterEach } from 'node:test';
import fs from 'node:fs';
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

// ---- the console in a real browser, against a real server (tests/console/run.sh starts it) ----

const URL_ = process.env.ANNAL_URL;
const KEY = { admin: process.env.ANNAL_ADMIN_KEY, auditor: process.env.ANNAL_AUDITOR_KEY, reader: process.env.ANNAL_READER_KEY, producer: process.env.ANNAL_PRODUCER_KEY };
const SHOTS = process.env.ANNAL_SHOTS;

describe('console in chromium', { skip: URL_ ? false : 'ANNAL_URL unset: run tests/console/run.sh' }, () => {
  let browser;
  let shot = 0;
  const errors = [];

  before(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });
  after(async () => { await browser?.close(); });

  /** A fresh context (its own session storage), signed in with `role`'s key. */
  async function open(role, { viewport = { width: 1280, height: 800 }, query = '', wait = true } = {}) {
    const context = await browser.newContext({ viewport, timezoneId: 'Europe/Berlin', acceptDownloads: true, locale: 'en-GB' });
    const page = await context.newPage();
    page.setDefaultTimeout(10e3);
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    // A CSP refusal shows up only here: any means the console broke its own policy.
    page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused/.test(m.text())) errors.push(m.text()); });
    await page.goto(`${URL_}/${query}`);
    await page.locator('#signin-key').fill(KEY[role]);
    await page.locator('#signin-form button[type=submit]').click();
    await page.locator('#who-role').filter({ hasText: role }).waitFor();
    if (wait && role !== 'producer') await loaded(page);
    return page;
  }

  /** Waits until the table shows the answer of the page's newest request, and the count. */
  async function loaded(page) {
    await page.waitForFunction(() => document.body.dataset.loaded && document.querySelector('#count').textContent);
  }

  async function snap(page, name) {
    shot += 1;
    await page.screenshot({ path: `${SHOTS}/${String(shot).padStart(2, '0')}-${name}.png` });
  }

  async function api(path, { key = KEY.admin, ...init } = {}) {
    const r = await fetch(`${URL_}${path}`, { ...init, headers: { 'X-API-Key': key, 'Content-Type': 'application/json', ...init.headers } });
    if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return (r.headers.get('content-type') || '').includes('json') ? r.json() : r.text();
  }

  const seqs = (page) => page.locator('#rows tr th').allTextContents();
  const qs = (o) => new URLSearchParams(o).toString();

  afterEach(() => {
    const found = errors.splice(0);
    assert.deepEqual(found, [], 'no page errors and no CSP refusals');
  });

  test('sign in: overview with histogram and table', async () => {
    const page = await open('admin');
    await page.locator('.chart svg .bar').first().waitFor();
    const { count } = await api('/v1/events/count');
    assert.equal(await page.locator('#count').textContent(), `${count.toLocaleString('en')} matches`);
    assert.equal(await page.locator('#rows tr').count(), 50);
    assert.ok(await page.locator('#legend li').count() >= 2, 'a legend of the stacked statuses');
    await snap(page, 'overview');
    if (process.env.ANNAL_DOCS_PNG) await page.screenshot({ path: process.env.ANNAL_DOCS_PNG });
    await page.context().close();
  });

  test('filter by event type and time range: table and count as the API answers', async () => {
    const { groups } = await api('/v1/events/count?group_by=event_type&limit=3');
    const type = groups[0].value;
    const hist = await api(`/v1/events/histogram?${qs({ event_type: type, interval: 'day' })}`);
    // Most of the days, but not all: the range must cut.
    const from = hist.buckets[2].start, to = hist.buckets[hist.buckets.length - 3].start;
    const page = await open('admin');
    await page.locator('#f-event_type').fill(type);
    await page.locator('#f-range').selectOption('custom');
    // datetime-local holds local time: let the page's own zone (Europe/Berlin) convert.
    const local = (iso) => page.evaluate((t) => { const d = new Date(t); const p = (n) => String(n).padStart(2, '0'); return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; }, iso);
    await page.locator('#f-from').fill(await local(from));
    await page.locator('#f-to').fill(await local(to));
    await page.locator('#filters button[type=submit]').click();
    await page.waitForURL(/event_type=/);
    await loaded(page);
    const filter = { event_type: type, from: new Date(from).toISOString(), to: new Date(to).toISOString() };
    const { count } = await api(`/v1/events/count?${qs(filter)}`);
    const want = await api(`/v1/events?${qs({ ...filter, limit: 50 })}`);
    assert.ok(count > 100, `enough matches for two pages (${count})`);
    await page.waitForFunction((c) => document.querySelector('#count').textContent === c, `${count.toLocaleString('en')} matches`);
    assert.deepEqual(await seqs(page), want.items.map((e) => String(e.seq)));
    const types = await page.locator('#rows tr td:nth-child(3)').allTextContents();
    assert.ok(types.every((t) => t === type), 'every row of that type');
    assert.match(await page.locator('#range-shown').textContent(), /UTC .* \(Europe\/Berlin\)/);
    await snap(page, 'filtered');
    // The view is in the URL: a reload shows the same.
    await page.reload();
    await loaded(page);
    assert.deepEqual(await seqs(page), want.items.map((e) => String(e.seq)));
    assert.equal(await page.locator('#f-event_type').inputValue(), type);

    // Paging: older rows differ; newer brings back the same rows; back/forward follow.
    const first = await seqs(page);
    await page.locator('#older').click();
    await page.waitForURL(/cursor=/);
    await page.waitForFunction((f) => document.querySelector('#rows tr th')?.textContent !== f, first[0]);
    const second = await seqs(page);
    assert.equal(second.length, 50);
    assert.ok(Number(second[0]) < Number(first[49]), 'the next page is older');
    await snap(page, 'page-2');
    await page.locator('#newer').click();
    await page.waitForFunction((f) => document.querySelector('#rows tr th')?.textContent === f, first[0]);
    assert.deepEqual(await seqs(page), first);
    await page.goBack();
    await page.waitForFunction((f) => document.querySelector('#rows tr th')?.textContent === f, second[0]);
    assert.deepEqual(await seqs(page), second);
    await page.context().close();
  });

  test('paging a range that counts back from now freezes it, so the cursor stays valid', async () => {
    await api('/v1/events', { method: 'POST', body: JSON.stringify(Array.from({ length: 60 }, (_, i) => ({ event_code: 202, source: 'console-test', actor_id: `recent-${i}` }))) });
    const page = await open('reader', { query: '?range=1h&limit=25' });
    const first = await seqs(page);
    assert.equal(first.length, 25);
    await page.locator('#older').click();
    await page.waitForURL(/cursor=/);
    await page.waitForFunction((f) => document.querySelector('#rows tr th')?.textContent !== f, first[0]);
    assert.equal(await page.locator('#alert').textContent(), '');
    const u = new URL(page.url());
    assert.ok(u.searchParams.get('from') && !u.searchParams.has('range'), page.url());
    assert.equal(await page.locator('#f-range').inputValue(), 'custom');
    await page.context().close();
  });

  test('histogram: a click and Enter on a bar narrow the range to its bucket', async () => {
    const page = await open('admin');
    const bar = page.locator('.chart .bar').nth(3);
    const start = Number(await bar.getAttribute('data-start'));
    await bar.click();
    await page.waitForURL(/from=/);
    await loaded(page);
    const interval = await page.locator('.chart svg').getAttribute('data-interval');
    const u = new URL(page.url());
    assert.equal(Date.parse(u.searchParams.get('from')), start);
    const { count } = await api(`/v1/events/count?${qs({ from: u.searchParams.get('from'), to: u.searchParams.get('to') })}`);
    await page.waitForFunction((c) => document.querySelector('#count').textContent === c, `${count.toLocaleString('en')} matches`);
    assert.ok(interval, 'the chart says its interval');
    await snap(page, 'bucket-picked');
    // Keyboard: focus the first bar, move right, Enter.
    await page.locator('.chart .bar').first().focus();
    await page.keyboard.press('ArrowRight');
    const next = Number(await page.evaluate(() => document.activeElement.dataset.start));
    await page.keyboard.press('Enter');
    await page.waitForFunction((t) => Date.parse(new URL(location.href).searchParams.get('from')) === t, next);
    await page.context().close();
  });

  test('histogram: dragging across bars narrows the range to the dragged span', async () => {
    const page = await open('admin');
    const bars = page.locator('.chart .bar');
    const [first, last] = [bars.nth(2), bars.nth(6)];
    const from = Number(await first.getAttribute('data-start'));
    const lastStart = Number(await last.getAttribute('data-start'));
    const a = await first.boundingBox();
    const b = await last.boundingBox();
    await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
    await page.mouse.down();
    await page.mouse.move((a.x + b.x) / 2, a.y + a.height / 2, { steps: 5 });
    await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction((t) => Date.parse(new URL(location.href).searchParams.get('from')) === t, from);
    await loaded(page);
    const u = new URL(page.url());
    const to = Date.parse(u.searchParams.get('to'));
    assert.ok(to > lastStart, 'the span ends after the last dragged bucket starts');
    const { count } = await api(`/v1/events/count?${qs({ from: u.searchParams.get('from'), to: u.searchParams.get('to') })}`);
    await page.waitForFunction((c) => document.querySelector('#count').textContent === c, `${count.toLocaleString('en')} matches`);
    await snap(page, 'span-dragged');
    await page.context().close();
  });

  test('any-field condition with not, stacking field and columns: all in the URL, kept on reload', async () => {
    const page = await open('reader');
    await page.locator('#any-add').click();
    const row = page.locator('.any-row').last();
    await row.locator('select').selectOption('status');
    await row.locator('input[aria-label=Value]').fill('success');
    await row.locator('input[type=checkbox]').check();
    await page.locator('#filters button[type=submit]').click();
    await page.waitForURL(/not\.status=success/);
    await loaded(page);
    const { count } = await api('/v1/events/count?not.status=success');
    await page.waitForFunction((c) => document.querySelector('#count').textContent === c, `${count.toLocaleString('en')} matches`);
    await page.locator('#by').selectOption('source');
    await page.waitForURL(/by=source/);
    await page.locator('#columns summary').click();
    await page.locator('#column-list input[value=user_id]').check();
    await page.locator('#column-list input[value=resource_id]').uncheck();
    await page.waitForURL(/cols=/);
    await page.reload();
    await loaded(page);
    const head = await page.locator('#head th').allTextContents();
    assert.ok(head.includes('user_id') && !head.includes('resource_id'), head.join());
    assert.equal(await page.locator('#by').inputValue(), 'source');
    assert.equal(await page.locator('.any-row input[type=checkbox]').isChecked(), true);
    const { groups } = await api('/v1/events/count?not.status=success&group_by=source&limit=1');
    assert.equal(await page.locator('#legend li').first().textContent(), String(groups[0].value), 'stacked by source, largest first');
    await snap(page, 'not-status-by-source');
    // Signing out forgets the key.
    await page.locator('#sign-out').click();
    await page.locator('#signin').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('annal.apiKey')), null);
    await page.context().close();
  });

  async function openFirstEvent(page) {
    await page.locator('#rows tr').first().click();
    await page.locator('#detail[open]').waitFor();
    return Number((await page.locator('#detail-h').textContent()).match(/seq (\d+)/)[1]);
  }

  async function verifyIn(page, pinned) {
    await page.locator('#pinned').fill(pinned);
    await page.locator('#pin-save').click();
    await page.locator('#verify').click();
    await page.waitForFunction(() => !['running', undefined].includes(document.querySelector('#verify-result').dataset.step));
    return { step: await page.locator('#verify-result').getAttribute('data-step'), text: await page.locator('#verify-result').textContent() };
  }

  test('verify in the browser: green, with the seq and the checkpoint size', async () => {
    const note = await api('/v1/checkpoint', { key: KEY.auditor });
    const size = Number(note.split('\n')[1]);
    const page = await open('auditor', { query: `?to=${new Date(Date.now() - 3600e3).toISOString()}` });
    const seq = await openFirstEvent(page);
    const r = await verifyIn(page, process.env.ANNAL_SIGNER_KEY);
    assert.equal(r.step, 'ok', r.text);
    assert.match(r.text, new RegExp(`Included at seq ${seq} in checkpoint of size ${size} signed by `));
    assert.equal(await page.locator('#verify-result').evaluate((e) => getComputedStyle(e).color), 'rgb(26, 127, 55)');
    await snap(page, 'verified');
    await page.context().close();
  });

  test('verify: an altered audit path fails at the audit-path step', async () => {
    const page = await open('auditor');
    await page.route('**/v1/proof/inclusion**', async (route) => {
      const r = await route.fetch();
      const proof = await r.json();
      const h = V.b64decode(proof.audit_path[0]);
      h[0] ^= 0x80;
      proof.audit_path[0] = V.b64encode(h);
      await route.fulfill({ response: r, json: proof });
    });
    await openFirstEvent(page);
    const r = await verifyIn(page, process.env.ANNAL_SIGNER_KEY);
    assert.equal(r.step, 'path', r.text);
    assert.match(r.text, /failed at step "audit path to the signed root"/);
    await snap(page, 'verify-bad-path');
    await page.context().close();
  });

  test('verify: a tampered signature, and a wrong pinned key, fail at the signature step', async () => {
    const page = await open('auditor');
    await page.route('**/v1/checkpoint', async (route) => {
      const r = await route.fetch();
      const note = await r.text();
      // Flip one byte of the 64-byte signature (after the 4-byte key hash).
      const [body, sigLine] = note.split('\n\n');
      const [dash, name, b64] = sigLine.trim().split(' ');
      const blob = V.b64decode(b64);
      blob[10] ^= 1;
      await route.fulfill({ response: r, body: `${body}\n\n${dash} ${name} ${V.b64encode(blob)}\n` });
    });
    await openFirstEvent(page);
    let r = await verifyIn(page, process.env.ANNAL_SIGNER_KEY);
    assert.equal(r.step, 'signature', r.text);
    assert.match(r.text, /checkpoint signature.*does not verify/);
    await snap(page, 'verify-bad-signature');
    await page.unroute('**/v1/checkpoint');
    const name = process.env.ANNAL_SIGNER_KEY.split('+')[0];
    const other = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
    const wrong = await V.vkeyText(name, new Uint8Array(await crypto.subtle.exportKey('raw', other.publicKey)));
    r = await verifyIn(page, wrong);
    assert.equal(r.step, 'signature', r.text);
    assert.match(r.text, /no signature by the pinned key/);
    await page.context().close();
  });

  test('verify: an event newer than the checkpoint served is named as not yet signed', async () => {
    // A genuine note signed before the append, served in place of the newest one (as a cache
    // or a lagging replica would): the event is not in the tree it signs.
    const older = await api('/v1/checkpoint', { key: KEY.auditor });
    const actor = `fresh-${Date.now()}`;
    await api('/v1/events', { method: 'POST', body: JSON.stringify({ event_code: 101, source: 'console-test', actor_id: actor, status: 'failure' }) });
    const page = await open('auditor', { query: `?actor_id=${actor}` });
    await page.route('**/v1/checkpoint', (route) => route.fulfill({ status: 200, contentType: 'text/plain; charset=utf-8', body: older }));
    await openFirstEvent(page);
    const r = await verifyIn(page, process.env.ANNAL_SIGNER_KEY);
    assert.equal(r.step, 'coverage', r.text);
    assert.match(r.text, /not yet in a signed checkpoint/);
    await page.context().close();
  });

  test('live tail: a posted event appears on top; paused events are buffered and counted', async () => {
    const page = await open('admin');
    await page.locator('#tail').click();
    await page.waitForFunction(() => document.body.dataset.tail === 'on');
    await page.locator('#status').filter({ hasText: 'Live tail connected' }).waitFor();
    const post = async (n) => (await api('/v1/events', { method: 'POST', body: JSON.stringify(Array.from({ length: n }, (_, i) => ({ event_code: 202, source: 'console-test', actor_id: `tail-${i}`, status: 'success' }))) })).items.map((i) => i.seq);
    const [seq] = await post(1);
    await page.waitForFunction((s) => document.querySelector('#rows tr th')?.textContent === String(s), seq);
    await snap(page, 'live-tail');
    await page.locator('#tail-pause').click();
    const more = await post(2);
    await page.locator('#tail-state').filter({ hasText: 'Paused: 2 waiting' }).waitFor();
    assert.equal(await page.locator('#rows tr th').first().textContent(), String(seq), 'nothing shown while paused');
    await page.locator('#tail-pause').click();
    await page.waitForFunction((s) => document.querySelector('#rows tr th')?.textContent === String(s), more[1]);
    await page.locator('#tail').click();
    await page.waitForFunction(() => !document.body.dataset.tail);
    await page.context().close();
  });

  test('export NDJSON and CSV of the current filter: as many lines as the count', async () => {
    const page = await open('reader', { query: '?status=failure' });
    const { count } = await api('/v1/events/count?status=failure');
    for (const [button, header] of [['#export-ndjson', 0], ['#export-csv', 1]]) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator(button).click()]);
      const text = fs.readFileSync(await download.path(), 'utf8');
      const lines = text.split(button === '#export-csv' ? '\r\n' : '\n').filter(Boolean);
      assert.equal(lines.length, count + header, `${button}: ${lines.length} lines`);
      if (!header) assert.ok(lines.every((l) => JSON.parse(l).status === 'failure'));
      else assert.match(lines[0], /^seq,id,created_at/);
    }
    await page.context().close();
  });

  test('reader: no append controls, verify greyed with the reason', async () => {
    const page = await open('reader');
    assert.equal(await page.locator('#append-open').isVisible(), false);
    await openFirstEvent(page);
    assert.equal(await page.locator('#verify').isDisabled(), true);
    assert.match(await page.locator('#verify-why').textContent(), /Verify needs an auditor key/);
    await snap(page, 'reader-detail');
    await page.context().close();
  });

  test('producer: only the append form, and a message that it cannot read', async () => {
    const page = await open('producer');
    await page.locator('#producer-only').waitFor();
    assert.equal(await page.locator('#events-view').isVisible(), false);
    await page.locator('#append-open-2').click();
    await page.locator('#append-json').fill(JSON.stringify({ event_code: 101, source: 'console-test', actor_id: 'producer' }));
    await page.locator('#append-form button[type=submit]').click();
    await page.locator('#append-result.ok').filter({ hasText: /Stored: seq \d+/ }).waitFor();
    await snap(page, 'producer-append');
    // A refused event shows the server's located problem.
    await page.locator('#append-json').fill(JSON.stringify({ event_code: 101, source: 'x', user_id: 'not a number' }));
    await page.locator('#append-form button[type=submit]').click();
    await page.locator('#append-result.bad').filter({ hasText: 'user_id' }).waitFor();
    await page.context().close();
  });

  test('trail page shows the numbers of /v1/trail', async () => {
    // A legal hold, placed by an admin, is shown to the auditor with its reason.
    const hold = await api('/v1/holds', { method: 'POST', body: JSON.stringify({ from: '2026-02-01', to: '2026-02-08', filter: 'actor_id=mary.tanaka', reason: 'case console-17' }) });
    const page = await open('auditor');
    await page.locator('#tab-trail').click();
    await page.waitForURL(/view=trail/);
    await page.locator('#trail dd[data-key=events]').waitFor();
    const t = await api('/v1/trail', { key: KEY.auditor });
    const dd = (k) => page.locator(`#trail dd[data-key="${k}"]`).textContent();
    // Events may have grown by the tests' appends between the two reads: compare with a fresh read.
    assert.ok(Number((await dd('events')).replace(/,/g, '')) <= t.events);
    assert.equal(await dd('segments.sealed'), t.segments.sealed.toLocaleString('en'));
    assert.equal(await dd('checkpoint.size'), t.checkpoint.size.toLocaleString('en'));
    assert.equal(await dd('checkpoint.signer_key'), t.checkpoint.signer_key);
    assert.equal(await dd('bytes_per_event'), t.bytes_per_event.toFixed(1));
    assert.equal(t.checkpoint.signer_key, process.env.ANNAL_SIGNER_KEY, 'the server announces the key of its data directory');
    const r = await api('/v1/retention', { key: KEY.auditor });
    assert.equal(await dd('retention.active_holds'), String(r.holds.filter((h) => h.active).length));
    assert.match(await page.locator('#trail').textContent(), new RegExp(`${hold.id}.*case console-17`));
    await snap(page, 'trail');
    // A reader sees the policy, and is told prunes and holds need an auditor key.
    const reader = await open('reader');
    await reader.locator('#tab-trail').click();
    await reader.locator('#trail dd[data-key=retention_days]').waitFor();
    assert.match(await reader.locator('#trail').textContent(), /need an auditor key/);
    await reader.context().close();
    await page.context().close();
  });

  test('an unknown key is refused at sign-in with a visible message', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${URL_}/`);
    await page.locator('#signin-key').fill('not-a-key');
    await page.locator('#signin-form button[type=submit]').click();
    await page.locator('#alert').filter({ hasText: 'Sign-in failed' }).waitFor({ timeout: 10e3 });
    assert.equal(await page.locator('#events-view').isVisible(), false);
    await context.close();
  });

  test('a refused filter shows the server\'s detail', async () => {
    const page = await open('reader', { query: '?user_id=abc', wait: false });
    await page.locator('#alert').filter({ hasText: 'user_id' }).waitFor();
    assert.match(await page.locator('#alert').textContent(), /failed: .*Bad Request/);
    await page.context().close();
  });

  test('phone width: the page fits 390 px, the table scrolls inside its box', async () => {
    const page = await open('admin', { viewport: { width: 390, height: 844 } });
    const widths = await page.evaluate(() => [document.documentElement.scrollWidth, document.querySelector('.table-wrap').scrollWidth]);
    assert.ok(widths[0] <= 390, `page width ${widths[0]}`);
    await snap(page, 'phone');
    await page.locator('#results-h').scrollIntoViewIfNeeded();
    await snap(page, 'phone-table');
    await page.context().close();
  });

  test('keyboard: Tab to a row, Enter opens its detail, Escape closes it and returns focus', async () => {
    const page = await open('reader');
    await page.locator('#tail').focus();
    // From the last tool above the table, Tab walks into the table's first row.
    for (let i = 0; i < 5 && !(await page.evaluate(() => document.activeElement.matches('#rows tr'))); i++) await page.keyboard.press('Tab');
    assert.ok(await page.evaluate(() => document.activeElement.matches('#rows tr')), 'a row took focus');
    const seq = await page.evaluate(() => document.activeElement.querySelector('th').textContent);
    await page.keyboard.press('Enter');
    await page.locator('#detail[open]').waitFor();
    assert.match(await page.locator('#detail-h').textContent(), new RegExp(`seq ${seq}\\b`));
    await snap(page, 'keyboard-detail');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.querySelector('#detail').open);
    assert.equal(await page.evaluate(() => document.activeElement.querySelector('th')?.textContent), seq);
    await page.context().close();
  });
});
