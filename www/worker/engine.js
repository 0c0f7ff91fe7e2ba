// The engine: the wasm, fetched as a stream whose bytes are counted as they come, so the page can
// say how much of it has arrived (tens of seconds over a slow connection), and compiled as it
// streams. The compiled module also goes to the page, which instantiates it for the glyph
// renderer (views/ink.js): one download for both.
import init from '../pkg/maml_lab.js';
import { busy, state } from './context.js';

const MB = (bytes) => (bytes / 1e6).toFixed(1);

/** The wasm's response, its body counted on the way through. */
async function fetchWasm() {
  const response = await fetch(new URL('../pkg/maml_lab_bg.wasm', import.meta.url));
  if (!response.ok || !response.body) return response; // compiling it says what failed
  // Content-Length counts the bytes sent: the file's own size unless the server compresses it
  const encoded = !['', 'identity'].includes(response.headers.get('content-encoding') ?? '');
  const total = encoded ? 0 : Number(response.headers.get('content-length'));
  let loaded = 0;
  // at most one message per 100 ms, the latest count always said: a stalled download shows where it stands
  let timer = null;
  const say = () => {
    timer = null;
    busy('download', total ? `downloading the engine: ${MB(loaded)} of ${MB(total)} MB` : `downloading the engine: ${MB(loaded)} MB so far`);
  };
  const counted = response.body.pipeThrough(new TransformStream({
    transform(chunk, out) {
      loaded += chunk.byteLength;
      timer ??= setTimeout(say, 100);
      out.enqueue(chunk);
    },
    flush() {
      clearTimeout(timer);
      busy('compile', 'compiling the engine…');
    },
  }));
  return new Response(counted, { headers: { 'content-type': 'application/wasm' } });
}

/** Downloads, compiles and starts the wasm in this worker; returns its compiled module. Its
 *  memory is kept (`state.memory`): its size goes out with the reports, so a leak would show. */
export async function loadEngine() {
  const module = await WebAssembly.compileStreaming(fetchWasm());
  state.memory = (await init({ module_or_path: module })).memory;
  busy(null);
  return module;
}
