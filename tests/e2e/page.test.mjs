// The page end-to-end in Debian's headless Chromium, on the CPU path (no GPU here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { withPage, until, mainThreadStayedFree, drawn, settled, steps as step } from './browser.mjs';

const ready = async (page) => { await until(page, () => window.lab.ready && window.lab.evaluation !== null); await drawn(page); };

/** Presses Step n times, waiting for each meta-iteration; returns the meta-losses. */
async function steps(page, n) {
  await step(page, n);
  return page.evaluate(() => window.lab.history.loss.filter((v) => v !== null));
}

test('the sinusoid trains on the CPU: no console errors, the loss chart fills and falls', () => withPage({ hash: '#start=scratch' }, async ({ page, consoleErrors }) => {
  await ready(page);
  const backend = await page.evaluate(() => window.lab.backend);
  assert.equal(backend.backend, 'cpu');
  assert.match(backend.why, /WebGPU/, 'the page says why it is not on WebGPU');
  assert.match(await page.textContent('#backend-badge'), /CPU/);
  await page.click('#play');
  await until(page, () => window.lab.iteration >= 400, null, 120_000);
  await page.click('#play'); // pause
  const h = await page.evaluate(() => window.lab.history);
  const losses = h.loss.filter((v) => v !== null);
  const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
  assert.ok(losses.length >= 400);
  assert.ok(mean(losses.slice(-100)) < 0.7 * mean(losses.slice(0, 50)), `the meta-loss should fall: ${mean(losses.slice(0, 50))} -> ${mean(losses.slice(-100))}`);
  // the loss chart has drawn its points
  const drawn = await page.evaluate(() => document.querySelector('#loss-chart canvas').width > 0);
  assert.ok(drawn);
  assert.deepEqual(consoleErrors, []);
}));

test('a glyph task runs and the adaptation view marks its queries', () => withPage({ hash: '#task=glyphs' }, async ({ page, consoleErrors }) => {
  await ready(page);
  const losses = await steps(page, 3);
  assert.ok(losses.every(Number.isFinite));
  await until(page, () => window.lab.view !== null);
  const view = await page.evaluate(() => window.lab.view.view);
  assert.equal(view.support_y.length, 5);
  assert.equal(view.steps[view.steps.length - 1].predictions.length, 25);
  assert.ok(await page.evaluate(() => document.querySelector('#view canvas').height > 100));
  const evaluation = await page.evaluate(() => window.lab.evaluation);
  assert.ok(evaluation.maml.steps[0].accuracy.mean >= 0);
  assert.deepEqual(consoleErrors, []);
}));

test('the α slider changes the α the worker uses and the URL', () => withPage({ hash: '#start=scratch' }, async ({ page }) => {
  await ready(page);
  await page.$eval('#inner_lr', (el) => { el.value = '800'; el.dispatchEvent(new Event('input')); });
  const alpha = await until(page, () => window.lab.config.maml.inner_lr !== 0.01 && window.lab.config.maml.inner_lr);
  const expected = Number(await page.textContent('output[for=inner_lr]'));
  assert.ok(expected > 0.01, `the slider shows α = ${expected}`);
  assert.equal(alpha, expected);
  assert.match(await page.evaluate(() => location.hash), new RegExp(`inner_lr=${expected}`));
  // it is live: the run goes on from where it was
  await steps(page, 1);
  assert.equal(await page.evaluate(() => window.lab.config.maml.inner_lr), expected);
}));

test('the page has one control per setting of the wasm\'s table, the backend and the workers', () => withPage({}, async ({ page }) => {
  await ready(page);
  const ids = await page.$$eval('#live-controls [id], #run-controls [id]', (els) => els.map((el) => el.id));
  // the table as the wasm gives it, read here apart from the page's copy
  const keys = await page.evaluate(async () => {
    const wasm = await import('./pkg/maml_lab.js');
    await wasm.default();
    return JSON.parse(wasm.Lab.settings_table()).controls.map((c) => c.key);
  });
  assert.deepEqual([...ids].sort(), [...keys, 'backend', 'threads'].sort());
}));

