// Runs side by side and the meta-trained starts, end to end in headless Chromium (CPU path):
// a pinned run shows in the legends with what differs and survives a reload; the exports
// download files with the expected columns; each shipped start loads and scores what the
// README claims. Also takes docs/pinned.png.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { withPage, until, drawn } from './browser.mjs';

const manifest = JSON.parse(fs.readFileSync(new URL('../../www/starts/starts.json', import.meta.url)));
const lastOf = (steps) => steps[steps.length - 1];

const ready = async (page) => { await until(page, () => window.lab.ready && window.lab.evaluation !== null); await drawn(page); };
const legend = (page, chart) => page.$eval(`#${chart} .u-legend`, (el) => [...el.querySelectorAll('.u-series')].filter((s) => getComputedStyle(s).display !== 'none').map((s) => s.textContent.trim()));

/** Presses Step until the run has `n` more meta-iterations and a meta-test after them. */
async function stepTo(page, n) {
  for (let i = 0; i < n; i++) {
    await until(page, () => !document.getElementById('step').disabled);
    const before = await page.evaluate(() => window.lab.iteration);
    await page.click('#step');
    await until(page, (k) => window.lab.iteration > k && window.lab.evaluation.iteration > k, before);
  }
}

/** The file a click on `selector` downloads: its suggested name and its bytes. */
async function downloaded(page, click) {
  const [d] = await Promise.all([page.waitForEvent('download'), click()]);
  return { name: d.suggestedFilename(), bytes: fs.readFileSync(await d.path()) };
}

// (navigation's start is checked in navigation.test.mjs: its meta-test is of returns on 20 goals)
for (const [task, info] of Object.entries(manifest).filter(([, info]) => info.metric !== 'return')) {
  test(`the meta-trained ${task} start loads in the page and scores what the README claims`, () => withPage({ query: '?eval_tasks=24', hash: task === 'sinusoid' ? '' : `#task=${task}&start=meta-trained` }, async ({ page, consoleErrors }) => {
    // a first visit (no link) lands on the sinusoid's start; glyphs through a link
    const evaluation = await until(page, (k) => window.lab.evaluation?.iteration === k && window.lab.evaluation, info.iterations, 120_000);
    assert.match(await page.evaluate(() => location.hash), /start=meta-trained/);
    assert.equal(await page.isChecked('#start-meta-trained'), true);
    assert.equal(await page.textContent('#iteration'), String(info.iterations));
    const last = lastOf(evaluation.maml.steps);
    const page24 = info.metric === 'mse' ? last.loss.mean : 100 * last.accuracy.mean;
    // the same 24 tasks as `maml eval --tasks 24` natively: equal up to the f32 arithmetic of the
    // wasm's kernels (for accuracy: one query of the 24 x 25 flipping, 0.17 points)
    const native24 = lastOf(info.tasks24).mean;
    const close = info.metric === 'mse' ? Math.abs(page24 - native24) <= 1e-3 * native24 : Math.abs(page24 - native24) <= 0.5;
    assert.ok(close, `${task}: the page measures ${page24} on 24 tasks, natively ${native24}`);
    // and within the README's 600-task claim: the mean of 24 tasks varies sqrt(600 / 24) = 5 times
    // as much as that of 600, whose standard error is ci95 / 1.96; three such errors either way
    const claim = lastOf(info.tasks600);
    const band = 3 * (claim.ci95 / 1.96) * Math.sqrt(600 / 24);
    assert.ok(Math.abs(page24 - claim.mean) <= band, `${task}: ${page24} on 24 tasks, the claim ${claim.mean} ± ${claim.ci95} (band ${band})`);
    assert.deepEqual(consoleErrors, []);
  }));
}

test('the starts and the wasm together stay within the page\'s 3 MB budget (gzipped, as a server sends them)', async () => {
  const { gzipSync, constants } = await import('node:zlib');
  const gz = (path) => gzipSync(fs.readFileSync(new URL(`../../www/${path}`, import.meta.url)), { level: constants.Z_BEST_COMPRESSION }).length;
  const starts = ['starts/starts.json', ...Object.values(manifest).map((info) => `starts/${info.file}`)].map(gz).reduce((a, b) => a + b, 0);
  const wasm = gz('pkg/maml_lab_bg.wasm');
  assert.ok(wasm + starts <= 3_000_000, `wasm ${wasm} + starts ${starts} bytes gzipped: over the 3 MB budget`);
});

