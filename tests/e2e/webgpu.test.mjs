// The WebGPU path on SwiftShader (software Vulkan): slow, so a tiny configuration and generous
// time-outs; it checks correctness (a finite loss that agrees with the CPU path), not speed. The
// WebGPU calls a meta-iteration makes (counted with `?gpu_counts=1`: worker/gpu-counts.js) do not
// depend on the adapter, so bounds on them are checks of the build, not timings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, until, mainThreadStayedFree } from './browser.mjs';

const SINUSOID = '#task=sinusoid&meta_batch=2&seed=3&inner_steps=1';
// four tasks adapted at once as the groups of grouped convolutions: burn's conv2d on WebGPU, the
// im2col GEMMs on the CPU (model::im2col)
const GLYPHS = '#task=glyphs&meta_batch=4&seed=3&ways=2&queries=1&filters=8';
const MINUTES = 60_000;
// WebGPU submits per glyph meta-iteration of GLYPHS after the first (BENCHMARKS.md, "WebGPU
// work per meta-iteration"): with cubecl's default of 32 launches per submit, about dispatches /
// 32; 128 (src/web.rs) makes about dispatches / 128 + 1 read
const GLYPH_SUBMITS_AT_MOST = 20;

/** The meta-losses of the first `n` meta-iterations (the second one shows the first meta-gradient). */
async function losses({ hash, webgpu, backend, n, reset = false }) {
  const { page, consoleErrors, close } = await open({ webgpu, query: '?eval_tasks=2&gpu_counts=1', hash: `${hash}&backend=${backend}` });
  try {
    await until(page, () => window.lab.ready && window.lab.evaluation !== null, null, 8 * MINUTES);
    const used = await page.evaluate(() => window.lab.backend);
    // the first meta-iteration compiles the training kernels (SwiftShader: seconds); the worker
    // does it, so the main thread must stay free meanwhile
    await page.evaluate(() => {
      // every sentence of the status line, to see the compilation's progress shown
      window.activityLines = [];
      new MutationObserver(() => window.activityLines.push(document.getElementById('activity-text').textContent))
        .observe(document.getElementById('activity-text'), { childList: true, characterData: true, subtree: true });
      window.longTasks = [];
      window.observedFrom = performance.now();
      new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map((e) => Math.round(e.duration)))).observe({ type: 'longtask' });
    });
    for (let i = 1; i <= n; i++) {
      await until(page, () => !document.getElementById('step').disabled, null, 4 * MINUTES);
      await page.click('#step');
      await until(page, (k) => window.lab.iteration >= k, i, 4 * MINUTES);
    }
    const loss = await page.evaluate(() => window.lab.history.loss.filter((v) => v !== null));
    const longTasks = await page.evaluate(() => window.longTasks);
    const observedMs = await page.evaluate(() => performance.now() - window.observedFrom);
    const gpuWork = await page.evaluate(() => window.lab.gpuWork);
    const activityLines = await page.evaluate(() => window.activityLines);
    let afterReset = null;
    if (reset) {
      // a new run of the same shape on the same device: its first meta-iteration compiles nothing
      await page.click('#reset');
      await until(page, () => window.lab.ready && window.lab.evaluation !== null && !document.getElementById('step').disabled, null, 4 * MINUTES);
      await page.click('#step');
      await until(page, () => window.lab.iteration >= 1 && window.lab.gpuWork.first !== null, null, 4 * MINUTES);
      afterReset = await page.evaluate(() => window.lab.gpuWork);
    }
    return { used, loss, consoleErrors, longTasks, observedMs, gpuWork, activityLines, afterReset };
  } finally {
    await close();
  }
}

/** WebGPU (SwiftShader) against the CPU path: the same seed draws the same tasks and initial
 * weights on the host for both; f32 kernels differ in summation order, hence a tolerance. */
async function agree(hash, n, reset = false) {
  const gpu = await losses({ hash, webgpu: true, backend: 'webgpu', n, reset });
  assert.equal(gpu.used.backend, 'webgpu', `expected WebGPU, got: ${gpu.used.why}`);
  assert.match(gpu.used.adapter, /swiftshader/i);
  assert.equal(gpu.loss.length, n);
  assert.ok(gpu.loss.every(Number.isFinite), `losses ${gpu.loss}`);
  assert.ok(mainThreadStayedFree(gpu.longTasks, gpu.observedMs), `long main-thread tasks (ms) while the worker compiled the kernels: ${gpu.longTasks}`);
  const cpu = await losses({ hash, webgpu: false, backend: 'cpu', n });
  assert.equal(cpu.used.backend, 'cpu');
  gpu.loss.forEach((g, i) => {
    const c = cpu.loss[i];
    assert.ok(Math.abs(g - c) <= 1e-4 * Math.abs(c), `iteration ${i + 1}: WebGPU ${g} vs CPU ${c}`);
  });
  assert.deepEqual(gpu.consoleErrors, []);
  return gpu;
}

