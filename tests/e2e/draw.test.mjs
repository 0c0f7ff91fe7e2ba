// Your own task (www/views/draw.js), end to end in headless Chromium on the CPU path: strokes drawn
// with pointer events become a task the worker adapts from both starts; a missing class and a
// missing query are said in the panel; sinusoid points placed, moved and removed on the plot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withPage, until, drawn } from './browser.mjs';

const ready = async (page) => { await until(page, () => window.lab.ready && window.lab.evaluation !== null); await drawn(page); };
const panel = (page) => page.evaluate(() => {
  const d = window.lab.charts.draw;
  return { status: d.status.textContent, result: d.result, sent: d.sent };
});

// five shapes in canvas fractions, one per class: strokes of [x, y] points
const SHAPES = [
  [[[0.2, 0.5], [0.8, 0.5]]], // a bar
  [[[0.5, 0.15], [0.5, 0.85]]], // a stem
  [Array.from({ length: 13 }, (_, i) => [0.5 + 0.3 * Math.cos((i * Math.PI) / 6), 0.5 + 0.3 * Math.sin((i * Math.PI) / 6)])], // a ring
  [[[0.2, 0.2], [0.8, 0.8]], [[0.8, 0.2], [0.2, 0.8]]], // a cross
  [[[0.2, 0.8], [0.5, 0.2], [0.8, 0.8]]], // a roof
];

/** Draws `strokes` on `canvas` with the mouse (pointer events of a mouse). */
async function drawWithMouse(page, canvas, strokes) {
  await canvas.scrollIntoViewIfNeeded(); // the mouse reaches what is on screen only
  const box = await canvas.boundingBox();
  for (const stroke of strokes) {
    const at = ([x, y]) => [box.x + x * box.width, box.y + y * box.height];
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (const p of stroke.slice(1)) await page.mouse.move(...at(p), { steps: 6 });
    await page.mouse.up();
  }
}

/** Draws `strokes` with dispatched pointer events of a pen. */
function drawWithPen(canvas, strokes) {
  return canvas.evaluate((el, strokes) => {
    const box = el.getBoundingClientRect();
    const fire = (type, [x, y]) => el.dispatchEvent(new PointerEvent(type, {
      pointerType: 'pen', pointerId: 7, isPrimary: true, bubbles: true, pressure: 0.5,
      clientX: box.left + x * box.width, clientY: box.top + y * box.height,
    }));
    for (const s of strokes) {
      fire('pointerdown', s[0]);
      for (let i = 1; i < s.length; i++) {
        for (let t = 1; t <= 6; t++) fire('pointermove', [s[i - 1][0] + (t / 6) * (s[i][0] - s[i - 1][0]), s[i - 1][1] + (t / 6) * (s[i][1] - s[i - 1][1])]);
      }
      fire('pointerup', s[s.length - 1]);
    }
  }, strokes);
}

