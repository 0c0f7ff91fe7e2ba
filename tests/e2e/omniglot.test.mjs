// The hard question in the page (issue 21): Omniglot's options (classes of one alphabet, queries
// by other drawers) with the other settings, refused with a sentence where they cannot run, and
// the two nearest-neighbour classifiers beside the learners in the meta-test chart.
// Headless Chromium on the CPU path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { withPage, until, drawn, steps } from './browser.mjs';

const QUICK = '?eval_tasks=4';
const SMALL1 = '../shared/data/omniglot/images_background_small1.zip';
const ready = async (page) => { await until(page, () => window.lab.ready && window.lab.evaluation !== null && window.lab.view !== null, undefined, 120_000); await drawn(page); };
const legend = (page) => page.$$eval('#step-chart .u-legend .u-series:not([hidden]) .u-label', (els) => els.map((e) => e.textContent));
const hidden = (page, key) => page.$eval(`#${key}`, (el) => el.closest('.row').hidden);

test('glyphs: the nearest neighbours are drawn beside the learners, and the Omniglot options are not offered', () => withPage({ query: QUICK, hash: '#task=glyphs&start=scratch' }, async ({ page, consoleErrors }) => {
  await ready(page);
  const near = await page.evaluate(() => window.lab.evaluation.neighbours);
  assert.ok(near.pixel.mean > 0.2 && near.hausdorff.mean > 0.2, JSON.stringify(near));
  const labels = await legend(page);
  assert.ok(labels.includes('nearest neighbour: pixels') && labels.includes('nearest neighbour: ink (Hausdorff)'), labels.join(' | '));
  assert.match(await page.getAttribute('#step-chart', 'aria-label'), /nearest neighbour by pixels \d+(\.\d+)? %, by ink \d+(\.\d+)? %/);
  assert.equal(await hidden(page, 'within_alphabet'), true);
  assert.equal(await hidden(page, 'different_drawers'), true);
  assert.deepEqual(consoleErrors, []);
}));

test('a link asking for Omniglot\'s options on glyphs is refused with a sentence, and the preset runs', () => withPage({ query: QUICK, hash: '#task=glyphs&within_alphabet=true' }, async ({ page }) => {
  await ready(page);
  assert.match(await page.textContent('#notices'), /within_alphabet and different_drawers are Omniglot's: task glyphs has no alphabets or drawers/);
  assert.equal(await page.evaluate(() => window.lab.config.task.within_alphabet), false);
  assert.match(await page.evaluate(() => location.hash), /within_alphabet=false/, 'the link shows the run that runs');
}));

test('omniglot: one alphabet and other drawers are settings of the run, in its config and its link', { skip: !fs.existsSync(SMALL1) && `${SMALL1} is missing` }, () => withPage({ query: QUICK }, async ({ page, consoleErrors }) => {
  await ready(page);
  await page.setInputFiles('#zip', SMALL1);
  await until(page, () => window.lab.ready && window.lab.config?.task.kind === 'omniglot' && window.lab.evaluation !== null, null, 120_000);
  assert.equal(await hidden(page, 'within_alphabet'), false);
  for (const key of ['within_alphabet', 'different_drawers']) {
    const generation = await page.evaluate(() => window.lab.generation);
    await page.check(`#${key}`);
    await until(page, (g) => window.lab.generation > g && window.lab.ready && window.lab.evaluation !== null, generation, 120_000);
  }
  const task = await page.evaluate(() => window.lab.config.task);
  assert.equal(task.within_alphabet, true);
  assert.equal(task.different_drawers, true);
  assert.match(await page.evaluate(() => location.hash), /within_alphabet=true&different_drawers=true/);
  await steps(page, 1);
  const near = await page.evaluate(() => window.lab.evaluation.neighbours);
  assert.ok(near.pixel.mean >= 0 && near.hausdorff.mean >= 0);
  assert.deepEqual(consoleErrors, []);
}));