/** The WebGPU calls of the first meta-iteration and of a later one were counted, and are positive. */
function assertCounted(gpuWork) {
  for (const when of ['first', 'steady']) {
    const c = gpuWork[when];
    assert.ok(c, `no WebGPU counts for the ${when} meta-iteration: ${JSON.stringify(gpuWork)}`);
    for (const k of ['dispatches', 'submits', 'readbacks']) assert.ok(c[k] > 0, `${when}: ${k} ${c[k]}`);
  }
  assert.ok(gpuWork.first.pipelines > 0, 'the first meta-iteration compiles kernels');
}

test('meta-iterations on WebGPU give the losses of the CPU path, count their WebGPU calls, and a reset compiles nothing (sinusoid)', { timeout: 15 * MINUTES }, async () => {
  const gpu = await agree(SINUSOID, 2, true);
  assertCounted(gpu.gpuWork);
  assert.equal(gpu.afterReset.pipelines, gpu.gpuWork.pipelines, 'a reset created new pipelines');
  assert.equal(gpu.afterReset.first.pipelines, 0);
  assert.ok(gpu.afterReset.first.dispatches > 0);
});

test('meta-iterations on WebGPU give the losses of the CPU path (glyphs: grouped convolutions), with few submits, and the compilation shown', { timeout: 15 * MINUTES }, async () => {
  const gpu = await agree(GLYPHS, 2);
  assertCounted(gpu.gpuWork);
  assert.ok(gpu.gpuWork.steady.submits <= GLYPH_SUBMITS_AT_MOST, `${gpu.gpuWork.steady.submits} submits per glyph meta-iteration: ${JSON.stringify(gpu.gpuWork)}`);
  assert.ok(gpu.activityLines.some((l) => /^WebGPU: compiling kernels for meta-iteration 1 of the new run: .* \([1-9]\d* kernels so far\)…$/.test(l)), `lines shown: ${gpu.activityLines}`);
});

test('auto on a software-only WebGPU adapter picks the CPU and says why', { timeout: 5 * MINUTES }, async () => {
  const { page, close } = await open({ webgpu: true, query: '?eval_tasks=2', hash: '#task=sinusoid' });
  try {
    await until(page, () => window.lab.backend !== null, null, 2 * MINUTES);
    const b = await page.evaluate(() => window.lab.backend);
    assert.equal(b.backend, 'cpu');
    assert.match(b.why, /software fallback/);
  } finally {
    await close();
  }
});

test('auto, allowed to try a software adapter, times both backends and keeps the faster (the CPU on SwiftShader)', { timeout: 8 * MINUTES }, async () => {
  const { page, consoleErrors, close } = await open({ webgpu: true, query: '?eval_tasks=2&allow_software_webgpu=1', hash: SINUSOID });
  try {
    await until(page, () => window.lab.ready && window.lab.backend !== null, null, 6 * MINUTES);
    const b = await page.evaluate(() => window.lab.backend);
    assert.equal(b.backend, 'cpu', b.why);
    assert.ok(b.rates.webgpu > 0 && b.rates.cpu > b.rates.webgpu, JSON.stringify(b.rates));
    assert.match(b.why, /^WebGPU [\d.]+ it\/s, CPU [\d.]+ it\/s: the CPU/);
    assert.equal(await page.evaluate(() => document.getElementById('backend-why').textContent), b.why);
    // the timed handle was reset: the run's first meta-iteration is the first (the chart's
    // other point, at 0, is the meta-test of the start)
    await page.click('#step');
    await until(page, () => window.lab.iteration >= 1, null, MINUTES);
    assert.deepEqual(await page.evaluate(() => window.lab.history.x.filter((_, i) => window.lab.history.loss[i] !== null)), [1]);
    assert.deepEqual(consoleErrors, []);
  } finally {
    await close();
  }
});
