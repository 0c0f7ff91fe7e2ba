// Benchmark of the page in headless Chromium (not a test): time from opening the page to the
// first meta-iteration, and meta-iterations per second per backend and task.
// With --webgpu, also the WebGPU path on SwiftShader, and the WebGPU calls per meta-iteration
// (dispatches, submits, readbacks, uploads, new pipelines; the first and a later one): these do
// not depend on the adapter. --only=REGEX keeps the cases whose name matches. --checkpoints
// times what the crash checkpoints cost: the glyph preset and a 64-filter 20-way run, each with
// the page's checkpoints and with none (`?checkpoint_ms=0`), in three alternating pairs. --compare
// times what the exact-against-first-order chart costs: the sinusoid and the glyph preset with
// the page's default comparisons (auto), every 20 meta-iterations, and none, alternating, three times.
// --threads times the page on every core: the glyph and sinusoid presets with 1, 2 and 4 workers,
// alternating, three times, with what sharing costs per meta-iteration, phase by phase (the
// environment's COMPARE, if set, is the exact-against-first-order chart's interval: 0 turns it off).
// --paired times the same (one worker against two, switched live in one page): see below.
// usage: node scripts/bench-page.mjs [seconds per measurement, default 20] [--webgpu] [--checkpoints] [--compare] [--threads] [--paired [--window=S] [--pairs=K]] [--only=REGEX] [--warmup=SECONDS, default 2]
import { withPage, until } from '../tests/e2e/browser.mjs';

const seconds = Number(process.argv[2] ?? 20);
// seconds of training before the measurement: past the first meta-test; longer, past the first
// renderings of the glyphs too (each rendered once, then kept: a run's first minute renders most)
const warmup = Number(process.argv.find((a) => a.startsWith('--warmup='))?.slice(9) ?? 2);
const cases = [
  { name: 'sinusoid, CPU (wasm)', hash: '#task=sinusoid&backend=cpu' },
  { name: 'sinusoid first-order, CPU (wasm)', hash: '#task=sinusoid&backend=cpu&first_order=true' },
  { name: 'glyphs 5-way 1-shot (page preset), CPU (wasm)', hash: '#task=glyphs&backend=cpu' },
  // from scratch: the shipped start would train on just the same, but scratch is what a person watches learn
  { name: 'navigation (page preset), CPU (wasm)', hash: '#task=navigation&start=scratch' },
];
// the other meta-learners, each from its own preset (its paper's schedule), on the sinusoid and
// the glyphs; MAML's are the cases above
for (const algorithm of ['reptile', 'anil', 'meta-sgd']) {
  cases.push({ name: `${algorithm}, sinusoid (its preset), CPU (wasm)`, hash: `#task=sinusoid&algorithm=${algorithm}&backend=cpu` });
  cases.push({ name: `${algorithm}, glyphs (its preset), CPU (wasm)`, hash: `#task=glyphs&algorithm=${algorithm}&backend=cpu` });
}
if (process.argv.includes('--webgpu')) {
  cases.push({ name: 'sinusoid, WebGPU (SwiftShader)', hash: '#task=sinusoid&backend=webgpu', webgpu: true, query: '?eval_tasks=2&gpu_counts=1' });
  cases.push({ name: 'glyphs 5-way 1-shot (page preset), WebGPU (SwiftShader)', hash: '#task=glyphs&backend=webgpu', webgpu: true, query: '?eval_tasks=2&gpu_counts=1' });
}
if (process.argv.includes('--checkpoints')) {
  cases.length = 0;
  for (let pair = 1; pair <= 3; pair++) {
    const runs = [['glyphs preset', '#task=glyphs&backend=cpu&start=scratch'], ['glyphs 20-way 64 filters', '#task=glyphs&backend=cpu&start=scratch&ways=20&filters=64&meta_batch=4']];
    // with --webgpu, a WebGPU run too: each checkpoint is a read back from the device
    if (process.argv.includes('--webgpu')) runs.push(['sinusoid on WebGPU (SwiftShader)', '#task=sinusoid&backend=webgpu&start=scratch', true]);
    for (const [what, hash, webgpu] of runs) {
      const q = webgpu ? '?allow_software_webgpu=1&eval_tasks=2' : '?';
      cases.push({ name: `${what}, checkpoints every 2 s, pair ${pair}`, hash, webgpu, query: q });
      cases.push({ name: `${what}, no checkpoints, pair ${pair}`, hash, webgpu, query: `${q}&checkpoint_ms=0` });
    }
  }
}
if (process.argv.includes('--compare')) {
  cases.length = 0;
  for (let pair = 1; pair <= 3; pair++) {
    for (const [what, hash] of [['sinusoid preset', '#task=sinusoid&backend=cpu&start=scratch'], ['glyphs preset', '#task=glyphs&backend=cpu&start=scratch']]) {
      cases.push({ name: `${what}, compared (auto), round ${pair}`, hash, compare: 'auto' });
      cases.push({ name: `${what}, compared every 20, round ${pair}`, hash, compare: '20' });
      cases.push({ name: `${what}, never compared, round ${pair}`, hash, compare: '0' });
    }
  }
}
if (process.argv.includes('--threads')) {
  // the page on every core: each preset with 1, 2 and 4 workers, alternating, three rounds; with
  // the time per meta-iteration the training worker spends moving weights, tasks and sums, and
  // waiting for the share workers after its own units
  cases.length = 0;
  for (let round = 1; round <= 3; round++) {
    for (const [what, hash] of [['glyphs preset', '#task=glyphs&backend=cpu&start=scratch'], ['sinusoid preset', '#task=sinusoid&backend=cpu&start=scratch']]) {
      for (const threads of [1, 2, 4]) cases.push({ name: `${what}, ${threads} workers, round ${round}`, hash: `${hash}&threads=${threads}`, compare: process.env.COMPARE });
    }
  }
}
const only = new RegExp(process.argv.find((a) => a.startsWith('--only='))?.slice(7) ?? '');