test('a drawn glyph task: per-step probabilities from both starts, that differ; an empty class is named', () => withPage({ query: '?eval_tasks=2', hash: '#task=glyphs&filters=8&meta_batch=4&seed=3' }, async ({ page, consoleErrors }) => {
  await ready(page);
  await page.click('#play');
  await until(page, () => window.lab.iteration >= 4, null, 180_000);
  await page.click('#play'); // pause: the weights stand still while we look
  const config = await page.evaluate(() => window.lab.config);
  const canvases = page.locator('#draw canvas.draw-canvas');
  assert.equal(await canvases.count(), config.task.ways * config.task.shots + 2, 'a canvas per support example and two queries');
  for (let c = 0; c < 5; c++) await drawWithMouse(page, canvases.nth(c), SHAPES[c]);
  assert.match((await panel(page)).status, /Draw a query/, 'no query yet: the panel asks for one');

  // the network's input looks like a glyph: ink 1 on background 0, a stroke about two pixels wide
  const ink = await page.evaluate(() => {
    const x = window.lab.charts.draw.cells[0].input; // the bar: 0.6 of 28 pixels long
    return { max: Math.max(...x), dark: x.filter((v) => v > 0.5).length, sum: x.reduce((a, b) => a + b, 0), corner: x[0] };
  });
  assert.equal(ink.max, 1);
  assert.ok(ink.dark >= 25 && ink.dark <= 60, `a 17-pixel bar two pixels wide: ${ink.dark} pixels over 0.5`);
  assert.ok(ink.corner <= 0.15, 'the background is 0 plus the glyphs\' noise');

  await drawWithPen(canvases.nth(5), SHAPES[1]); // a query: the stem again, with a pen
  const done = await until(page, () => window.lab.charts.draw.result);
  const k = config.maml.test_inner_steps;
  for (const start of ['meta_learned', 'random']) {
    assert.equal(done[start].length, k + 1, `${start}: a reading per inner step 0..${k}`);
    for (const s of done[start]) {
      assert.equal(s.outputs.length, 5, 'one query, five class probabilities');
      assert.ok(Math.abs(s.outputs.reduce((a, b) => a + b, 0) - 1) < 1e-4, 'they sum to 1');
    }
  }
  const gap = Math.max(...done.meta_learned.flatMap((s, i) => s.outputs.map((p, c) => Math.abs(p - done.random[i].outputs[c]))));
  assert.ok(gap > 0.01, `the meta-learned and the random start answer differently (largest gap ${gap})`);
  assert.equal(done.iteration, await page.evaluate(() => window.lab.iteration));
  // the tables show it: a row per step for each start
  assert.equal(await page.locator('#draw .draw-table').count(), 2);
  assert.equal(await page.locator('#draw .draw-table').first().locator('tbody tr').count(), k + 1);

  // training moves the weights on: the worker adapts the task again, and the panel says so
  await page.click('#play');
  await until(page, (k) => window.lab.charts.draw.result.iteration > k, done.iteration, 120_000);
  assert.match((await panel(page)).status, /refreshed as training goes/);
  await page.click('#play');

  // a class left empty is named; the keyboard fills it from a sample
  await page.click('button[aria-label="Clear class 2, example 1"]');
  await until(page, () => /Class 2 has no example/.test(window.lab.charts.draw.status.textContent));
  assert.equal(await panel(page).then((p) => p.result), null, 'no stale probabilities beside the sentence');
  await page.focus('button[aria-label="Fill class 2, example 1 from a sampled glyph"]');
  await page.keyboard.press('Enter');
  await until(page, () => window.lab.charts.draw.result !== null && /Adapted/.test(window.lab.charts.draw.status.textContent));

  // a phone: the panel fits 390 pixels
  await page.setViewportSize({ width: 390, height: 844 });
  await drawn(page);
  const overflow = await page.evaluate(() => {
    const d = document.getElementById('draw');
    return { scroll: d.scrollWidth, client: d.clientWidth, page: document.documentElement.scrollWidth };
  });
  assert.ok(overflow.scroll <= overflow.client + 1 && overflow.page <= 390, `nothing wider than the phone: ${JSON.stringify(overflow)}`);
  await page.locator('#draw').screenshot({ path: '/tmp/draw-phone.png' });
  assert.deepEqual(consoleErrors, []);
}));