test('the start is a choice beside Play, by keyboard; a changed run setting falls back to scratch and says why', () => withPage({}, async ({ page, consoleErrors }) => {
  const { iterations } = manifest.sinusoid;
  await until(page, (k) => window.lab.ready && window.lab.iteration === k, iterations);
  // accessible names
  const scratch = page.getByRole('radio', { name: 'train from scratch' });
  const trained = page.getByRole('radio', { name: 'from a meta-trained model' });
  await scratch.focus();
  await page.keyboard.press('Space');
  await until(page, () => window.lab.ready && window.lab.iteration === 0 && location.hash.includes('start=scratch'));
  await trained.focus();
  await page.keyboard.press('Space');
  await until(page, (k) => window.lab.ready && window.lab.iteration === k && location.hash.includes('start=meta-trained'), iterations);
  // another seed: other meta-test tasks, which that start may have trained on
  await page.fill('#seed', '3');
  await page.press('#seed', 'Enter');
  await until(page, () => window.lab.ready && window.lab.state.seed === 3 && window.lab.iteration === 0);
  assert.equal(await trained.isDisabled(), true);
  assert.equal(await scratch.isChecked(), true);
  assert.match(await page.textContent('#start-hint'), /seed 0/);
  assert.match(await page.textContent('#notices'), /starts from scratch: .*seed 0.*seed 3/);
  assert.match(await page.evaluate(() => location.hash), /start=scratch/);
  assert.deepEqual(consoleErrors, []);
}));

test('a pinned run shows in the legends with what differs, survives a reload, exports, and goes', () => withPage({ query: '?eval_tasks=8', hash: '#task=sinusoid&start=scratch' }, async ({ page, consoleErrors }) => {
  await ready(page);
  await page.evaluate(() => localStorage.clear());
  await stepTo(page, 3);
  // "Keep this run" from the keyboard
  await page.focus('#pin');
  await page.keyboard.press('Enter');
  await until(page, () => window.lab.pins.list.length === 1);
  await page.check('#first_order'); // a live setting: the run goes on with it
  const label = 'A · first_order: false → true';
  await until(page, (l) => document.querySelector('#loss-chart .u-legend').textContent.includes(l), label);
  assert.ok((await legend(page, 'step-chart')).includes(label));
  assert.ok((await legend(page, 'task-chart')).includes(`${label} mean`));
  assert.equal(await page.getByRole('button', { name: `Remove pinned run ${label}` }).count(), 1);

  await page.reload();
  await ready(page);
  // the link replays the run: first-order from after iteration 3 on, where the change was made;
  // until then the run's settings are the pin's, and the label says so
  assert.match(await page.evaluate(() => location.hash), /first_order=false.*&live=3:first_order=true/);
  await until(page, () => document.querySelector('#loss-chart .u-legend').textContent.includes('A · same settings'));
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('maml-lab.pins')));
  assert.equal(stored.version, 1);
  assert.equal(stored.pins.length, 1);
  await stepTo(page, 5);
  await until(page, (l) => document.querySelector('#loss-chart .u-legend').textContent.includes(l), label);

  // the metrics, current and pinned, as CSV named after the settings
  const metrics = await downloaded(page, () => page.click('#export-metrics'));
  assert.equal(metrics.name, 'maml-sinusoid-maml-alpha0.01-first_order-metrics.csv');
  const rows = metrics.bytes.toString().trim().split('\n').map((r) => r.split(','));
  assert.deepEqual(rows[0], ['run', 'label', 'iteration', 'meta_loss', 'meta_loss_average', 'meta_test_loss']);
  assert.deepEqual([...new Set(rows.slice(1).map((r) => r[0]))], ['current', 'A']);
  assert.ok(rows.slice(1).every((r) => r.length === 6 && Number.isFinite(Number(r[2]))));
  assert.ok(rows.some((r) => r[0] === 'A' && r[1] === label && Number(r[3]) > 0));
  const steps = await downloaded(page, () => page.click('#export-steps'));
  assert.equal(steps.name, 'maml-sinusoid-maml-alpha0.01-first_order-steps.csv');
  const stepRows = steps.bytes.toString().trim().split('\n').map((r) => r.split(','));
  assert.deepEqual(stepRows[0], ['run', 'label', 'iteration', 'metric', 'inner_step', 'mean', 'ci95', 'random_init_mean']);
  for (const run of ['current', 'A']) {
    const mine = stepRows.filter((r) => r[0] === run);
    assert.deepEqual(mine.map((r) => Number(r[4])), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], `${run}: every inner step`);
    assert.ok(mine.every((r) => r[3] === 'mse' && Number(r[5]) > 0 && Number(r[7]) > 0));
  }
  // a chart as PNG, with its title and legend drawn above it
  const png = await downloaded(page, () => page.getByRole('button', { name: 'Download the meta-loss chart as PNG' }).click());
  assert.equal(png.name, 'maml-sinusoid-maml-alpha0.01-first_order-loss.png');
  assert.deepEqual([...png.bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  const [width, height] = [png.bytes.readUInt32BE(16), png.bytes.readUInt32BE(20)];
  const canvas = await page.$eval('#loss-chart canvas', (c) => [c.width, c.height]);
  assert.equal(width, canvas[0]);
  assert.ok(height > canvas[1], 'the title and legend sit above the chart');

  // up to four; each removable by keyboard
  for (let n = 2; n <= 4; n++) await page.click('#pin');
  await until(page, () => window.lab.pins.list.length === 4);
  assert.equal(await page.isDisabled('#pin'), true);
  assert.match(await page.textContent('#pins-hint'), /4 runs pinned/);
  assert.ok((await legend(page, 'loss-chart')).includes('D · same settings'));
  await page.getByRole('button', { name: `Remove pinned run ${label}` }).focus();
  await page.keyboard.press('Enter');
  await until(page, () => window.lab.pins.list.length === 3);
  assert.ok(!(await legend(page, 'loss-chart')).includes(label));
  assert.equal(await page.isDisabled('#pin'), false);
  assert.equal((await page.evaluate(() => JSON.parse(localStorage.getItem('maml-lab.pins')))).pins.length, 3);
  // forgetting clears the storage too
  await page.click('#forget-pins');
  assert.equal(await page.evaluate(() => localStorage.getItem('maml-lab.pins')), null);
  assert.deepEqual((await legend(page, 'loss-chart')), ['meta-train', 'moving average', 'meta-test']);
  // storage edited by hand, or by another version of the page: dropped with a sentence
  for (const [stored, words] of [[{ version: 1, pins: [{ tag: 'A', history: 'x' }] }, /unreadable/], [{ version: 0, pins: [] }, /another version/]]) {
    await page.evaluate((v) => localStorage.setItem('maml-lab.pins', JSON.stringify(v)), stored);
    await page.reload();
    await ready(page);
    assert.match(await page.textContent('#notices'), words);
    assert.equal(await page.evaluate(() => window.lab.pins.list.length), 0);
  }
  assert.deepEqual(consoleErrors, []);
}));