test('more inner steps in training, more in the meta-test and the adaptation view: the wasm says how many', () => withPage({ hash: '#task=glyphs' }, async ({ page }) => {
  await ready(page);
  const test = await page.evaluate(() => window.lab.config.maml.test_inner_steps);
  assert.equal(await page.getAttribute('#view-step', 'max'), String(test));
  await page.$eval('#inner_steps', (el) => { el.value = String(el.max); el.dispatchEvent(new Event('input')); });
  const most = Number(await page.getAttribute('#inner_steps', 'max'));
  assert.ok(most > test);
  await until(page, (k) => window.lab.config.maml.test_inner_steps === k, most);
  await steps(page, 1);
  await until(page, (k) => document.getElementById('view-step').max === String(k), most);
  await page.$eval('#view-step', (el) => { el.value = el.max; el.dispatchEvent(new Event('input')); });
  assert.match(await page.textContent('#view-caption'), new RegExp(`after ${most} inner steps`));
}));

test('Pause, Play and Pause pressed quickly leave training paused', () => withPage({ hash: '#start=scratch' }, async ({ page }) => {
  await ready(page);
  await page.click('#play');
  await until(page, () => window.lab.iteration > 0);
  // three presses within one batch of training
  await page.evaluate(() => { for (let i = 0; i < 3; i++) document.getElementById('play').click(); });
  assert.equal(await page.textContent('#play'), '▶ Play');
  await settled(page); // the batches already asked for come in
  const counter = await page.textContent('#iteration');
  await page.waitForTimeout(2000);
  await settled(page);
  assert.equal(await page.textContent('#iteration'), counter, 'the counter should stand still');
}));

test('reloading the URL reproduces the same first losses', async () => {
  const hash = '#task=sinusoid&seed=7&inner_lr=0.02&meta_batch=10';
  const firstLosses = (h) => withPage({ hash: h }, async ({ page }) => { await ready(page); return steps(page, 4); });
  const first = await firstLosses(hash);
  await withPage({ hash }, async ({ page }) => {
    await ready(page);
    assert.deepEqual(await steps(page, 4), first);
    await page.reload();
    await ready(page);
    assert.deepEqual(await steps(page, 4), first, 'a reload of the same link');
  });
  assert.notDeepEqual(await firstLosses(hash.replace('seed=7', 'seed=8')), first, 'another seed, another run');
});

test('a hand-edited URL is clamped or defaulted, and the page says so', () => withPage({ hash: '#task=glyphs&inner_lr=abc&ways=999&shots=-3&bogus=1&first_order=maybe&filters=12' }, async ({ page, consoleErrors }) => {
  await ready(page);
  const text = await page.textContent('#notices');
  for (const word of ['inner_lr=abc', 'ways=999', 'shots=-3', "'bogus'", 'first_order=maybe', 'filters=12 is not one of 8, 16, 32, 64']) assert.ok(text.includes(word), `notice about ${word}: ${text}`);
  const config = await page.evaluate(() => window.lab.config);
  assert.equal(config.maml.inner_lr, 0.4);
  assert.equal(config.task.ways, 20);
  assert.equal(config.task.shots, 1);
  assert.equal(config.model.filters, 16);
  assert.equal(await page.inputValue('#filters'), '16');
  assert.match(await page.evaluate(() => location.hash), /ways=20/);
  assert.deepEqual(consoleErrors, []);
}));

test('divergence pauses with a sentence and keeps the last finite weights', () => withPage({ hash: '#task=sinusoid&inner_lr=2&meta_lr=0.1&inner_steps=10' }, async ({ page }) => {
  await ready(page);
  await page.click('#play');
  // (α = 2 over 10 steps overflows the first meta-test too, before Play: that sentence comes first)
  await until(page, () => window.lab.notices.some((n) => /training diverged/.test(n.text)), null, 60_000);
  const state = await page.evaluate(() => ({ running: window.lab.running, text: document.getElementById('notices').textContent, iteration: window.lab.iteration }));
  assert.equal(state.running, false);
  assert.match(state.text, /diverged at iteration \d+/);
  assert.match(state.text, /lower α/);
  // the page keeps working: lower α and go on from the kept weights
  await page.$eval('#inner_lr', (el) => { el.value = '200'; el.dispatchEvent(new Event('input')); });
  await until(page, () => window.lab.config.maml.inner_lr < 0.1);
  await page.click('#step');
  await until(page, (k) => window.lab.iteration > k, state.iteration);
}));