// --paired: the page on every core measured in one run, switching live between one and two
// workers (the same run either way: its units do not depend on the workers) every --window=S
// seconds (default 8) for --pairs=K pairs (default 8), after the warm-up; each window's first
// 1.5 s (a share starting, the switch) left out. Adjacent windows share the machine's state, so the
// ratio of each pair is measured side by side at a few seconds' distance, not minutes.
if (process.argv.includes('--paired')) {
  const windowS = Number(process.argv.find((a) => a.startsWith('--window='))?.slice(9) ?? 8);
  const pairs = Number(process.argv.find((a) => a.startsWith('--pairs='))?.slice(8) ?? 8);
  const presets = [['glyphs preset', '#task=glyphs&backend=cpu&start=scratch'], ['sinusoid preset', '#task=sinusoid&backend=cpu&start=scratch']];
  for (const [what, hash] of presets.filter(([w]) => only.test(w))) {
    await withPage({ hash: `${hash}&threads=1` }, async ({ page }) => {
      await until(page, () => !document.getElementById('play').disabled, null, 600_000);
      await page.click('#play');
      await until(page, () => window.lab.iteration >= 1, null, 600_000);
      await page.waitForTimeout(warmup * 1000);
      const rate = async (threads) => {
        await page.selectOption('#threads', String(threads));
        await until(page, (v) => window.lab.workers?.threads === v, String(threads));
        await page.waitForTimeout(1500);
        const a = await page.evaluate(() => [performance.now(), window.lab.iteration, window.lab.workers?.workers]);
        await page.waitForTimeout((windowS - 1.5) * 1000);
        const b = await page.evaluate(() => [performance.now(), window.lab.iteration, window.lab.workers?.workers]);
        return { itPerS: (b[1] - a[1]) / ((b[0] - a[0]) / 1000), workers: b[2] };
      };
      const rows = [];
      for (let k = 0; k < pairs; k++) {
        // alternating which goes first, so a drift of the machine's speed favours neither
        const r = {};
        for (const threads of k % 2 ? [2, 1] : [1, 2]) r[threads] = await rate(threads);
        rows.push({ one: r[1].itPerS, two: r[2].itPerS, workers: r[2].workers });
      }
      const sum = (k) => rows.reduce((t, r) => t + r[k], 0);
      const ratios = rows.map((r) => r.two / r.one).sort((a, b) => a - b);
      console.log(JSON.stringify({
        case: `${what}, 1 against 2 workers, paired`, window_s: windowS, pairs,
        one_worker_it_per_s: rows.map((r) => +r.one.toFixed(2)), two_workers_it_per_s: rows.map((r) => +r.two.toFixed(2)),
        workers_used: rows[0].workers, ratio_of_sums: +(sum('two') / sum('one')).toFixed(3), ratio_median: +ratios[Math.floor(ratios.length / 2)].toFixed(3),
      }));
    });
  }
  process.exit(0);
}