test('sinusoid: a click places a point and adapts, a drag moves it, a second click removes it', () => withPage({ query: '?eval_tasks=2', hash: '#task=sinusoid&seed=2' }, async ({ page, consoleErrors }) => {
  await ready(page);
  const over = page.locator('#draw .u-over');
  await over.scrollIntoViewIfNeeded();
  const box = await over.boundingBox();
  const at = (fx, fy) => [box.x + fx * box.width, box.y + fy * box.height];
  for (const [fx, fy] of [[0.2, 0.3], [0.5, 0.6], [0.8, 0.4]]) await page.mouse.click(...at(fx, fy));
  const first = await until(page, () => {
    const d = window.lab.charts.draw;
    return d.points.length === 3 && d.result && d.sent === d.asked.id && !d.inFlight && { result: d.result, points: d.points };
  });
  assert.equal(first.result.meta_learned.length, first.result.random.length);
  assert.equal(first.result.meta_learned[0].outputs.length, 101, 'the curve on the grid');
  const last = first.result.meta_learned.length - 1;
  assert.ok(first.result.meta_learned[last].support_loss < first.result.meta_learned[0].support_loss, 'the inner steps fit the points');
  // drag the middle point up
  await page.mouse.move(...at(0.5, 0.6));
  await page.mouse.down();
  await page.mouse.move(...at(0.5, 0.2), { steps: 5 });
  await page.mouse.up();
  const moved = await until(page, (before) => {
    const d = window.lab.charts.draw;
    return d.result && !d.inFlight && d.points[1][1] > before + 1 && d.result;
  }, first.points[1][1]);
  assert.notDeepEqual(moved.meta_learned[last].outputs, first.result.meta_learned[last].outputs, 'the curve follows the point');
  // click it again: gone
  await page.mouse.click(...at(0.5, 0.2));
  await until(page, () => window.lab.charts.draw.points.length === 2);
  assert.match(await page.inputValue('#draw-points'), /^-?\d+\.\d\d, -?\d+\.\d\d; -?\d+\.\d\d, -?\d+\.\d\d$/, 'the typed form follows');
  // typed points, from the keyboard
  await page.fill('#draw-points', '-2, 1; 0, 0; 2, -1; 4, 3');
  // an answer that comes while the person types redraws the curves: what they typed stays
  await page.evaluate(() => window.lab.charts.draw.pad.drawCurves());
  assert.equal(await page.inputValue('#draw-points'), '-2, 1; 0, 0; 2, -1; 4, 3');
  await page.press('#draw-points', 'Enter');
  await until(page, () => window.lab.charts.draw.points.length === 4 && window.lab.charts.draw.result?.meta_learned[0].outputs.length === 101);
  assert.deepEqual(consoleErrors, []);
}));

test('from the meta-trained glyph start, a drawn task is told apart in a step; a random start lags (docs/draw.png)', () => withPage({ query: '?eval_tasks=2', hash: '#task=glyphs&start=meta-trained' }, async ({ page, consoleErrors }) => {
  await ready(page);
  const config = await page.evaluate(() => window.lab.config);
  assert.ok(config.task.ways === 5 && config.task.shots === 1, 'the page preset: 5-way 1-shot');
  const canvases = page.locator('#draw canvas.draw-canvas');
  for (let c = 0; c < 5; c++) await drawWithMouse(page, canvases.nth(c), SHAPES[c]);
  // the query: a ring, smaller and off-centre, not a copy of class 2's
  const ring = [Array.from({ length: 13 }, (_, i) => [0.55 + 0.22 * Math.cos((i * Math.PI) / 6), 0.45 + 0.22 * Math.sin((i * Math.PI) / 6)])];
  await drawWithPen(canvases.nth(5), ring);
  const done = await until(page, () => window.lab.charts.draw.result);
  const right = (start, step) => done[start][step].outputs[2];
  const rank = (p, c) => p.filter((v) => v > p[c]).length;
  // after one inner step the meta-learned start puts the ring first or second (the glyphs' pixel
  // noise on the drawings decides between the ring and the bar, which it holds about equally
  // likely, so the test does not ask which) and far more surely than a random start
  assert.ok(rank(done.meta_learned[1].outputs, 2) <= 1, `meta-learned start after 1 step: ${done.meta_learned[1].outputs}`);
  assert.ok(right('meta_learned', 1) > right('random', 1) + 0.2, `P(ring) after 1 step: meta-learned ${right('meta_learned', 1)}, random ${right('random', 1)}`);
  await drawn(page); // the tables' frame
  if (process.env.SCREENSHOTS) await page.locator('#draw').screenshot({ path: 'docs/draw.png' });
  assert.deepEqual(consoleErrors, []);
}));
