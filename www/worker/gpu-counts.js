// Counts the WebGPU calls the wasm makes, as a wrapper around the WebGPU prototypes: burn's wgpu
// calls them by name through wasm-bindgen's glue (a Proxy cannot stand in: WebGPU checks that an
// argument is its own object), so wrapping each method counts every call, on any adapter
// (SwiftShader counts what a real GPU would be asked). Opt-in: `countGpuCalls(scope, kinds)`
// wraps only the kinds asked for, and `uninstall()` puts the methods back.

/** The calls each kind counts: [interface, method, when(args) (optional)]. `readbacks` are buffer
 *  maps for reading; `pipelines` the kernels compiled. */
export const GPU_CALLS = {
  dispatches: [['GPUComputePassEncoder', 'dispatchWorkgroups'], ['GPUComputePassEncoder', 'dispatchWorkgroupsIndirect']],
  submits: [['GPUQueue', 'submit']],
  uploads: [['GPUQueue', 'writeBuffer']],
  readbacks: [['GPUBuffer', 'mapAsync', (scope, [mode]) => (mode & scope.GPUMapMode.READ) !== 0]],
  pipelines: [['GPUDevice', 'createComputePipeline'], ['GPUDevice', 'createComputePipelineAsync']],
};

/** Wraps the WebGPU methods of `kinds` in `scope` (the worker's global) to count their calls.
 *  Returns {counts, since(before), uninstall()}; counts stay 0 where `scope` has no WebGPU. */
export function countGpuCalls(scope, kinds = Object.keys(GPU_CALLS)) {
  const counts = Object.fromEntries(kinds.map((k) => [k, 0]));
  const undo = [];
  for (const kind of kinds) {
    for (const [iface, name, when = () => true] of GPU_CALLS[kind]) {
      const proto = scope[iface]?.prototype;
      const call = proto?.[name];
      if (!call) continue; // no WebGPU in this browser, or not this method
      proto[name] = function (...args) {
        if (when(scope, args)) counts[kind] += 1;
        return call.apply(this, args);
      };
      undo.push(() => { proto[name] = call; });
    }
  }
  return {
    counts,
    /** The calls made since the copy `before` of `counts`. */
    since: (before) => Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v - before[k]])),
    uninstall: () => undo.splice(0).forEach((f) => f()),
  };
}