test('a corrupt zip, an oversized file and weights of another model are refused and the run goes on', () => withPage({ hash: '#start=scratch' }, async ({ page }) => {
  await ready(page);
  await steps(page, 2);
  const download = page.waitForEvent('download');
  await page.click('#download');
  const weights = fs.readFileSync(await (await download).path());
  assert.equal(weights.subarray(0, 5).toString(), 'MAMLW');

  // a file over the limit is refused before it is read
  await page.evaluate(() => {
    const input = document.getElementById('zip');
    const files = new DataTransfer();
    files.items.add(new File([new Uint8Array(65 << 20)], 'huge.zip'));
    input.files = files.files;
    input.dispatchEvent(new Event('change'));
  });
  await until(page, () => /huge.zip is 65 MB, over the 64 MB limit/.test(document.getElementById('notices').textContent));
  await page.setInputFiles('#zip', { name: 'broken.zip', mimeType: 'application/zip', buffer: Buffer.from('not a zip at all') });
  await until(page, () => /Could not read that zip/.test(document.getElementById('notices').textContent));
  assert.equal(await page.evaluate(() => window.lab.state.task), 'sinusoid');

  // the sinusoid's weights into a glyph network
  await page.selectOption('#task', 'glyphs');
  await until(page, () => window.lab.ready && window.lab.config.task.kind === 'glyphs');
  await page.setInputFiles('#weights', { name: 'sine.bin', mimeType: 'application/octet-stream', buffer: weights });
  await until(page, () => /Could not load those weights/.test(document.getElementById('notices').textContent));
  assert.match(await page.textContent('#notices'), /another model/);
  await page.setInputFiles('#weights', { name: 'junk.bin', mimeType: 'application/octet-stream', buffer: Buffer.from('junk') });
  await until(page, () => /not a weights file/.test(document.getElementById('notices').textContent));
  // nothing was lost: the glyph run still steps
  await steps(page, 1);
}));

