// The page on every core (issue 22): the meta-batch's units shared among workers give the same
// weights, bit for bit, for any number of them, changed mid-run or not; a share worker that dies
// is replaced and the run goes on, the same; the workers are a setting of the page and its link.
// Headless Chromium on the CPU path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { withPage, until, drawn, settled, steps } from './browser.mjs';

const QUICK = '?eval_tasks=4';
const ready = async (page) => { await until(page, () => window.lab.ready && window.lab.evaluation !== null && window.lab.view !== null, undefined, 120_000); await drawn(page); };
const notices = (page) => page.textContent('#notices');

/** The sha-256 of the weights the page downloads now. */
async function weightsHash(page) {
  const download = page.waitForEvent('download');
  await page.click('#download');
  return crypto.createHash('sha256').update(fs.readFileSync(await (await download).path())).digest('hex');
}

/** Picks `value` in the workers list, as a person would. */
async function chooseWorkers(page, value) {
  await page.selectOption('#threads', String(value));
  await until(page, (v) => window.lab.workers?.threads === v, String(value));
}

/** `n` meta-iterations of `hash` with `workers` workers (changed to `then` after `switchAt`, if
 *  given): the weights' hash, and what the page said about its workers. */
async function run(hash, workers, n, { switchAt = null, then = null, alphaAt = null } = {}) {
  return withPage({ query: QUICK, hash: `${hash}&threads=${workers}` }, async ({ page, consoleErrors }) => {
    await ready(page);
    const said = await page.evaluate(() => ({ ...window.lab.workers }));
    if (switchAt !== null) {
      await steps(page, switchAt);
      await chooseWorkers(page, then);
      await steps(page, n - switchAt);
    } else if (alphaAt !== null) {
      // α moved between two meta-iterations, as a slider would
      await steps(page, alphaAt);
      const before = await page.evaluate(() => window.lab.config.maml.inner_lr);
      await page.$eval('#inner_lr', (el) => { el.value = '600'; el.dispatchEvent(new Event('input')); });
      await until(page, (a) => window.lab.config.maml.inner_lr !== a, before);
      await steps(page, n - alphaAt);
    } else await steps(page, n);
    assert.equal(await page.evaluate(() => window.lab.iteration), n);
    const badge = await page.textContent('#backend-badge');
    const bytes = await page.evaluate(() => window.lab.wasmBytes);
    const link = await page.evaluate(() => location.hash);
    // the last meta-test's per-task accuracies (shared among the workers too)
    const meta = await page.evaluate(() => window.lab.evaluation.maml.tasks.flatMap((t) => t.accuracy));
    assert.deepEqual(consoleErrors, []);
    const sharing = await page.evaluate(() => window.lab.results.sharing);
    // the exact-against-first-order chart's figures (the comparison's units shared too)
    const gradients = await page.evaluate(() => JSON.parse(JSON.stringify(window.lab.results.gradients)));
    return { hash: await weightsHash(page), said, badge, bytes, link, meta, sharing, gradients };
  });
}

for (const algorithm of ['maml', 'reptile']) {
  test(`${algorithm}: 1, 2 and 3 workers, and 2 changed to 3 mid-run, give the same weights bit for bit after 20 meta-iterations`, async () => {
    const hash = `#task=glyphs&algorithm=${algorithm}&seed=5&start=scratch`;
    const one = await run(hash, 1, 20);
    assert.equal(one.said.workers, 1);
    assert.equal(one.badge, 'CPU · WebAssembly');
    for (const workers of [2, 3]) {
      const many = await run(hash, workers, 20);
      assert.equal(many.said.workers, workers, `${workers} workers asked for: ${many.said.why}`);
      assert.ok(many.said.units >= workers, 'the glyph preset has units enough for them');
      assert.equal(many.badge, `CPU · WebAssembly · ${workers} workers`);
      assert.equal(many.hash, one.hash, `${algorithm} with ${workers} workers: the weights differ from one worker's`);
      assert.ok(one.gradients.x.length >= 1, 'the run compared its meta-gradients');
      assert.deepEqual(many.gradients, one.gradients, `${algorithm} with ${workers} workers: the comparison of meta-gradients differs from one worker's`);
      // the meta-test, its tasks shared, scores them as one worker does (to float rounding)
      many.meta.forEach((a, i) => assert.ok(Math.abs(a - one.meta[i]) < 1e-6, `meta-test task ${i}: ${a} with ${workers} workers, ${one.meta[i]} with one`));
      // the memory the page counts is every worker's
      assert.ok(many.bytes > one.bytes, `${workers} workers hold more memory than one (${many.bytes} vs ${one.bytes})`);
      assert.match(many.link, new RegExp(`threads=${workers}`));
    }
    const switched = await run(hash, 2, 20, { switchAt: 10, then: 3 });
    assert.equal(switched.hash, one.hash, 'changing the workers mid-run changes nothing the run computes');
    assert.match(switched.link, /threads=3/, 'the link holds the workers now in use');
  });
}

test('a live change of α between meta-iterations: the shares\' early start on the old settings is not used, and the run is one worker\'s', async () => {
  // (the CPU asked for: auto's timing of the backends would share meta-iterations of its own)
  const hash = '#task=glyphs&seed=6&start=scratch&backend=cpu';
  const one = await run(hash, 1, 6, { alphaAt: 3 });
  const two = await run(hash, 2, 6, { alphaAt: 3 });
  assert.equal(two.hash, one.hash, 'α changed mid-run with two workers: the weights differ from one worker\'s');
  // the share began the 4th meta-iteration on the old α: its answer was set aside and it was
  // asked again; the other meta-iterations after the first it began early
  assert.equal(two.sharing.stale, 1);
  assert.ok(two.sharing.early >= 3, `the shares began early ${two.sharing.early} times`);
});

