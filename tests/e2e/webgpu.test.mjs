// The WebGPU path on SwiftShader (software Vulkan): slow, so a tiny configuration and generous
// time-outs; it checks correctness (a finite loss that agrees with the CPU path), not speed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, until } from './browser.mjs';

const HASH = '#task=sinusoid&meta_batch=2&seed=3&inner_steps=1';
const MINUTES = 60_000;

async function firstLoss({ webgpu, backend }) {
  const { page, consoleErrors, close } = await open({ webgpu, query: '?eval_tasks=2', hash: `${HASH}&backend=${backend}` });
  try {
    await until(page, () => window.lab.ready && window.lab.evaluation !== null, null, 8 * MINUTES);
    const used = await page.evaluate(() => window.lab.backend);
    // the first meta-iteration compiles the training kernels (SwiftShader: seconds); the worker
    // does it, so the main thread must stay free meanwhile
    await page.evaluate(() => {
      window.longTasks = [];
      new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map((e) => Math.round(e.duration)))).observe({ type: 'longtask' });
    });
    await page.click('#step');
    await until(page, () => window.lab.iteration >= 1, null, 4 * MINUTES);
    const loss = await page.evaluate(() => window.lab.history.loss.find((v) => v !== null));
    const longTasks = await page.evaluate(() => window.longTasks);
    return { used, loss, consoleErrors, longTasks };
  } finally {
    await close();
  }
}

test('a meta-iteration on WebGPU gives a finite loss that agrees with the CPU path', { timeout: 15 * MINUTES }, async () => {
  const gpu = await firstLoss({ webgpu: true, backend: 'webgpu' });
  assert.equal(gpu.used.backend, 'webgpu', `expected WebGPU, got: ${gpu.used.why}`);
  assert.match(gpu.used.adapter, /swiftshader/i);
  assert.ok(Number.isFinite(gpu.loss), `loss ${gpu.loss}`);
  assert.deepEqual(gpu.longTasks, [], `long main-thread tasks (ms) while the worker compiled the kernels: ${gpu.longTasks}`);
  const cpu = await firstLoss({ webgpu: false, backend: 'cpu' });
  assert.equal(cpu.used.backend, 'cpu');
  // the same seed draws the same tasks and initial weights on the host for both backends;
  // f32 kernels differ in summation order, hence a tolerance
  assert.ok(Math.abs(gpu.loss - cpu.loss) <= 1e-4 * Math.abs(cpu.loss), `WebGPU ${gpu.loss} vs CPU ${cpu.loss}`);
  assert.deepEqual(gpu.consoleErrors, []);
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
