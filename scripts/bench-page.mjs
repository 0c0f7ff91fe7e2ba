// Benchmark of the page in headless Chromium (not a test): time from opening the page to the
// first meta-iteration, and meta-iterations per second per backend and task.
// usage: node scripts/bench-page.mjs [seconds per measurement, default 20] [--webgpu]
import { withPage, until } from '../tests/e2e/browser.mjs';

const seconds = Number(process.argv[2] ?? 20);
const cases = [
  { name: 'sinusoid, CPU (wasm)', hash: '#task=sinusoid&backend=cpu' },
  { name: 'sinusoid first-order, CPU (wasm)', hash: '#task=sinusoid&backend=cpu&first_order=true' },
  { name: 'glyphs 5-way 1-shot (page preset), CPU (wasm)', hash: '#task=glyphs&backend=cpu' },
];
// the other meta-learners, each from its own preset (its paper's schedule), on the sinusoid and
// the glyphs; MAML's are the cases above
for (const algorithm of ['reptile', 'anil', 'meta-sgd']) {
  cases.push({ name: `${algorithm}, sinusoid (its preset), CPU (wasm)`, hash: `#task=sinusoid&algorithm=${algorithm}&backend=cpu` });
  cases.push({ name: `${algorithm}, glyphs (its preset), CPU (wasm)`, hash: `#task=glyphs&algorithm=${algorithm}&backend=cpu` });
}
if (process.argv.includes('--webgpu')) {
  cases.push({ name: 'sinusoid, WebGPU (SwiftShader)', hash: '#task=sinusoid&backend=webgpu', webgpu: true, query: '?eval_tasks=2' });
}

for (const c of cases) {
  await withPage({ hash: c.hash, webgpu: c.webgpu, query: c.query ?? '' }, async ({ page }) => {
    const opened = Date.now();
    await until(page, () => !document.getElementById('play').disabled, null, 600_000);
    await page.click('#play');
    await until(page, () => window.lab.iteration >= 1, null, 600_000);
    const first = (Date.now() - opened) / 1000;
    await page.waitForTimeout(2000); // past the first evaluation
    const a = await page.evaluate(() => [performance.now(), window.lab.iteration]);
    await page.waitForTimeout(seconds * 1000);
    const b = await page.evaluate(() => [performance.now(), window.lab.iteration, window.lab.backend.backend, window.lab.wasmBytes]);
    const itPerS = (b[1] - a[1]) / ((b[0] - a[0]) / 1000);
    console.log(JSON.stringify({ case: c.name, backend: b[2], first_iteration_s: +first.toFixed(2), it_per_s: +itPerS.toFixed(2), wasm_memory_mb: +(b[3] / 2 ** 20).toFixed(1) }));
  });
}