test('a share worker that stops mid-run is noticed and replaced; its units are computed again and the run ends on the same weights', async () => {
  const hash = '#task=glyphs&seed=8&start=scratch';
  const one = await run(hash, 1, 8);
  await withPage({ query: QUICK, hash: `${hash}&threads=2` }, async ({ page, consoleErrors }) => {
    await ready(page);
    await steps(page, 3);
    // the share stops without a word on its next meta-iteration's work, as a killed process does:
    // it already holds the 4th's (its weights went out as the 3rd ended), so on the 5th's, which
    // goes out as the 4th ends; the meta-test after each Step notices first
    await page.evaluate(() => window.lab.worker.postMessage({ type: 'stopShare', index: 0 }));
    await steps(page, 5);
    assert.match(await notices(page), /A share worker stopped without a word during (meta-iteration 5|a meta-test): the training worker did its part itself, to the same sums/);
    // the controls say what runs: two workers, the replacement among them
    assert.equal(await page.$eval('#threads', (el) => el.value), '2');
    assert.equal(await page.textContent('#backend-badge'), 'CPU · WebAssembly · 2 workers');
    assert.equal(await page.evaluate(() => window.lab.iteration), 8);
    assert.equal(await weightsHash(page), one.hash, 'the run after the loss is the run without it');
    assert.deepEqual(consoleErrors, []);
  });
});

test('comparisons of meta-gradients every 5 meta-iterations shared among two workers, a share stopping in one: the chart and the weights are one worker\'s', async () => {
  const hash = '#task=glyphs&seed=9&start=scratch&backend=cpu';
  const compared = (workers, stopAt = null) => withPage({ query: QUICK, hash: `${hash}&threads=${workers}` }, async ({ page, consoleErrors }) => {
    await ready(page);
    await page.selectOption('#compare-every', '5');
    await steps(page, 5);
    // the share holds the 6th meta-iteration's early start (sent as the 5th ended); told to stop
    // after it, it stops on its next request: the comparison made before the 6th
    if (stopAt !== null) await page.evaluate(() => window.lab.worker.postMessage({ type: 'stopShare', index: 0 }));
    await steps(page, 5);
    const out = {
      hash: await weightsHash(page),
      gradients: await page.evaluate(() => JSON.parse(JSON.stringify(window.lab.results.gradients))),
      notices: await notices(page),
      badge: await page.textContent('#backend-badge'),
    };
    assert.deepEqual(consoleErrors, []);
    return out;
  });
  const one = await compared(1);
  assert.deepEqual(one.gradients.x, [1, 6], 'compared before the 1st and the 6th meta-iterations');
  const two = await compared(2, 5);
  assert.match(two.notices, /A share worker stopped without a word during the comparison of meta-gradients before meta-iteration 6: the training worker did its part itself, to the same sums/);
  assert.equal(two.badge, 'CPU · WebAssembly · 2 workers', 'a fresh share took its place');
  assert.deepEqual(two.gradients, one.gradients, 'the comparisons differ from one worker\'s');
  assert.equal(two.hash, one.hash, 'the weights differ from one worker\'s');
});

test('the workers: auto by default, one for the sinusoid with the reason, and a bad value in the link gets a sentence', () => withPage({ query: QUICK, hash: '#task=sinusoid&threads=99' }, async ({ page }) => {
  await ready(page);
  assert.match(await notices(page), /threads=99 is not one of auto, 1, 2, 3, 4, 5, 6, 7, 8; using auto/);
  assert.equal(await page.$eval('#threads', (el) => el.value), 'auto');
  assert.equal(await page.evaluate(() => window.lab.workers.workers), 1);
  assert.match(await page.textContent('#workers-why'), /one worker: the sinusoid's meta-batch is one batched operation, too little work to share/);
  // glyphs with 3 asked for: three, said so
  await chooseWorkers(page, 3);
  assert.match(await page.textContent('#workers-why'), /one batched operation/, 'the sinusoid stays on one worker whatever is asked');
  await page.selectOption('#task', 'glyphs');
  await until(page, () => window.lab.config?.task.kind === 'glyphs' && window.lab.workers?.workers === 3, undefined, 120_000);
  assert.match(await page.textContent('#workers-why'), /3 workers share each meta-batch of 4 units \(as set\)/);
  assert.match(await page.evaluate(() => location.hash), /threads=3/, 'the task\'s preset keeps the workers');
  // a live change of the meta-batch changes the units, and so the workers, at once
  const metaBatch = async (v) => page.$eval('#meta_batch', (el, x) => { el.value = String(x); el.dispatchEvent(new Event('input')); }, v);
  await metaBatch(2);
  await until(page, () => window.lab.config.maml.meta_batch === 2 && window.lab.workers.workers === 1);
  assert.match(await page.textContent('#workers-why'), /one worker: this run's meta-batch is one batched operation/);
  assert.equal(await page.textContent('#backend-badge'), 'CPU · WebAssembly');
  await steps(page, 1);
  await metaBatch(8);
  await until(page, () => window.lab.config.maml.meta_batch === 8 && window.lab.workers.workers === 3);
  assert.equal(await page.textContent('#backend-badge'), 'CPU · WebAssembly · 3 workers');
  await steps(page, 1);
}));
