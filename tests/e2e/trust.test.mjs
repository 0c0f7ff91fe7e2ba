// The page never lies, round two (issue 24): what a careful user found, each as a test that fails
// on the page before the fix. The confidence band covers mean ± ci95 and no more; two tabs share
// their pinned runs; a worker that stops without a word is noticed and restarted; a restart resumes
// the run exactly, with its curve, its link and Play as they were; exported charts and axes fit
// what they hold. Then the confusing bits: the first screen, the learner's name, a learner's preset
// said aloud, the inner-step slider. Headless Chromium on the CPU path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { withPage, until, drawn, settled, steps } from './browser.mjs';

const QUICK = '?eval_tasks=24';
const ready = async (page) => { await until(page, () => window.lab?.ready && window.lab.evaluation !== null && window.lab.view !== null, null, 120_000); await drawn(page); };
const noticeMatching = (page, source) => until(page, (s) => window.lab.notices.map((n) => n.text).find((t) => new RegExp(s).test(t)), source, 120_000);
/** The run's meta-losses as [iteration, loss] pairs. */
const losses = (page) => page.evaluate(() => {
  const h = window.lab.history;
  return h.x.map((x, i) => [x, h.loss[i]]).filter(([, l]) => l !== null);
});

/** Where the step chart's band is tinted in the pixel column at inner step `x`, against where
 *  mean ± ci95 of the meta-test put its edges there (canvas pixels, top to bottom). */
function bandColumn(x) {
  const chart = window.lab.charts.steps;
  const plot = chart.plot;
  const { top, height } = plot.bbox;
  const cx = Math.round(plot.valToPos(x, 'x', true));
  const pixels = plot.ctx.getImageData(cx, top, 1, height).data;
  const tinted = [];
  for (let y = 0; y < height; y++) {
    // the canvas is transparent where nothing is drawn: as seen on the page's white
    const [r, , b, a] = pixels.slice(4 * y, 4 * y + 4);
    const over = (c) => (c * a) / 255 + 255 * (1 - a / 255);
    // the band's light blue (a line's pixels are darker or grey)
    if (over(r) > 150 && over(b) - over(r) > 8) tinted.push(top + y);
  }
  // the band's edges at x, between the two steps around it, as the evaluation gives them
  const steps = window.lab.evaluation.maml.steps;
  const metric = steps[0].accuracy ? 'accuracy' : 'loss';
  const scale = metric === 'accuracy' ? 100 : 1;
  const at = (i, f) => scale * (steps[i][metric].mean + f * steps[i][metric].ci95);
  // a band's edge runs straight between its points on the screen (on a log axis too)
  const i = Math.floor(x);
  const t = x - i;
  const px = (f) => (1 - t) * plot.valToPos(at(i, f), 'y', true) + t * plot.valToPos(at(i + 1, f), 'y', true);
  return { first: tinted[0], last: tinted[tinted.length - 1], count: tinted.length, hiPx: px(1), loPx: px(-1), lo: Math.min(at(i, -1), at(i + 1, -1)), bottom: top + height, dpr: devicePixelRatio };
}

for (const [task, hash] of [['glyphs', '#task=glyphs&start=scratch&seed=3'], ['sinusoid', '#task=sinusoid&start=meta-trained']]) {
  test(`broken 1 (${task}): the 95 % band covers mean ± ci95 of the meta-test, not down to the axis`, () => withPage({ query: QUICK, hash }, async ({ page, consoleErrors }) => {
    await ready(page);
    if (task === 'glyphs') await steps(page, 2);
    await drawn(page);
    // halfway between inner steps 0 and 1, where both edges are inside the plot
    const c = await page.evaluate(bandColumn, 0.5);
    assert.ok(c.lo > 0, `the interval's lower edge ${c.lo} is drawable on this chart`);
    assert.ok(c.count > 0, 'the band is drawn');
    const slack = 3 * c.dpr;
    assert.ok(Math.abs(c.first - c.hiPx) <= slack, `the band starts at mean + ci95 (${c.hiPx} px), not at ${c.first} px`);
    assert.ok(Math.abs(c.last - c.loPx) <= slack, `the band ends at mean − ci95 (${c.loPx} px), not at ${c.last} px (the axis is at ${c.bottom} px)`);
    assert.deepEqual(consoleErrors, []);
  }));
}

