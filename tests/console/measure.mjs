// Console load times for docs/benchmarks.md:
//   node tests/console/measure.mjs URL [KEY] [QUERY] [RUNS]
// e.g. node measure.mjs http://127.0.0.1:8080 "$READER_KEY" '?event_type=LoginFailed' 5
// Prints JSON: first contentful paint and the time until the filtered table's rows are shown
// (the console's `annal-rows-shown` performance mark), both from navigation start, for a cold
// load (a new browser context: empty cache) and a warm one (a reload of the same page);
// every run and the median. KEY may be empty in development mode.
import { chromium } from 'playwright-core';

const [url, key = '', query = '?status=failure', runsArg = '5'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node measure.mjs URL [KEY] [QUERY] [RUNS]');
  process.exit(2);
}
const runs = Number(runsArg);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});

/** FCP and rows-shown of the page's current document, once its rows are there. */
async function timings(page) {
  await page.waitForFunction(() => performance.getEntriesByName('annal-rows-shown').length > 0, null, { timeout: 60e3 });
  return page.evaluate(() => ({
    fcp_ms: Math.round(performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN),
    rows_ms: Math.round(performance.getEntriesByName('annal-rows-shown')[0].startTime),
    rows: document.querySelectorAll('#rows tr').length,
  }));
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const cold = [];
const warm = [];
try {
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    // The key as the sign-in form would leave it, so no form is in the way.
    if (key) await context.addInitScript((k) => sessionStorage.setItem('annal.apiKey', k), key);
    const page = await context.newPage();
    await page.goto(`${url.replace(/\/$/, '')}/${query}`);
    cold.push(await timings(page));
    await page.reload();
    warm.push(await timings(page));
    await context.close();
  }
} finally {
  await browser.close();
}
const summary = (xs) => ({ fcp_ms: median(xs.map((x) => x.fcp_ms)), rows_ms: median(xs.map((x) => x.rows_ms)), runs: xs });
console.log(JSON.stringify({ url, query, cold: summary(cold), warm: summary(warm) }, null, 2));
