// A stacked histogram in hand-written SVG: one bar per time bucket of the histogram route,
// each split by the values of one field. Click a bar (or focus it and press Enter) to pick
// its bucket; drag across bars to pick the span. No library: the CSP allows only our files.

const NS = 'http://www.w3.org/2000/svg';
const STEP_MS = { minute: 60e3, hour: 3600e3, day: 86400e3 };
/** Series beyond this many are drawn together as "other", so the legend stays readable. */
const SERIES_MAX = 8;
const OTHER = 'other';
const PALETTE = ['#1f5fa8', '#d98a1c', '#6f4ea0', '#2f9aae', '#8c6d46', '#c5609b', '#5c6b7a', '#93a13d'];
/** Values that mean the same everywhere get the same colour: failures red, success green. */
const FIXED = { success: '#2e7d4f', failure: '#c0392b', error: '#c0392b', denied: '#a8322d', [OTHER]: '#aab2bb', '(none)': '#d5d9de' };
const M = { top: 10, right: 12, bottom: 26, left: 48 };
const HEIGHT = 160;

const el = (name, attrs = {}, parent) => {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
};

/** The series to draw, largest first, and a function mapping a bucket's `by` to theirs. */
function seriesOf(buckets) {
  const totals = new Map();
  for (const b of buckets) {
    const by = byOf(b);
    for (const [k, n] of Object.entries(by)) totals.set(k, (totals.get(k) || 0) + n);
  }
  const sorted = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  const shown = sorted.length > SERIES_MAX ? sorted.slice(0, SERIES_MAX - 1) : sorted;
  const folded = sorted.length > shown.length;
  const keys = folded ? [...shown, OTHER] : shown;
  const named = new Set(shown);
  const split = (b) => {
    const out = new Map(keys.map((k) => [k, 0]));
    for (const [k, n] of Object.entries(byOf(b))) {
      const key = named.has(k) ? k : OTHER;
      out.set(key, out.get(key) + n);
    }
    return out;
  };
  return { keys, split };
}

/** A bucket's split; events without the field count as "(none)" so the stack sums to count. */
function byOf(b) {
  const by = { ...(b.by || {}) };
  const sum = Object.values(by).reduce((a, n) => a + n, 0);
  if (b.count > sum) by['(none)'] = b.count - sum;
  return by;
}

export function colours(keys) {
  let i = 0;
  return new Map(keys.map((k) => [k, FIXED[k.toLowerCase()] || PALETTE[i++ % PALETTE.length]]));
}

/** A round step for about `n` ticks up to `max`. */
function niceStep(max, n) {
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || mag * 10;
}

const pad = (n) => String(n).padStart(2, '0');
/** Tick text in UTC, as coarse as the interval makes sense. */
function tickLabel(ms, interval, spanMs) {
  const d = new Date(ms);
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  if (interval === 'day') return date.slice(5);
  return spanMs > 86400e3 ? `${date.slice(5)} ${time}` : time;
}

/** Text of a bucket's span, for screen readers and tooltips. */
export function bucketText(startMs, interval) {
  const a = new Date(startMs).toISOString().replace('T', ' ').slice(0, 16);
  const b = new Date(startMs + STEP_MS[interval]).toISOString().replace('T', ' ').slice(0, 16);
  return `${a} – ${b} UTC`;
}

/**
 * Draws `data` ({interval, buckets}) into `host` and its legend into `legend`.
 * `onPick(fromMs, toMs)` is called when a bucket or a dragged span is chosen.
 */
export function drawHistogram(host, legend, data, { onPick, label = 'Matching events over time' } = {}) {
  host.replaceChildren();
  legend.replaceChildren();
  const buckets = (data.buckets || []).map((b) => ({ ...b, t: Date.parse(b.start) }));
  if (buckets.length === 0) {
    host.textContent = 'No matches in this range.';
    return;
  }
  const step = STEP_MS[data.interval] || STEP_MS.hour;
  const width = Math.max(280, host.clientWidth || 600);
  const t0 = buckets[0].t;
  const t1 = buckets[buckets.length - 1].t + step;
  const plotW = width - M.left - M.right;
  const plotH = HEIGHT - M.top - M.bottom;
  const x = (t) => M.left + ((t - t0) / (t1 - t0)) * plotW;
  const max = Math.max(...buckets.map((b) => b.count));
  const yStep = niceStep(max, 4);
  const yMax = Math.ceil(max / yStep) * yStep;
  const y = (n) => M.top + plotH - (n / yMax) * plotH;

  const svg = el('svg', { width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, role: 'group', 'aria-label': `${label}: ${buckets.length} buckets of one ${data.interval}; Enter on a bar narrows the range to it` });
  drawAxes(svg, { t0, t1, x, y, yMax, yStep, width, interval: data.interval });

  const { keys, split } = seriesOf(buckets);
  const colour = colours(keys);
  const barW = Math.max(1, (step / (t1 - t0)) * plotW - (plotW / buckets.length > 4 ? 1 : 0));
  const bars = el('g', { class: 'bars' }, svg);
  buckets.forEach((b, i) => {
    const g = el('g', { class: 'bar', tabindex: i === 0 ? '0' : '-1', role: 'button', 'data-start': String(b.t), 'aria-label': `${bucketText(b.t, data.interval)}: ${b.count} events` }, bars);
    el('title', {}, g).textContent = `${bucketText(b.t, data.interval)}\n${b.count} events` +
      [...split(b)].filter(([, n]) => n).map(([k, n]) => `\n${k}: ${n}`).join('');
    // A full-height transparent target makes thin and short bars easy to hit.
    el('rect', { class: 'hit', x: x(b.t), y: M.top, width: barW, height: plotH, fill: 'transparent' }, g);
    let acc = 0;
    for (const [k, n] of split(b)) {
      if (!n) continue;
      el('rect', { x: x(b.t), y: y(acc + n), width: barW, height: Math.max(0, y(acc) - y(acc + n)), fill: colour.get(k) }, g);
      acc += n;
    }
  });
  host.appendChild(svg);
  wirePicking(svg, bars, { x, t0, t1, step, onPick, interval: data.interval });
  drawLegend(legend, keys, colour);
}