test('broken 2: two tabs keep each other\'s pinned runs, and a removal in one shows in the other', () => withPage({ query: '?eval_tasks=4', hash: '#task=sinusoid&start=meta-trained' }, async ({ page, base, consoleErrors }) => {
  await ready(page);
  const second = await page.context().newPage();
  await second.goto(`${base}?eval_tasks=4#task=sinusoid&start=meta-trained&inner_lr=0.02`);
  await ready(second);
  await page.click('#pin');
  await until(page, () => window.lab.pins.list.length === 1);
  await second.click('#pin');
  await until(second, () => window.lab.pins.list.length === 2);
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('maml-lab.pins')).pins.map((p) => p.tag));
  assert.deepEqual(stored, ['A', 'B'], 'storage holds both tabs\' pins');
  // the first tab shows the second's pin without a reload
  await until(page, () => document.querySelectorAll('#pin-list li').length === 2);
  await second.click('#pin-list li:first-child .remove');
  await until(page, () => document.querySelectorAll('#pin-list li').length === 1);
  assert.match(await page.textContent('#pin-list'), /^B ·/);
  // a pin that leaves this tab's charts goes with a sentence
  assert.match(await noticeMatching(page, 'Another tab'), /^Another tab of this page removed the pinned run A · /);
  await second.click('#forget-pins');
  assert.match(await noticeMatching(page, 'forgot'), /^Another tab of this page forgot the pinned runs\.$/);
  assert.equal(await page.evaluate(() => document.querySelectorAll('#pin-list li').length), 0);
  await second.close();
  assert.deepEqual(consoleErrors, []);
}));

test('broken 3: a worker that stops without an error is noticed and restarted, and the page works on', () => withPage({ query: '?eval_tasks=4', hash: '#task=glyphs&start=scratch&seed=5' }, async ({ page, consoleErrors }) => {
  await ready(page);
  await steps(page, 2);
  await page.evaluate(() => { window.deadWorker = window.lab.worker; window.lab.worker.terminate(); });
  const text = await noticeMatching(page, 'stopped without an error');
  assert.match(text, /The training engine stopped without an error: the browser ended it, or its process died, and was restarted with the same run, from its checkpoint at meta-iteration 2\./);
  assert.ok(await page.evaluate(() => window.lab.worker !== window.deadWorker), 'a fresh worker');
  await ready(page);
  assert.equal(await page.textContent('#iteration'), '2');
  await steps(page, 1);
  assert.equal(await page.textContent('#iteration'), '3');
  // the controls and the charts show one run: change the task, and both move to it
  await page.selectOption('#task', 'sinusoid');
  await until(page, () => window.lab.ready && window.lab.config.task.kind === 'sinusoid' && window.lab.evaluation !== null, null, 120_000);
  assert.equal(await page.$eval('#task', (e) => e.value), 'sinusoid');
  assert.deepEqual(consoleErrors, []);
}));