test('weights downloaded from a run load back into it', () => withPage({ hash: '#task=glyphs' }, async ({ page }) => {
  await ready(page);
  await steps(page, 2);
  const download = page.waitForEvent('download');
  await page.click('#download');
  const weights = fs.readFileSync(await (await download).path());
  await page.click('#reset');
  await until(page, () => window.lab.ready && window.lab.evaluation !== null);
  // a new run: the counter and the loss chart start again
  assert.equal(await page.textContent('#iteration'), '0');
  assert.deepEqual(await page.evaluate(() => window.lab.history.loss.filter((v) => v !== null)), []);
  await page.setInputFiles('#weights', { name: 'mine.bin', mimeType: 'application/octet-stream', buffer: weights });
  await until(page, () => /Loaded the weights of mine.bin \(trained 2/.test(document.getElementById('notices').textContent));
}));

test('after the engine fails, the page restarts it and the run goes on from its checkpoint, its curve kept', () => withPage({ hash: '#task=sinusoid&seed=5' }, async ({ page, consoleErrors }) => {
  await ready(page);
  await steps(page, 3);
  // every Step takes a checkpoint
  await until(page, () => window.lab.snapshot.last?.iteration === 3);
  const link = await page.evaluate(() => location.hash);
  // what the worker sends when the wasm panics
  await page.evaluate(() => window.lab.worker.onmessage({ data: { type: 'fatal', request: 'step', message: 'unreachable executed' } }));
  await until(page, () => /training engine crashed/.test(document.getElementById('notices').textContent));
  assert.match(await page.textContent('#notices'), /training engine crashed \(unreachable executed: .*\), and was restarted with the same run, from its checkpoint at meta-iteration 3\./);
  await until(page, () => window.lab.ready && !document.getElementById('step').disabled);
  assert.equal(await page.evaluate(() => location.hash), link, 'the link is the run\'s, as before');
  assert.equal(await page.textContent('#iteration'), '3', 'the counter shows the checkpoint\'s iteration, where the run goes on');
  assert.equal((await page.evaluate(() => window.lab.history.loss.filter((v) => v !== null))).length, 3, 'the curve up to the checkpoint stays');
  await page.click('#step');
  await until(page, () => window.lab.iteration >= 4);
  assert.equal(await page.textContent('#iteration'), '4');
  assert.equal((await page.evaluate(() => window.lab.history.loss.filter((v) => v !== null))).length, 4);
  assert.deepEqual(consoleErrors, []);
}));

test('an Omniglot zip picked by the person becomes the task', { skip: !fs.existsSync('../shared/data/omniglot/images_background_small1.zip') && 'shared data absent' }, () => withPage({}, async ({ page, consoleErrors }) => {
  await ready(page);
  await page.setInputFiles('#zip', '../shared/data/omniglot/images_background_small1.zip');
  await until(page, () => window.lab.ready && window.lab.config?.task.kind === 'omniglot', null, 60_000);
  assert.match(await page.textContent('#zip-status'), /136 characters, 2720 images/);
  const losses = await steps(page, 2);
  assert.ok(losses.every(Number.isFinite));
  assert.deepEqual(consoleErrors, []);
}));

test('training leaves the main thread free: no task near a second, long tasks a small share of the time', () => withPage({ hash: '#task=glyphs' }, async ({ page }) => {
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => window.longTasks.push(...list.getEntries().map((e) => ({ start: e.startTime, ms: e.duration })))).observe({ type: 'longtask', buffered: true });
  });
  await ready(page);
  await settled(page); // the start's work is done before the window opens
  const since = await page.evaluate(() => performance.now());
  await page.click('#play');
  // 15 s of training, and at least 6 meta-iterations however slow the machine
  await page.waitForTimeout(15_000);
  await until(page, () => window.lab.iteration > 5, null, 5 * 60_000);
  await page.click('#play');
  const windowMs = await page.evaluate((t) => performance.now() - t, since);
  const long = await page.evaluate((t) => window.longTasks.filter((e) => e.start > t), since);
  assert.ok(mainThreadStayedFree(long.map((e) => e.ms), windowMs), `long main-thread tasks during training: ${JSON.stringify(long)}`);
}));

test('a long run keeps memory flat', { timeout: 10 * 60_000 }, () => withPage({ query: '?eval_tasks=4', hash: '#task=sinusoid&meta_batch=5' }, async ({ page }) => {
  await ready(page);
  await page.click('#play');
  const sample = () => page.evaluate(() => ({ iteration: window.lab.iteration, wasm: window.lab.wasmBytes, points: window.lab.history.x.length }));
  await until(page, () => window.lab.iteration >= 1500, null, 5 * 60_000);
  const early = await sample();
  await until(page, () => window.lab.iteration >= 9000, null, 8 * 60_000);
  const late = await sample();
  await page.click('#play');
  // the wasm heap reaches its working size early and stays there; the chart history is thinned
  assert.ok(late.wasm <= early.wasm * 1.1, `wasm memory grew from ${early.wasm} to ${late.wasm} bytes`);
  assert.ok(late.points <= 4100, `the loss history holds ${late.points} points`);
}));

test('a run setting typed out of range is clamped with a notice and starts a new run', () => withPage({ hash: '#task=glyphs' }, async ({ page }) => {
  await ready(page);
  await steps(page, 1);
  await page.fill('#ways', '50');
  await page.dispatchEvent('#ways', 'change');
  await until(page, () => window.lab.ready && window.lab.config.task.ways === 20 && window.lab.iteration === 0);
  assert.match(await page.textContent('#notices'), /ways=50 is outside 2\.\.20; using 20/);
  assert.match(await page.evaluate(() => location.hash), /ways=20/);
  await steps(page, 1);
}));

// ---------------------------------------------------------------- the four meta-learners
const ALGORITHMS = ['maml', 'reptile', 'anil', 'meta-sgd'];
const QUICK = '?eval_tasks=4';

