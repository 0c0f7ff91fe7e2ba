// See the meta-gradient (issue 23): the page's exact-against-first-order figures are the CLI's on
// the same weights and meta-batch; its landscape is `maml landscape`'s grid on the same checkpoint,
// computed a row at a time, cancellable, exported; the one-step walk sums back to training's
// meta-gradient, steps forward from the keyboard and fits a phone. Headless Chromium, CPU path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { withPage, until, drawn, settled, steps } from './browser.mjs';

// the CLI that `cargo test --release` built (scripts/test.sh runs it first), where cargo put it
const MAML = path.resolve(process.env.CARGO_TARGET_DIR ?? 'target', 'release', 'maml');
if (!fs.existsSync(MAML)) throw new Error(`${MAML} is missing: these tests hold the page to the CLI; build it first (cargo build --release, with the same CARGO_TARGET_DIR)`);
const QUICK = '?eval_tasks=24';
const ready = async (page) => { await until(page, () => window.lab?.ready && window.lab.evaluation !== null && window.lab.view !== null, null, 120_000); await drawn(page); };
const close = (a, b, rel) => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-12);

/** The run's checkpoint as the page's worker writes it, in a fresh directory as checkpoint.bin. */
async function checkpointDir(page) {
  const before = await page.evaluate(() => window.lab.snapshot.last?.bytes ?? null);
  await page.evaluate(() => window.lab.worker.postMessage({ type: 'checkpoint' }));
  await until(page, (b) => window.lab.snapshot.last && window.lab.snapshot.last.bytes !== b, before);
  const bytes = await page.evaluate(() => Array.from(window.lab.snapshot.last.bytes));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'maml-page-'));
  fs.writeFileSync(path.join(dir, 'checkpoint.bin'), Buffer.from(bytes));
  return dir;
}

