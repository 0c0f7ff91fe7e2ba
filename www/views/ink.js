// Ink on the page's image tasks: the strokes a person draws become the network's 28x28 input
// through the wasm's one glyph renderer (src/tasks/glyphs.rs, `rasterise`, exported as
// `render_strokes`: docs/glyphs.md's ink ramp I = clamp(w + 0.5 - d, 0, 1) and pixel noise), run
// on this thread from the module the worker compiled, so the wasm is downloaded once and a
// stroke's input is ready as it is drawn. And a 28x28 input painted on a canvas.
import init, { render_strokes } from '../pkg/maml_lab.js';

export const SIDE = 28; // the image tasks' input: 28x28, one channel (src/tasks)

// docs/glyphs.md: half-width uniform(0.7, 1.2) pixels times width_mult uniform(0.8, 1.25), their
// means; the glyphs' pixel noise
const GLYPH = { halfWidth: 0.95 * 1.025, noise: 0.15 };
// Omniglot's pen strokes area-averaged from 105 to 28 pixels, measured by examples/ink_width.rs
// (README): the same ramp at that width, and no noise (the scans have none)
const OMNIGLOT = { halfWidth: 0.68, noise: 0 };

/** The stroke style of a task kind: {halfWidth (input pixels), noise}. */
export const inkOf = (kind) => (kind === 'omniglot' ? OMNIGLOT : GLYPH);

/** The renderer's wasm instance on this thread, from the compiled module the worker sends with
 *  `loaded` (`load` once; a restarted worker's module is the same). */
export const renderer = {
  ready: null, // resolves once the renderer can draw
  load(module) {
    this.ready ??= init({ module_or_path: module });
    return this.ready;
  },
};

/** Strokes (polylines [[x, y], ...] in input pixels) as the network's input, ink 1 on
 *  background 0, with `noise` from the stream of `seed`: the same on every render, so the input
 *  changes only when the drawing does. */
export function renderStrokes(strokes, { halfWidth, noise, seed }) {
  const points = Float64Array.from(strokes.flat(2));
  const lengths = Uint32Array.from(strokes, (s) => s.length);
  return render_strokes(points, lengths, halfWidth, noise, seed);
}

/** Paints a 28x28 input (ink 1) dark on paper, as the adaptation view shows images. */
export function paintInput(canvas, x) {
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(SIDE, SIDE);
  for (let p = 0; p < SIDE * SIDE; p++) {
    const v = 255 - Math.round(255 * (x ? x[p] : 0));
    img.data.set([v, v, v, 255], 4 * p);
  }
  ctx.putImageData(img, 0, 0);
}
