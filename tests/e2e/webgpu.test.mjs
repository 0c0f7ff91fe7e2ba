// The WebGPU path on SwiftShader (software Vulkan): slow, so a tiny configuration and generous
// time-outs; it checks correctness (a finite loss that agrees with the CPU path), not speed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, until, mainThreadStayedFree } from './browser.mjs';

const SINUSOID = '#task=sinusoid&meta_batch=2&seed=3&inner_steps=1';
// two tasks of a meta-batch are adapted at once, as the groups of grouped convolutions
const GLYPHS = '#task=glyphs&meta_batch=2&seed=3&ways=2&queries=1&filters=8';
const MINUTES = 60_000;

/** The meta-losses of the first `n` meta-iterations (the second one shows the first meta-gradient). */
async function losses({ hash, webgpu, backend, n }) {
  const { page, consoleErrors, close } = await open({ webgpu, query: '?eval_tasks=2', hash: `${hash}&backend=${backend}` });
  try {
    await until(page, () => window.lab.ready && window.lab.evaluation !== null, null, 8 * MINUTES);
    const used = await page.evaluate(() => window.lab.backend);
    // the first meta-iteration compiles the training kernels (SwiftShader: seconds); the worker
    // does it, so the main thread must stay free meanwhile
    await page.evaluate(() => {
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
    return { used, loss, consoleErrors, longTasks, observedMs };
  } finally {
    await close();
  }
}

/** WebGPU (SwiftShader) against the CPU path: the same seed draws the same tasks and initial
 * weights on the host for both; f32 kernels differ in summation order, hence a tolerance. */
async function agree(hash, n) {
  const gpu = await losses({ hash, webgpu: true, backend: 'webgpu', n });
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
}

test('meta-iterations on WebGPU give the losses of the CPU path (sinusoid)', { timeout: 15 * MINUTES }, () => agree(SINUSOID, 2));

test('meta-iterations on WebGPU give the losses of the CPU path (glyphs: grouped convolutions)', { timeout: 15 * MINUTES }, () => agree(GLYPHS, 2));

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