for (const [learner, hash] of [['MAML', '#task=sinusoid&start=scratch&seed=5&inner_steps=2&inner_lr=0.05'], ['Reptile', '#task=sinusoid&algorithm=reptile&start=scratch&seed=5']]) {
  test(`${learner}: the page's exact-against-first-order figures are the CLI's on the same weights and meta-batch`, () => withPage({ query: QUICK, hash }, async ({ page, consoleErrors }) => {
    await ready(page);
    await steps(page, 2);
    const dir = await checkpointDir(page);
    // every 5: the next comparison is before meta-iteration 6, on the meta-batch it trains on
    await page.selectOption('#compare-every', '5');
    await steps(page, 4);
    const g = await page.evaluate(() => window.lab.results.gradients);
    assert.deepEqual(g.x, [1, 6], 'compared before meta-iteration 1 (auto starts at every 20) and before 6 (every 5)');
    // the CLI from the page's checkpoint after 2 meta-iterations: its 4th meta-iteration is the page's 6th
    execFileSync(MAML, ['train', '--resume', path.join(dir, 'checkpoint.bin'), '--iterations', '4', '--compare-every', '5', '--log-every', '0', '--out', path.join(dir, 'run')]);
    const lines = fs.readFileSync(path.join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map(JSON.parse);
    assert.deepEqual(lines.map((l) => [l.iteration, Boolean(l.gradients)]), [[3, false], [4, false], [5, false], [6, true]], 'the CLI goes on from 2 and compares before 6');
    const cli = lines[3];
    const at = g.x.indexOf(6);
    // the page's wasm sums a meta-batch in one share and the CLI in two: the same figures to float rounding
    assert.ok(close(g.cosine[at], cli.gradients.first_order.cosine, 1e-4), `cosine: page ${g.cosine[at]}, CLI ${cli.gradients.first_order.cosine}`);
    assert.ok(close(g.ratio[at], cli.gradients.first_order.norm_ratio, 1e-4), `ratio: page ${g.ratio[at]}, CLI ${cli.gradients.first_order.norm_ratio}`);
    assert.ok(close(g.exactNorm[at], cli.gradients.exact_norm, 1e-4), `exact norm: page ${g.exactNorm[at]}, CLI ${cli.gradients.exact_norm}`);
    if (learner === 'Reptile') {
      assert.ok(close(g.reptileCosine[at], cli.gradients.reptile.cosine, 1e-4), `Reptile's cosine: page ${g.reptileCosine[at]}, CLI ${cli.gradients.reptile.cosine}`);
      const legend = await page.evaluate(() => [...document.querySelectorAll('#gradients-chart .u-legend .u-label')].map((e) => e.textContent));
      assert.ok(legend.includes('cos(Reptile, exact)'), legend.join(' | '));
    }
    // comparing leaves the run as it was: the CLI's meta-losses from the same checkpoint are the page's
    const pageLosses = await page.evaluate(() => { const h = window.lab.history; return h.x.map((x, i) => [x, h.loss[i]]).filter(([x, l]) => x >= 3 && l !== null).map(([, l]) => l); });
    lines.forEach((l, i) => assert.ok(close(l.meta_loss, pageLosses[i], 1e-4), `meta-iteration ${l.iteration}: CLI ${l.meta_loss}, page ${pageLosses[i]}`));
    // an exact meta-gradient that overflowed comes as null: nothing is drawn for it, and the log axis stands
    const overflowed = await page.evaluate(async () => {
      const { addGradients } = await import('./views/gradients.js');
      const g = structuredClone(window.lab.results.gradients);
      addGradients(g, { iteration: 7, comparison: { exact_norm: null, first_order: { cosine: 0, norm_ratio: 0 }, reptile: null } });
      window.lab.charts.gradients.update(g, false);
      const last = [g.cosine.at(-1), g.ratio.at(-1)];
      window.lab.charts.gradients.update(window.lab.results.gradients, window.lab.config.maml.algorithm === 'reptile');
      return last;
    });
    assert.deepEqual(overflowed, [null, null]);
    const label = await page.getAttribute('#gradients-chart', 'aria-label');
    assert.match(label, /before meta-iteration 6: cosine -?[\d.]+/);
    fs.rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(consoleErrors, []);
  }));
}

test("the landscape is `maml landscape`'s grid on the same checkpoint, drawn with its arrows and path, and exported", () => withPage({ query: QUICK, hash: '#task=sinusoid&start=scratch&seed=1' }, async ({ page, consoleErrors }) => {
  await ready(page);
  // θ is kept every 10 meta-iterations or more (at a training call's start): a path
  await page.click('#play');
  await until(page, () => window.lab.iteration >= 300, null, 300_000);
  await page.click('#play');
  await settled(page);
  const iteration = await page.evaluate(() => window.lab.iteration);
  const dir = await checkpointDir(page);
  await page.click('#landscape-compute');
  await until(page, () => window.lab.charts.landscape.data?.rows.every(Boolean) && window.lab.charts.landscape.computing === null, null, 120_000);
  const d = await page.evaluate(() => window.lab.charts.landscape.data);
  assert.equal(d.iteration, iteration);
  const route = d.summary.path.map((p) => p.iteration);
  assert.ok(route.length >= 3 && route[0] === 0 && route.every((x, i) => i === 0 || x >= route[i - 1] + 10) && route[route.length - 1] < iteration, `the path: ${route}`);
  assert.deepEqual(d.summary.arrows.map((a) => a.learner), ['MAML', 'first-order MAML', 'Reptile', 'ANIL']);
  // the CLI on the page's checkpoint, over the same extent (its run has no path to fit)
  execFileSync(MAML, ['landscape', '--run', dir, '--size', '21', '--span', String(d.summary.span), '--out', path.join(dir, 'plane')]);
  const cli = JSON.parse(fs.readFileSync(path.join(dir, 'plane.json'), 'utf8'));
  assert.equal(cli.iteration, iteration);
  let worst = 0;
  d.rows.forEach((row, r) => row.forEach((v, c) => { worst = Math.max(worst, Math.abs(v - cli.grid[r][c]) / Math.abs(cli.grid[r][c])); }));
  // each point's loss is taken after the inner steps, f32 in both, the page's sums in the wasm's
  // order and the CLI's in its GEMM's: where the run stopped (a faster machine trains further
  // before the pause) moves θ, and near the plane's lowest losses a difference in the last bits
  // of the inner step showed as 2.8e-4 relative; a wrong grid (another direction, extent or
  // adaptation) is off by far more
  assert.ok(worst < 1e-3, `the page's grid against the CLI's: worst relative difference ${worst}`);
  d.summary.arrows.forEach((a, i) => assert.ok(close(a.a, cli.arrows[i].a, 1e-3) && close(a.length, cli.arrows[i].length, 1e-3), `${a.learner}: page ${JSON.stringify(a)}, CLI ${JSON.stringify(cli.arrows[i])}`));
  // drawn: the heat map's pixels vary, and the text says what it shows
  const spread = await page.evaluate(() => {
    const c = document.getElementById('landscape-canvas');
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    for (let i = 0; i < px.length; i += 4 * 97) colours.add(`${px[i]},${px[i + 1]},${px[i + 2]}`);
    return colours.size;
  });
  assert.ok(spread > 30, `the heat map has ${spread} colours`);
  assert.match(await page.getAttribute('#landscape-canvas', 'aria-label'), /441 of 441 points drawn/);
  assert.match(await page.textContent('#landscape-caption'), new RegExp(`At iteration ${iteration}: the meta-objective over \\d+ fixed tasks is`));
  const legend = await page.textContent('#landscape-legend');
  assert.match(legend, /MAML: \|Δθ\| .*in this plane/);
  assert.match(legend, /the run's path from iteration 0 to θ/);
  // exports: the CSV holds the grid, the arrows and the path; the PNG is an image
  const csvDownload = page.waitForEvent('download');
  await page.click('#landscape-figure button.csv');
  const csv = fs.readFileSync(await (await csvDownload).path(), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'kind,label,a,b,meta_loss,length,in_plane');
  assert.equal(csv.filter((l) => l.startsWith('grid,')).length, 441);
  assert.equal(csv.filter((l) => l.startsWith('arrow,')).length, 4);
  assert.equal(csv.filter((l) => l.startsWith('path,')).length, route.length);
  const pngDownload = page.waitForEvent('download');
  await page.click('#landscape-figure button.png');
  const png = await pngDownload;
  assert.match(png.suggestedFilename(), /^maml-sinusoid-maml-alpha.*-landscape\.png$/);
  assert.equal(fs.readFileSync(await png.path()).subarray(1, 4).toString(), 'PNG');
  if (process.env.SCREENSHOTS) await page.locator('#landscape-figure').screenshot({ path: 'docs/landscape.png' });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(consoleErrors, []);
}));

test('a landscape in progress says how far it is, and Cancel stops it with the page alive and training', () => withPage({ query: `${QUICK}&min_call_ms=250`, hash: '#task=sinusoid&start=scratch&seed=9' }, async ({ page, consoleErrors }) => {
  await ready(page);
  await page.selectOption('#landscape-size', '41');
  await page.click('#landscape-compute');
  await until(page, () => (window.lab.charts.landscape.data?.rows.filter(Boolean).length ?? 0) >= 2);
  assert.match(await page.textContent('#landscape-status'), /row \d+ of 41/);
  // the worker says it too, once it has taken a second
  await until(page, () => /landscape: row \d+ of 41/.test(document.getElementById('activity-text').textContent) && !document.getElementById('activity').hidden);
  await page.click('#landscape-cancel');
  const drawnRows = await page.evaluate(() => window.lab.charts.landscape.data.rows.filter(Boolean).length);
  assert.match(await page.textContent('#landscape-status'), /cancelled after \d+ of 41 rows/);
  assert.equal(await page.isDisabled('#landscape-cancel'), true);
  // the page goes on: Play trains, and no further row of the cancelled grid comes
  await page.click('#play');
  await until(page, () => window.lab.iteration >= 3);
  await page.click('#play');
  await settled(page);
  const after = await page.evaluate(() => window.lab.charts.landscape.data.rows.filter(Boolean).length);
  assert.ok(after <= drawnRows + 1, `at most the row in flight lands after Cancel: ${drawnRows} then ${after}`);
  assert.match(await page.getAttribute('#landscape-canvas', 'aria-label'), new RegExp(`${after * 41} of 1681 points drawn`));
  assert.deepEqual(consoleErrors, []);
}));

test('the one-step walk steps forward from the keyboard, sums back to training\'s meta-gradient, follows the weights and fits a phone', () => withPage({ query: QUICK, hash: '#task=glyphs&start=scratch&seed=4', viewport: { width: 390, height: 844 } }, async ({ page, consoleErrors }) => {
  await ready(page);
  assert.match(await page.textContent('#walk-caption'), /Press Step forward/);
  await page.focus('#walk-forward');
  await page.keyboard.press('Enter');
  await until(page, () => window.lab.charts.walk.walk !== null);
  await drawn(page);
  assert.equal(await page.locator('#walk-body .stage').count(), 1);
  for (let i = 0; i < 4; i++) await page.keyboard.press('Enter'); // the button keeps the focus
  await drawn(page);
  assert.equal(await page.locator('#walk-body .stage').count(), 5);
  assert.equal(await page.isDisabled('#walk-forward'), true);
  const w = await page.evaluate(() => window.lab.charts.walk.walk);
  assert.ok(w.walk.split_error <= 1e-6, `the split sums back: ${w.walk.split_error}`);
  assert.equal(w.walk.bias.length, 5, 'a 5-way task: five output biases');
  assert.equal(await page.locator('table.bias tbody tr').count(), 7);
  const body = await page.textContent('#walk-body');
  assert.match(body, /θ' = θ − α ∇L\(θ\)/);
  assert.match(body, /second-order correction/);
  // the numbers follow the weights: after a meta-iteration, a walk of the new iteration
  const before = w.iteration;
  await steps(page, 1);
  await until(page, (k) => window.lab.charts.walk.walk.iteration > k, before);
  // on a phone, nothing runs off the side: the figures fit the screen, the bias table scrolls in its box
  const overflow = await page.evaluate(() => ['walk-figure', 'landscape-figure', 'gradients-figure'].map((id) => {
    const r = document.getElementById(id).getBoundingClientRect();
    return [id, r.right <= window.innerWidth + 1];
  }));
  assert.ok(overflow.every(([, fits]) => fits), JSON.stringify(overflow));
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'the page does not scroll sideways');
  const csvDownload = page.waitForEvent('download');
  await page.click('#walk-figure button.csv');
  const csv = fs.readFileSync(await (await csvDownload).path(), 'utf8');
  assert.match(csv, /^stage,symbol,value\n/);
  assert.match(csv, /second-order correction/);
  assert.deepEqual(consoleErrors, []);
}));