test('broken 4: a crashed worker\'s run resumes from its checkpoint exactly, with its curve, its link and Play', async () => {
  const hash = '#task=sinusoid&start=scratch&seed=7&live=2:inner_lr=0.02';
  // the run as it goes uninterrupted: five meta-iterations, α changed after the second
  const reference = await withPage({ query: '?eval_tasks=4', hash }, async ({ page }) => {
    await ready(page);
    await steps(page, 5);
    return losses(page);
  });
  assert.equal(reference.length, 5);
  await withPage({ query: '?eval_tasks=4', hash }, async ({ page, consoleErrors }) => {
    await ready(page);
    await steps(page, 3); // each Step takes a checkpoint
    await until(page, () => window.lab.snapshot.last?.iteration === 3);
    // one more meta-iteration past the checkpoint (straight to the worker: the Step button would
    // checkpoint it), then the crash
    await page.evaluate(() => window.lab.worker.postMessage({ type: 'step' }));
    await until(page, () => window.lab.iteration === 4);
    await settled(page);
    const link = await page.evaluate(() => location.hash);
    await page.evaluate(() => window.lab.worker.onmessage({ data: { type: 'fatal', request: 'step', message: 'unreachable executed' } }));
    const text = await noticeMatching(page, 'crashed');
    assert.match(text, /from its checkpoint at meta-iteration 3 \(the 1 meta-iteration since run again, to the same losses\)/);
    await ready(page);
    assert.equal(await page.textContent('#iteration'), '3');
    assert.deepEqual(await losses(page), reference.slice(0, 3), 'the curve up to the checkpoint stays');
    assert.equal(await page.evaluate(() => location.hash), link, 'the link still describes the run');
    assert.match(link, /live=2:inner_lr=0\.02/);
    await steps(page, 2);
    assert.deepEqual(await losses(page), reference, 'the resumed run makes the same meta-losses as the run that did not crash');
    // Play survives a crash too
    await page.click('#play');
    await until(page, () => window.lab.iteration >= 7);
    await page.evaluate(() => window.lab.worker.terminate());
    await noticeMatching(page, 'stopped without an error');
    await until(page, () => window.lab.ready && window.lab.running);
    assert.match(await page.textContent('#play'), /Pause/);
    const at = await page.evaluate(() => window.lab.iteration);
    await until(page, (k) => window.lab.iteration > k, at);
    await page.click('#play');
    assert.deepEqual(consoleErrors, []);
  });
});

/** A pinned run as storage keeps it, with a meta-loss that diverged to 3e27 and a long label. */
function divergedPin() {
  const x = [1, 2, 3, 4];
  return {
    tag: 'A', colour: '#d97706', iteration: 4, tasks: 4, lastStep: 10, taskMean: 3e27, taskCi95: 1e27,
    settings: { task: 'sinusoid', algorithm: 'maml', ways: 5, shots: 10, queries: 10, filters: 32, seed: 123456789, inner_lr: 2, meta_lr: 0.1, inner_steps: 10, meta_batch: 64, first_order: true, start: 'scratch' },
    history: { x, loss: [1, 1e9, 1e18, 3e27], avg: [1, 1e9, 1e18, 3e27], test: [null, null, null, 3e27] },
    steps: { metric: 'mse', iteration: 4, step: [0, 1, 2], mean: [2, 1e14, 3e27], ci95: [0.5, 1e13, 1e27], random: [2, 3, 4] },
  };
}

test('broken 5: a diverged pin neither squashes the axis nor runs the numbers or the legend off the chart, on the page or in its PNG', () => withPage({ query: QUICK, hash: '#task=sinusoid&start=meta-trained' }, async ({ page, consoleErrors }) => {
  await page.evaluate((pin) => { localStorage.setItem('maml-lab.pins', JSON.stringify({ version: 1, pins: [pin] })); location.reload(); }, divergedPin());
  await ready(page);
  await drawn(page);
  const axis = await page.evaluate(() => {
    const plot = window.lab.charts.loss.plot;
    const ctx = plot.ctx;
    ctx.font = plot.axes[1].font[0];
    const values = plot.axes[1]._values;
    return { values, widest: Math.max(...values.map((v) => ctx.measureText(v).width)) / devicePixelRatio, size: plot.axes[1]._size, max: plot.scales.y.max, currentMax: Math.max(...['loss', 'avg', 'test'].flatMap((k) => window.lab.history[k]).filter((v) => v !== null)) };
  });
  assert.ok(axis.max <= 100 * axis.currentMax, `the axis is the current run's (up to ${axis.max}), not the pin's 3e27`);
  assert.ok(axis.widest < axis.size, `the axis numbers ${axis.values} fit its ${axis.size} px`);
  const legend = await page.$eval('#loss-chart .u-legend', (e) => e.textContent);
  assert.match(legend, /off scale above: drawn on the edge/);
  // a long legend entry wraps inside the chart
  const overflow = await page.$$eval('#loss-chart .u-legend .u-series', (rows) => {
    const box = document.getElementById('loss-chart').getBoundingClientRect();
    return rows.filter((r) => getComputedStyle(r).display !== 'none').map((r) => r.getBoundingClientRect().right - box.right).filter((d) => d > 1);
  });
  assert.deepEqual(overflow, [], 'no legend entry runs past the chart');
  // the PNG lays the legend out within its width, the long label wrapped
  const lines = await page.evaluate(async () => {
    const { legendLines } = await import('./views/exports.js');
    const plot = window.lab.charts.loss.plot;
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = '12px sans-serif';
    const entries = plot.series.slice(1).map((s) => ({ label: s.label, colour: '#000' }));
    const width = 400;
    const rows = legendLines(ctx, entries, width);
    return { width, rights: rows.flat().map((e) => e.x + 24 + ctx.measureText(e.text).width), rows: rows.length, entries: entries.length };
  });
  assert.ok(lines.rights.every((r) => r <= lines.width), `every legend line within ${lines.width} px: ${lines.rights}`);
  assert.ok(lines.rows > lines.entries / 3, 'the long label took lines of its own');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#loss-figure button.png')]);
  const png = fs.readFileSync(await download.path());
  const height = png.readUInt32BE(20);
  const chartHeight = await page.evaluate(() => window.lab.charts.loss.plot.ctx.canvas.height);
  assert.ok(height > chartHeight, 'the PNG holds the chart and its legend above it');
  assert.deepEqual(consoleErrors, []);
}));

