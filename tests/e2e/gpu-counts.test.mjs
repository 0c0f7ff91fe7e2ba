// The opt-in WebGPU call counter (www/worker/gpu-counts.js), in Node on stand-ins for WebGPU's
// interfaces: it counts what it was asked to, passes every call through unchanged, leaves the
// rest alone, and puts the methods back. (The WebGPU browser tests count real calls with it.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countGpuCalls } from '../../www/worker/gpu-counts.js';

/** A scope with WebGPU's interfaces whose methods record their calls and return a value. */
function fakeWebgpu() {
  const calls = [];
  const method = (name) => function (...args) { calls.push([name, this, args]); return `${name} done`; };
  const scope = {
    GPUMapMode: { READ: 1, WRITE: 2 },
    GPUComputePassEncoder: class {},
    GPUQueue: class {},
    GPUBuffer: class {},
    GPUDevice: class {},
  };
  for (const [iface, names] of Object.entries({
    GPUComputePassEncoder: ['dispatchWorkgroups', 'dispatchWorkgroupsIndirect'],
    GPUQueue: ['submit', 'writeBuffer'],
    GPUBuffer: ['mapAsync'],
    GPUDevice: ['createComputePipeline', 'createComputePipelineAsync'],
  })) for (const n of names) scope[iface].prototype[n] = method(n);
  return { scope, calls };
}

test('every kind counts its calls, which still reach WebGPU with their arguments and result', () => {
  const { scope, calls } = fakeWebgpu();
  const original = scope.GPUQueue.prototype.submit;
  const gpu = countGpuCalls(scope);
  const pass = new scope.GPUComputePassEncoder();
  const queue = new scope.GPUQueue();
  const buffer = new scope.GPUBuffer();
  const device = new scope.GPUDevice();
  const before = { ...gpu.counts };
  pass.dispatchWorkgroups(4, 1, 1);
  pass.dispatchWorkgroupsIndirect(buffer, 0);
  assert.equal(queue.submit(['commands']), 'submit done');
  queue.writeBuffer(buffer, 0, new Uint8Array(4));
  buffer.mapAsync(scope.GPUMapMode.READ);
  buffer.mapAsync(scope.GPUMapMode.WRITE); // a map for writing is no readback
  device.createComputePipeline({});
  device.createComputePipelineAsync({});
  assert.deepEqual(gpu.counts, { dispatches: 2, submits: 1, uploads: 1, readbacks: 1, pipelines: 2 });
  assert.deepEqual(gpu.since(before), gpu.counts);
  assert.equal(calls.length, 8, 'every call went through');
  assert.deepEqual(calls[2].slice(1), [queue, [['commands']]], 'with its object and arguments');
  gpu.uninstall();
  assert.equal(scope.GPUQueue.prototype.submit, original, 'uninstall puts the methods back');
  queue.submit([]);
  assert.equal(gpu.counts.submits, 1);
});

test('opt-in: only the kinds asked for are wrapped', () => {
  const { scope } = fakeWebgpu();
  const submit = scope.GPUQueue.prototype.submit;
  const gpu = countGpuCalls(scope, ['pipelines']);
  assert.equal(scope.GPUQueue.prototype.submit, submit, 'submit is left alone');
  new scope.GPUQueue().submit([]);
  new scope.GPUDevice().createComputePipeline({});
  assert.deepEqual(gpu.counts, { pipelines: 1 });
  gpu.uninstall();
});

test('without WebGPU it wraps nothing and counts nothing', () => {
  const gpu = countGpuCalls({});
  assert.deepEqual(gpu.counts, { dispatches: 0, submits: 0, uploads: 0, readbacks: 0, pipelines: 0 });
  gpu.uninstall();
});