/** What a person sees of the run's algorithm: the selector, the explanation, the rate display. */
const shown = (page) => page.evaluate(() => ({
  selected: document.getElementById('algorithm').value,
  explanation: document.querySelector('.algorithm-explain').textContent,
  ratesShown: !document.getElementById('rates').hidden,
  firstOrderDisabled: document.getElementById('first_order').disabled,
  firstOrderTitle: document.getElementById('first_order').title,
}));

for (const algorithm of ALGORITHMS) {
  test(`${algorithm} trains on the sinusoid: finite losses, its explanation, no console errors`, () => withPage({ query: QUICK, hash: `#task=sinusoid&algorithm=${algorithm}` }, async ({ page, consoleErrors }) => {
    await ready(page);
    const losses = await steps(page, 3);
    assert.equal(losses.length, 3);
    assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
    const { config, evaluation, table } = await page.evaluate(() => ({ config: window.lab.config, evaluation: window.lab.evaluation, table: window.lab.table }));
    assert.equal(config.maml.algorithm, algorithm);
    assert.ok(evaluation.maml.steps.every((s) => Number.isFinite(s.loss.mean)));
    // the run is the algorithm's preset: its own schedule
    assert.equal(config.maml.inner_steps, table.presets[algorithm].sinusoid.inner_steps);
    const seen = await shown(page);
    assert.equal(seen.selected, algorithm);
    assert.equal(seen.explanation, table.algorithms[algorithm]);
    assert.equal(seen.ratesShown, algorithm === 'meta-sgd', 'the learned rates show for Meta-SGD only');
    assert.equal(seen.firstOrderDisabled, algorithm === 'reptile', 'first-order is off the table for Reptile only');
    assert.deepEqual(consoleErrors, []);
  }));
}