test('exact and first-order MAML side by side (docs/pinned.png), and on a phone', async () => {
  const hash = '#task=sinusoid&start=scratch';
  const trainTo = async (page, n) => {
    await page.click('#play');
    await until(page, (k) => window.lab.iteration >= k, n, 240_000);
    await page.click('#play');
    // a meta-test after the pause, so both runs end on one
    await page.click('#step');
    await until(page, (k) => window.lab.evaluation.iteration > k, n);
  };
  await withPage({ hash }, async ({ page, consoleErrors }) => {
    await ready(page);
    await page.evaluate(() => localStorage.clear());
    await trainTo(page, 600);
    await page.click('#pin');
    await page.check('#first_order');
    await page.click('#reset'); // a new run, first-order from the start
    await ready(page);
    await trainTo(page, 600);
    await until(page, () => document.querySelector('#loss-chart .u-legend').textContent.includes('A · first_order: false → true'));
    await drawn(page); // the next frame's drawing
    if (process.env.SCREENSHOTS) await page.screenshot({ path: 'docs/pinned.png', clip: { x: 0, y: 140, width: 1360, height: 760 } });
    assert.deepEqual(consoleErrors, []);
  });
  // the pin and its controls on a 390-pixel phone: nothing wider than the screen
  await withPage({ hash, viewport: { width: 390, height: 844 } }, async ({ page }) => {
    await ready(page);
    await stepTo(page, 1);
    await page.click('#pin');
    await until(page, () => window.lab.pins.list.length >= 1);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no horizontal scrolling');
    await page.screenshot({ path: '/tmp/pins-phone.png', fullPage: true });
  });
});
