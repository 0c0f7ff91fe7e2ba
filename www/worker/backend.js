// Which backend runs a run: the CPU (wasm SIMD) or WebGPU, chosen by the person or, on auto,
// by timing this run's shape of work on both. Every choice comes with the sentence why.
import { Lab } from '../pkg/maml_lab.js';
import { workShape } from '../run.js';
import { state } from './context.js';
import { sharedStep, workersFor } from './shares.js';

// auto times this many meta-iterations on each backend, after a first one that compiles
const MEASURED_ITERATIONS = 3;

/** The WebGPU adapter, or the sentence why there is none. */
async function webgpuAdapter() {
  if (!('gpu' in navigator)) return { problem: 'this browser has no WebGPU (navigator.gpu is missing)' };
  let adapter = null;
  try { adapter = await navigator.gpu.requestAdapter(); } catch (e) { return { problem: `WebGPU refused an adapter (${e.message})` }; }
  if (!adapter) return { problem: 'this browser has WebGPU but found no graphics adapter for it (no usable GPU, or WebGPU turned off for it)' };
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' ') || 'unnamed adapter';
  return { name, software: Boolean(info.isFallbackAdapter) };
}

/** Meta-iterations per second of `lab`'s run, timed after a first meta-iteration (which compiles
 *  WebGPU's kernels); the run is then reset to its start. On the CPU, with the workers the run
 *  would share its meta-iterations among (worker/shares.js): like against like. */
async function speed(lab, json, workers = 1) {
  const steps = async (n) => {
    if (workers === 1) return JSON.parse(await lab.step(n));
    const out = { reports: [] };
    for (let i = 0; i < n; i += 1) out.reports.push(...(await sharedStep(lab, workers)).reports);
    return out;
  };
  await steps(1);
  const t0 = performance.now();
  const out = await steps(MEASURED_ITERATIONS);
  const rate = (1000 * Math.max(1, out.reports.length)) / (performance.now() - t0);
  lab.reset(json);
  return rate;
}

const itPerS = (rate) => `${rate >= 10 ? Math.round(rate) : rate.toPrecision(2)} it/s`;

/** Picks the backend, always with the reason, so the page can say which runs and why. A chosen
 *  backend is used (WebGPU falling back to the CPU if it cannot start). Auto, with a hardware
 *  WebGPU adapter (or a software one when allowed), times this run on both and keeps the faster;
 *  the figures are kept per work shape, so runs of the same shape do not measure again.
 *  Returns {lab, backend, adapter, why, rates, slow}. */
export async function createLab(json, settings, wanted) {
  const cpu = (why, rates = null) => ({ lab: new Lab(json), backend: 'cpu', adapter: null, why, rates });
  if (wanted === 'cpu') return cpu('the CPU was chosen');
  const adapter = await webgpuAdapter();
  if (adapter.problem) return cpu(adapter.problem);
  if (wanted === 'auto' && adapter.software && !state.allowSoftwareWebgpu) {
    return cpu(`the only WebGPU adapter is a software fallback (${adapter.name}), slower than the CPU path; choose WebGPU to use it anyway`);
  }
  // (the CPU's figure depends on its workers too)
  const shape = `${workShape(settings)} threads=${state.threads}`;
  let rates = wanted === 'auto' ? state.measured.get(shape) : null;
  const verdict = (r) => `WebGPU ${itPerS(r.webgpu)}, CPU ${itPerS(r.cpu)}: ${r.webgpu > r.cpu ? 'WebGPU' : 'the CPU'}, measured on this run`;
  if (rates && rates.cpu >= rates.webgpu) return cpu(verdict(rates), rates);
  let lab;
  try {
    lab = await Lab.webgpu(json);
  } catch (e) {
    return cpu(`WebGPU failed to start (${e}); the CPU took over`);
  }
  const gpu = (why) => ({ lab, backend: 'webgpu', adapter: adapter.name, why, rates, slow: adapter.software && wanted === 'webgpu' });
  // chosen explicitly, a software adapter runs, but the page keeps saying that it is slow
  if (wanted === 'webgpu') return gpu(adapter.software ? `WebGPU was chosen, but its adapter is a software fallback (${adapter.name}): much slower than the CPU path` : 'WebGPU was chosen');
  if (rates) return gpu(verdict(rates));
  const other = new Lab(json);
  const workers = workersFor(other);
  rates = { webgpu: await speed(lab, json), cpu: await speed(other, json, workers) };
  state.measured.set(shape, rates);
  if (rates.webgpu > rates.cpu) {
    other.free();
    return gpu(verdict(rates));
  }
  lab.free();
  return { lab: other, backend: 'cpu', adapter: null, why: verdict(rates), rates };
}