function drawAxes(svg, { t0, t1, x, y, yMax, yStep, width, interval }) {
  const axis = el('g', { class: 'axis', 'aria-hidden': 'true' }, svg);
  for (let n = 0; n <= yMax; n += yStep) {
    el('line', { x1: M.left, x2: width - M.right, y1: y(n), y2: y(n), class: n ? 'grid' : 'base' }, axis);
    el('text', { x: M.left - 6, y: y(n) + 4, 'text-anchor': 'end' }, axis).textContent = n.toLocaleString('en');
  }
  // About one tick per 110 px, on round bucket boundaries.
  const stepMs = STEP_MS[interval] || STEP_MS.hour;
  const buckets = Math.round((t1 - t0) / stepMs);
  const every = Math.max(1, Math.ceil(buckets / Math.max(1, Math.floor((width - M.left) / 110))));
  for (let i = 0; i <= buckets; i += every) {
    const t = t0 + i * stepMs;
    el('line', { x1: x(t), x2: x(t), y1: y(0), y2: y(0) + 4, class: 'base' }, axis);
    // The first and last labels stay inside the plot.
    const anchor = i === 0 ? 'start' : x(t) > width - M.right - 30 ? 'end' : 'middle';
    el('text', { x: x(t), y: y(0) + 17, 'text-anchor': anchor }, axis).textContent = tickLabel(t, interval, t1 - t0);
  }
  el('text', { x: width - M.right, y: M.top + 2, 'text-anchor': 'end', class: 'unit' }, axis).textContent = 'UTC';
}

/** Click, drag and keyboard selection of buckets. */
function wirePicking(svg, bars, { x, t0, t1, step, onPick, interval }) {
  if (!onPick) return;
  const band = el('rect', { class: 'band', y: M.top, height: HEIGHT - M.top - M.bottom, width: 0, visibility: 'hidden' }, svg);
  const toT = (px) => t0 + ((px - M.left) / (x(t1) - M.left)) * (t1 - t0);
  const snap = (t) => t0 + Math.floor((t - t0) / step) * step;
  const localX = (ev) => ev.clientX - svg.getBoundingClientRect().left;
  let from = null;
  svg.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0) return;
    from = localX(ev);
    svg.setPointerCapture(ev.pointerId);
  });
  svg.addEventListener('pointermove', (ev) => {
    if (from === null) return;
    const to = localX(ev);
    band.setAttribute('x', Math.min(from, to));
    band.setAttribute('width', Math.abs(to - from));
    band.setAttribute('visibility', Math.abs(to - from) > 3 ? 'visible' : 'hidden');
  });
  svg.addEventListener('pointerup', (ev) => {
    if (from === null) return;
    const to = localX(ev);
    const [a, b] = [Math.min(from, to), Math.max(from, to)];
    from = null;
    band.setAttribute('visibility', 'hidden');
    const lo = Math.max(t0, snap(toT(a)));
    const hi = Math.min(t1, snap(toT(b)) + step);
    if (hi > lo) onPick(lo, hi);
  });
  const list = () => [...bars.children];
  bars.addEventListener('keydown', (ev) => {
    const g = ev.target.closest('.bar');
    if (!g) return;
    const all = list();
    const i = all.indexOf(g);
    const move = { ArrowRight: 1, ArrowLeft: -1, Home: -i, End: all.length - 1 - i }[ev.key];
    if (move !== undefined) {
      ev.preventDefault();
      const next = all[Math.max(0, Math.min(all.length - 1, i + move))];
      g.setAttribute('tabindex', '-1');
      next.setAttribute('tabindex', '0');
      next.focus();
    } else if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      const start = Number(g.dataset.start);
      onPick(start, start + step);
    }
  });
  svg.dataset.interval = interval;
}

function drawLegend(legend, keys, colour) {
  for (const k of keys) {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = colour.get(k);
    li.append(sw, document.createTextNode(k));
    legend.appendChild(li);
  }
}

/** The interval that gives at most about 240 buckets over `spanMs`. */
export function intervalFor(spanMs) {
  if (spanMs <= 4 * 3600e3) return 'minute';
  if (spanMs <= 10 * 86400e3) return 'hour';
  return 'day';
}