test('confusing: the first screen says what it shows and offers a run from scratch; the explanation is a tap away on a phone', () => withPage({ query: QUICK, viewport: { width: 375, height: 740 } }, async ({ page, consoleErrors }) => {
  await ready(page);
  const orient = await page.$eval('#orient', (e) => ({ text: e.textContent, bottom: e.getBoundingClientRect().bottom }));
  assert.match(orient.text, /already meta-trained for 10000 meta-iterations on sine waves/);
  assert.ok(orient.bottom <= 740, `the line is on the first screen (its bottom at ${orient.bottom} px)`);
  await page.click('#orient-explain');
  await until(page, () => { const r = document.getElementById('explain').getBoundingClientRect(); return r.top >= -1 && r.top < innerHeight; });
  await page.evaluate(() => scrollTo(0, 0));
  await page.click('#orient-scratch');
  await until(page, () => window.lab.ready && window.lab.state.start === 'scratch' && window.lab.iteration === 0);
  assert.match(await page.evaluate(() => location.hash), /start=scratch/);
  assert.match(await page.textContent('#orient'), /from scratch: press ▶ Play/);
  assert.ok(await page.isHidden('#orient-scratch'));
  assert.deepEqual(consoleErrors, []);
}));

test('confusing: a learner brings its preset with a sentence, keeps Play on, names itself on the chart, and the inner-step slider follows its test steps', () => withPage({ query: '?eval_tasks=4', hash: '#task=glyphs&start=scratch' }, async ({ page, consoleErrors }) => {
  await ready(page);
  const before = await page.evaluate(() => ({ max: document.getElementById('view-step').max, value: document.getElementById('view-step').value }));
  assert.equal(before.value, before.max, 'the slider starts at the last inner step');
  await page.click('#play');
  await until(page, () => window.lab.iteration >= 1);
  await page.selectOption('#algorithm', 'reptile');
  const text = await noticeMatching(page, 'brings its preset');
  assert.match(text, /^Reptile brings its preset \(each learner starts from its paper's settings, so runs side by side compare each at its best\): .*α inner_lr 0\.4 → 0\.1/);
  await until(page, (g) => window.lab.ready && window.lab.config.maml.algorithm === 'reptile' && window.lab.view !== null && window.lab.evaluation !== null);
  assert.ok(await page.evaluate(() => window.lab.running), 'Play is still on');
  await until(page, () => window.lab.iteration >= 1);
  await page.click('#play');
  await settled(page);
  const legend = await page.$eval('#step-chart .u-legend', (e) => e.textContent);
  assert.match(legend, /Reptile/);
  assert.doesNotMatch(legend, /MAML/);
  const after = await page.evaluate(() => ({ max: document.getElementById('view-step').max, value: document.getElementById('view-step').value, steps: window.lab.config.maml.test_inner_steps }));
  assert.equal(after.max, String(after.steps));
  assert.equal(after.value, after.max, `the slider moved to Reptile's last test step, ${after.steps}`);
  assert.notEqual(after.max, before.max);
  assert.deepEqual(consoleErrors, []);
}));

test('confusing: the speed shown is what a stopwatch gives, meta-tests and other pauses included', async () => {
  const { Stopwatch } = await import('../../www/results.js');
  const watch = new Stopwatch();
  assert.equal(watch.rate(), null, 'nothing timed before Play');
  watch.start(100, 0);
  // training calls of 100 ms making 5 meta-iterations each (50 it/s while they run), and a
  // meta-test of 1 s after the first second
  let iteration = 100;
  let now = 0;
  for (let call = 0; call < 30; call++) {
    now += 100;
    iteration += 5;
    watch.mark(iteration, now);
    if (call === 9) now += 1000;
  }
  // 150 meta-iterations in 4 s of the wall clock: 37.5 it/s, not the calls' 50
  assert.ok(Math.abs(watch.rate() - 150 / 4) < 1e-9, `rate ${watch.rate()}`);
  // after ten quiet seconds of training the meta-test has left the window
  for (let call = 0; call < 120; call++) { now += 100; iteration += 5; watch.mark(iteration, now); }
  assert.ok(Math.abs(watch.rate() - 50) < 1, `rate ${watch.rate()}`);
});

test('confusing: a file that is not a zip gets a sentence a person can act on; the noise task\'s draw panel says one thing', () => withPage({ query: '?eval_tasks=4', hash: '#task=glyphs&start=scratch' }, async ({ page, consoleErrors }) => {
  await ready(page);
  await page.setInputFiles('#zip', { name: 'photo.zip', mimeType: 'application/zip', buffer: Buffer.from('these bytes are a photo, not a zip') });
  const text = await noticeMatching(page, 'Could not read that zip');
  assert.match(text, /it has no end-of-archive record: it is another kind of file, or a zip cut short, as by an unfinished download\); pick a \.zip of <alphabet>\/<character>\/<image>\.png/);
  assert.doesNotMatch(text, /EOCD/);
  assert.match(await page.textContent('#zip-status'), /photo\.zip was not read/);
  // glyphs ask for drawings; noise has nothing to draw, and says only that
  assert.match(await page.textContent('#draw'), /Draw a glyph for each class/);
  await page.selectOption('#task', 'noise');
  await until(page, () => window.lab.ready && window.lab.config.task.kind === 'noise', null, 120_000);
  const draw = await page.textContent('#draw');
  assert.match(draw, /The noise task has nothing to draw/);
  assert.doesNotMatch(draw, /Draw a glyph/);
  assert.deepEqual(consoleErrors, []);
}));

test('broken 5: a pinned run in the current run\'s range is drawn where it is, not clamped', () => withPage({ query: '?eval_tasks=4', hash: '#task=sinusoid&start=scratch&seed=2' }, async ({ page, consoleErrors }) => {
  const pin = { ...divergedPin(), taskMean: 0.9, taskCi95: 0.1 };
  pin.history = { x: [1, 2, 3, 4], loss: [3.7, 2.5, 1.4, 0.89], avg: [3.7, 3.1, 2.2, 0.89], test: [null, null, null, 0.9] };
  pin.steps = { metric: 'mse', iteration: 4, step: [0, 1, 2], mean: [3.5, 1.2, 0.9], ci95: [0.5, 0.2, 0.1], random: [3.5, 3.4, 3.3] };
  await page.evaluate((p) => { localStorage.setItem('maml-lab.pins', JSON.stringify({ version: 1, pins: [p] })); location.reload(); }, pin);
  await ready(page);
  await drawn(page);
  for (const chart of ['loss-chart', 'step-chart', 'task-chart']) {
    assert.doesNotMatch(await page.$eval(`#${chart} .u-legend`, (e) => e.textContent), /off scale/, chart);
  }
  assert.ok(await page.evaluate(() => window.lab.charts.loss.plot.scales.y.min <= 0.89), 'the axis reaches the pin\'s lowest point');
  assert.deepEqual(consoleErrors, []);
}));