test('Meta-SGD on glyphs shows its learned rates per layer, moving away from α', () => withPage({ query: QUICK, hash: '#task=glyphs&algorithm=meta-sgd' }, async ({ page, consoleErrors }) => {
  await ready(page);
  assert.ok(!(await page.isHidden('#rates')), 'the rate display shows for Meta-SGD');
  assert.match(await page.textContent('#rates-caption'), /starts at α/);
  const losses = await steps(page, 3);
  assert.ok(losses.every(Number.isFinite));
  await until(page, () => window.lab.rates?.iteration === 3);
  await drawn(page);
  const { rates, alpha } = await page.evaluate(() => ({ rates: window.lab.rates.rates, alpha: window.lab.startAlpha }));
  // a rate per parameter tensor of the conv net: blocks' weights and biases, then the head's
  const names = rates.map((r) => r.name);
  assert.ok(names.length >= 4 && names.every((n) => /(weight|bias|gamma|beta)$/.test(n)), `names ${names}`);
  assert.ok(names.some((n) => /head/.test(n)), `a head among ${names}`);
  // each row names its tensor in words, with the code's name on hover
  const rows = await page.$$eval('#rates-body .param', (els) => els.map((e) => ({ words: e.textContent, code: e.title })));
  assert.deepEqual(rows.map((r) => r.code), names.map((n) => `${n}, in the model's code`));
  assert.ok(rows.every((r) => !/\.(weight|bias|gamma|beta)$/.test(r.words)), `every name in words: ${rows.map((r) => r.words)}`);
  assert.ok(rows.some((r) => /output layer/.test(r.words)) && rows.some((r) => /batch-norm scale γ/.test(r.words)), `${rows.map((r) => r.words)}`);
  assert.ok(rates.every((r) => Number.isFinite(r.mean) && r.min <= r.mean && r.mean <= r.max));
  assert.ok(rates.some((r) => r.min !== alpha || r.max !== alpha), 'three meta-iterations moved some rates off α');
  assert.match(await page.textContent('#rates-caption'), /started at α = .* after 3 meta-iterations the layers' means run from/);
  assert.deepEqual(consoleErrors, []);
}));

test('ANIL on glyphs: the adaptation view says only the head adapts', () => withPage({ query: QUICK, hash: '#task=glyphs&algorithm=anil' }, async ({ page, consoleErrors }) => {
  await ready(page);
  const losses = await steps(page, 2);
  assert.ok(losses.every(Number.isFinite));
  await until(page, () => window.lab.view !== null);
  await drawn(page);
  assert.match(await page.textContent('#view-caption'), /only the head adapts \(ANIL\)/);
  assert.ok(await page.isHidden('#rates'));
  assert.deepEqual(consoleErrors, []);
}));

test('the algorithm selector starts that algorithm\'s preset, keeps seed and backend, and explains it', () => withPage({ query: QUICK, hash: '#task=sinusoid&seed=11&backend=cpu&inner_lr=0.05' }, async ({ page }) => {
  await ready(page);
  const table = await page.evaluate(() => window.lab.table);
  let seen = await shown(page);
  assert.equal(seen.selected, 'maml');
  assert.match(seen.explanation, /^MAML:/);
  assert.equal(seen.ratesShown, false, 'no rates for MAML');
  assert.equal(seen.firstOrderDisabled, false);

  await page.selectOption('#algorithm', 'reptile');
  await until(page, () => window.lab.ready && window.lab.config.maml.algorithm === 'reptile');
  const state = await page.evaluate(() => window.lab.state);
  assert.equal(state.seed, 11);
  assert.equal(state.backend, 'cpu');
  assert.equal(state.inner_lr, table.presets.reptile.sinusoid.inner_lr, 'the preset replaces the hand-set α');
  assert.equal(state.inner_steps, table.presets.reptile.sinusoid.inner_steps);
  seen = await shown(page);
  assert.match(seen.explanation, /^Reptile:/);
  assert.equal(seen.firstOrderDisabled, true);
  assert.match(seen.firstOrderTitle, /Reptile has no gradient through its inner loop/);
  const hash = await page.evaluate(() => location.hash);
  assert.match(hash, /algorithm=reptile/);
  assert.match(hash, /first_order=(true|false)/, 'first-order stays in the link');

  await page.selectOption('#algorithm', 'meta-sgd');
  // the rates are drawn on the animation frame after they arrive: wait for what a person sees
  await until(page, () => window.lab.ready && !document.getElementById('rates').hidden);
  seen = await shown(page);
  assert.match(seen.explanation, /^Meta-SGD:/);
  assert.equal(seen.ratesShown, true);
  assert.equal(seen.firstOrderDisabled, false, 'first-order is back');
  assert.equal(seen.firstOrderTitle, '');

  // a link naming another algorithm
  await page.evaluate(() => { location.hash = location.hash.replace('algorithm=meta-sgd', 'algorithm=anil'); });
  await until(page, () => window.lab.ready && window.lab.config.maml.algorithm === 'anil');
  // the previous run's rates go on the animation frame after the new run is ready (a loaded
  // machine may draw it late): wait for what a person sees
  await until(page, () => document.getElementById('rates').hidden);
  seen = await shown(page);
  assert.equal(seen.selected, 'anil');
  assert.match(seen.explanation, /^ANIL:/);
  assert.equal(seen.ratesShown, false);
}));

test('a link with an unknown algorithm gets a notice and runs MAML', () => withPage({ query: QUICK, hash: '#task=sinusoid&algorithm=mamlx' }, async ({ page, consoleErrors }) => {
  await ready(page);
  assert.match(await page.textContent('#notices'), /algorithm=mamlx is not one of maml, reptile, anil, meta-sgd; using maml/);
  assert.equal(await page.inputValue('#algorithm'), 'maml');
  assert.equal(await page.evaluate(() => window.lab.config.maml.algorithm), 'maml');
  assert.match(await page.evaluate(() => location.hash), /algorithm=maml(&|$)/);
  assert.deepEqual(consoleErrors, []);
}));

test('the page downloads at most 3 MB of wasm (gzipped, as a server sends it)', async () => {
  const { readFile } = await import('node:fs/promises');
  const { gzipSync, constants } = await import('node:zlib');
  const wasm = await readFile(new URL('../../www/pkg/maml_lab_bg.wasm', import.meta.url));
  const gzipped = gzipSync(wasm, { level: constants.Z_BEST_COMPRESSION }).length;
  assert.ok(gzipped <= 3_000_000, `wasm is ${wasm.length} bytes, ${gzipped} gzipped: over the 3 MB budget (see BENCHMARKS.md for what makes it small)`);
});