for (const c of cases.filter((c) => only.test(c.name))) {
  await withPage({ hash: c.hash, webgpu: c.webgpu, query: c.query ?? '' }, async ({ page }) => {
    const opened = Date.now();
    await until(page, () => !document.getElementById('play').disabled, null, 600_000);
    if (c.compare) await page.selectOption('#compare-every', c.compare);
    await page.click('#play');
    await until(page, () => window.lab.iteration >= 1, null, 600_000);
    const first = (Date.now() - opened) / 1000;
    await page.waitForTimeout(warmup * 1000); // past the first evaluation (--warmup: longer)
    // the page's own thread: the share of its time it is busy (drawing, mostly), which the
    // workers compete with for the cores
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const busyS = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value;
    const busy0 = await busyS();
    const a = await page.evaluate(() => [performance.now(), window.lab.iteration, window.lab.results.sharing]);
    await page.waitForTimeout(seconds * 1000);
    const mainBusy = (await busyS()) - busy0;
    const b = await page.evaluate(() => [performance.now(), window.lab.iteration, window.lab.backend.backend, window.lab.wasmBytes, window.lab.gpuWork, window.lab.results.sharing, window.lab.workers?.workers]);
    const itPerS = (b[1] - a[1]) / ((b[0] - a[0]) / 1000);
    const round = (counts) => counts && Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, +v.toFixed(1)]));
    const gpu = b[2] === 'webgpu' ? { gpu_first: round(b[4].first), gpu_steady: round(b[4].steady) } : {};
    // per shared meta-iteration, over the measured window
    const shared = b[5] && a[2] && b[5].iterations > a[2].iterations ? b[5].iterations - a[2].iterations : 0;
    // the phases of a shared meta-iteration (worker/shares.js, sharedStep), ms each; `loop`: the rest
    // of the time per meta-iteration, outside sharedStep (the page's loop, meta-tests, comparisons)
    const phases = shared ? Object.fromEntries(Object.keys(b[5]).filter((k) => k.endsWith('Ms') || k === 'early' || k === 'stale').map((k) => [k.replace(/Ms$/, ''), +((b[5][k] - (a[2][k] ?? 0)) / shared).toFixed(2)])) : null;
    if (phases) phases.loop = +(1000 / itPerS - Object.entries(phases).filter(([k]) => !['share', 'early', 'stale', 'shareBeganAfterOwn', 'shareEndedAfterOwn', 'answerLatency', 'arrivedAfterFree', 'freeAfterOwn'].includes(k)).reduce((s, [, v]) => s + v, 0)).toFixed(2);
    const sharing = shared ? { workers: b[6], ms_per_it: phases } : { workers: b[6] };
    console.log(JSON.stringify({ case: c.name, backend: b[2], first_iteration_s: +first.toFixed(2), it_per_s: +itPerS.toFixed(2), main_thread_busy: +(mainBusy / ((b[0] - a[0]) / 1000)).toFixed(3), wasm_memory_mb: +(b[3] / 2 ** 20).toFixed(1), ...sharing, ...gpu }));
  });
}
