// What the page shows is the run that runs (issue 9, items 5 to 7): an overflowing meta-test is a
// divergence with a sentence and charts of its finite part; counters, the zip line and the
// notices say what is true now; a link replays the run as it was driven, live changes included.
// Headless Chromium on the CPU path, as page.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { withPage, until, drawn, settled, steps } from './browser.mjs';

const QUICK = '?eval_tasks=4';
const ready = async (page) => { await until(page, () => window.lab.ready && window.lab.evaluation !== null && window.lab.view !== null); await drawn(page); };
const notices = (page) => page.textContent('#notices');

/** Opens `hash` in the page as a person editing its URL would, and waits for that run. */
async function openHash(page, hash) {
  const generation = await page.evaluate(() => window.lab.generation);
  await page.evaluate((h) => { location.hash = h; }, hash);
  await until(page, (g) => window.lab.generation > g && window.lab.ready && window.lab.evaluation !== null && window.lab.view !== null, generation, 120_000);
}

/** The run's meta-losses as [iteration, loss] pairs. */
const losses = (page) => page.evaluate(() => {
  const h = window.lab.history;
  return h.x.map((x, i) => [x, h.loss[i]]).filter(([, l]) => l !== null);
});

/** Moves the α slider to position `at` (0..1000) and waits until the worker applied it. */
async function slideAlpha(page, at) {
  const before = await page.evaluate(() => window.lab.config.maml.inner_lr);
  await page.$eval('#inner_lr', (el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }, at);
  return until(page, (b) => window.lab.config.maml.inner_lr !== b && window.lab.config.maml.inner_lr, before);
}

/** Plays until at least `n` meta-iterations are done, then pauses and waits for the batch in flight. */
async function playUntil(page, n) {
  await page.click('#play');
  await until(page, (k) => window.lab.iteration >= k, n, 120_000);
  await page.click('#play');
  await settled(page);
  return page.evaluate(() => window.lab.iteration);
}

// ---------------------------------------------------------------- item 5: α at its maximum

test('α at its maximum: the meta-test overflows, the page pauses with a sentence naming α and the steps, and draws the finite steps', () => withPage({ query: QUICK, hash: '#task=sinusoid&inner_lr=2' }, async ({ page, consoleErrors }) => {
  await ready(page);
  const { evaluation, config } = await page.evaluate(() => ({ evaluation: window.lab.evaluation.maml, config: window.lab.config.maml }));
  const blown = evaluation.steps.findIndex((s) => s.loss.mean === null);
  assert.ok(blown > 0, 'α = 2 over 10 steps overflows in the meta-test');
  const text = await notices(page);
  assert.match(text, new RegExp(`The meta-test diverged at iteration 0: α = 2 over ${config.test_inner_steps} inner steps overflows: the query loss is not finite from step ${blown} on\\. Training is paused`));
  assert.doesNotMatch(text, /Drawing failed/);
  // the step chart draws the finite steps and leaves the rest as a gap
  const drawn = await page.evaluate(() => window.lab.charts.steps.plot.data[1]);
  assert.ok(drawn.slice(0, blown).every(Number.isFinite), `drawn ${drawn}`);
  assert.ok(drawn.slice(blown).every((v) => v === null));
  // the adaptation view shows its finite steps, and says which are not
  const view = await page.evaluate(() => window.lab.view.view.steps.map((s) => s.query_loss));
  const viewBlown = view.findIndex((v) => v === null);
  assert.equal(await page.getAttribute('#view-step', 'max'), String(viewBlown - 1));
  assert.match(await page.textContent('#view-caption'), new RegExp(`after ${viewBlown - 1} inner steps: query loss .*\\(inner steps ${viewBlown} to ${config.test_inner_steps} overflow`));
  assert.ok(await page.evaluate(() => document.querySelector('#view canvas')?.width > 0), 'the curve is drawn');
  // the buttons work; Play trains until the next meta-test overflows again, and pauses
  assert.equal(await page.isDisabled('#step'), false);
  await page.click('#play');
  await until(page, () => window.lab.iteration > 0 && !window.lab.running, null, 60_000);
  assert.equal(await page.textContent('#play'), '▶ Play');
  assert.match(await notices(page), /The meta-test diverged at iteration [1-9]\d*: α = 2/);
  // lowering α makes the next meta-test finite: its sentence goes
  await slideAlpha(page, 500);
  await steps(page, 1);
  await until(page, () => !/meta-test diverged/.test(document.getElementById('notices').textContent));
  assert.deepEqual(consoleErrors, []);
}));

test('α at its maximum with 1 and 10 inner steps, each algorithm: a sentence exactly when adapting overflows, never a drawing error', () => withPage({ query: QUICK }, async ({ page, consoleErrors }) => {
  await ready(page);
  const seen = [];
  const runs = ['maml', 'reptile', 'anil', 'meta-sgd'].flatMap((a) => [1, 10].map((k) => ['sinusoid', a, k])).concat([['glyphs', 'maml', 10], ['glyphs', 'meta-sgd', 1]]);
  for (const [task, algorithm, k] of runs) {
    await openHash(page, `#task=${task}&algorithm=${algorithm}&inner_lr=2&inner_steps=${k}`);
    await drawn(page); // the frame that draws them
    const { evaluation, config, text, caption } = await page.evaluate(() => ({
      evaluation: window.lab.evaluation.maml, config: window.lab.config.maml,
      text: document.getElementById('notices').textContent, caption: document.getElementById('view-caption').textContent,
    }));
    const blown = evaluation.steps.findIndex((s) => s.loss.mean === null);
    const what = `${task} ${algorithm} ${k} steps`;
    assert.doesNotMatch(text, /Drawing failed/, what);
    assert.doesNotMatch(caption, /null|NaN|undefined/, what);
    assert.match(caption, /after \d+ inner steps?: query loss/, what);
    if (blown >= 0) {
      const alpha = algorithm === 'meta-sgd' ? 'the learned rates \\(from α = 2\\)' : 'α = 2';
      assert.match(text, new RegExp(`The meta-test diverged at iteration 0: ${alpha} over ${config.test_inner_steps} inner steps? overflows?: the query loss is not finite from step ${blown} on`), what);
    } else {
      assert.doesNotMatch(text, /meta-test diverged/, what);
    }
    seen.push(`${what}: ${blown >= 0 ? `overflows at step ${blown}` : 'finite'}`);
  }
  assert.ok(seen.filter((s) => /overflows/.test(s)).length >= 4, seen.join('; '));
  assert.ok(seen.some((s) => /finite$/.test(s)), seen.join('; '));
  assert.deepEqual(consoleErrors, []);
}));

// ---------------------------------------------------------------- item 6: each status reflects now

test('the counters, the zip line and the notices say what is true now', () => withPage({ query: QUICK, hash: '#task=sinusoid&seed=2' }, async ({ page, consoleErrors }) => {
  await ready(page);
  await steps(page, 2);
  const download = page.waitForEvent('download');
  await page.click('#download');
  const weights = fs.readFileSync(await (await download).path());

  // it/s is a speed while Play is on, and '–' once paused
  await page.click('#play');
  await until(page, () => document.getElementById('speed').textContent !== '–');
  await page.click('#play');
  await settled(page);
  assert.equal(await page.textContent('#speed'), '–');
  assert.equal(await page.textContent('#iteration'), String(await page.evaluate(() => window.lab.iteration)));

  // a new run starts at 0
  await page.click('#reset');
  await ready(page);
  assert.equal(await page.textContent('#iteration'), '0');
  assert.equal(await page.textContent('#speed'), '–');

  // refused weights, then good ones: the refusal goes, and the counter shows the loaded run's iteration
  await page.setInputFiles('#weights', { name: 'junk.bin', mimeType: 'application/octet-stream', buffer: Buffer.from('junk') });
  await until(page, () => /Could not load those weights/.test(document.getElementById('notices').textContent));
  await page.setInputFiles('#weights', { name: 'mine.bin', mimeType: 'application/octet-stream', buffer: weights });
  await until(page, () => /Loaded the weights of mine.bin/.test(document.getElementById('notices').textContent));
  assert.doesNotMatch(await notices(page), /Could not load those weights/);
  assert.equal(await page.textContent('#iteration'), '2');

  // a refused zip: the line says so rather than 'reading…'
  await page.setInputFiles('#zip', { name: 'broken.zip', mimeType: 'application/zip', buffer: Buffer.from('not a zip at all') });
  await until(page, () => /Could not read that zip/.test(document.getElementById('notices').textContent));
  assert.equal(await page.textContent('#zip-status'), 'broken.zip was not read');

  // a notice about the run goes with it
  await page.selectOption('#task', 'glyphs');
  await ready(page);
  assert.doesNotMatch(await notices(page), /Loaded the weights of mine.bin/);
  assert.deepEqual(consoleErrors, []);
}));

// ---------------------------------------------------------------- item 7: the link replays the run as driven

test('a live change made while playing is in the link, and the link replays the run bit for bit, batches or not', { timeout: 5 * 60_000 }, async () => {
  const hash = '#task=sinusoid&seed=3&meta_batch=5';
  const driven = await withPage({ query: QUICK, hash }, async ({ page }) => {
    await ready(page);
    const at = await playUntil(page, 30);
    const alpha = await slideAlpha(page, 700);
    const end = await playUntil(page, at + 60);
    return { at, alpha, end, link: await page.evaluate(() => location.hash), losses: await losses(page) };
  });
  assert.match(driven.link, /inner_lr=0\.01&/, 'the link starts with the run\'s first α');
  assert.ok(driven.link.endsWith(`&live=${driven.at}:inner_lr=${driven.alpha}`), `the link ${driven.link} records α = ${driven.alpha} after ${driven.at} iterations`);
  assert.ok(driven.losses.length >= driven.end);

  await withPage({ query: QUICK, hash: driven.link }, async ({ page, consoleErrors }) => {
    await ready(page);
    // the controls show the run as it stands: its first α, until the replay passes the change
    assert.equal(await page.textContent('output[for=inner_lr]'), '0.01');
    await playUntil(page, driven.end);
    assert.equal(Number(await page.textContent('output[for=inner_lr]')), driven.alpha);
    assert.equal(await page.evaluate(() => window.lab.config.maml.inner_lr), driven.alpha);
    const replayed = (await losses(page)).slice(0, driven.losses.length);
    assert.deepEqual(replayed, driven.losses, 'the same meta-losses at the same iterations');
    assert.equal(await page.evaluate(() => location.hash), driven.link, 'the replay keeps the link');
    assert.deepEqual(consoleErrors, []);
  });
});

test('Step replays a link\'s live changes at their iterations, and a change of one\'s own takes over the rest', () => withPage({ query: QUICK, hash: '#task=sinusoid&seed=4&meta_batch=5' }, async ({ page }) => {
  await ready(page);
  await steps(page, 2);
  const alpha = await slideAlpha(page, 700);
  await steps(page, 1);
  await page.$eval('#first_order', (el) => el.click());
  await until(page, () => window.lab.config.maml.first_order === true);
  await steps(page, 2);
  const link = await page.evaluate(() => location.hash);
  assert.ok(link.endsWith(`&live=2:inner_lr=${alpha},3:first_order=true`), link);
  const driven = await losses(page);

  // the same link, opened afresh, stepped
  await openHash(page, '#task=sinusoid');
  await openHash(page, link);
  await steps(page, 1);
  assert.equal(await page.textContent('output[for=inner_lr]'), '0.01');
  await steps(page, 1);
  assert.equal(Number(await page.textContent('output[for=inner_lr]')), alpha, 'the controls show α once the replay passed its change');
  assert.equal(await page.isChecked('#first_order'), false);
  await steps(page, 1);
  assert.equal(await page.isChecked('#first_order'), true);
  await steps(page, 2);
  assert.deepEqual(await losses(page), driven);

  // replaying again, one's own change rewrites what was still to come
  await page.click('#reset'); // Reset: afresh from the settings shown, without live changes
  await ready(page);
  assert.doesNotMatch(await page.evaluate(() => location.hash), /live=/);
  await openHash(page, link.replace('2:inner_lr', '1:inner_lr'));
  await steps(page, 2);
  await slideAlpha(page, 300);
  const own = await page.evaluate(() => window.lab.config.maml.inner_lr);
  assert.match(await notices(page), /changed a live setting at iteration 2, so the link's later changes \(at 3\) are dropped/);
  assert.ok((await page.evaluate(() => location.hash)).endsWith(`&live=1:inner_lr=${alpha},2:inner_lr=${own}`));
  await steps(page, 2);
  assert.equal(await page.isChecked('#first_order'), false, 'the dropped change did not happen');
}));

test('a hand-edited live change that cannot be taken gets a notice and is left out; the page runs', () => withPage({ query: QUICK, hash: '#task=sinusoid&live=abc,5:task=glyphs,7:inner_lr=zz,3:inner_lr=9,4:bogus=1' }, async ({ page, consoleErrors }) => {
  await ready(page);
  const text = await notices(page);
  for (const words of ["live change 'abc' is not iteration:setting=value; left out", 'task is not a live setting', "unknown setting 'bogus'", 'live change at 7: inner_lr=zz is not a number; left out', 'live change at 3: inner_lr=9 is outside 0.0001..2; using 2']) {
    assert.ok(text.includes(words), `a notice with "${words}": ${text}`);
  }
  assert.ok((await page.evaluate(() => location.hash)).endsWith('&live=3:inner_lr=2'));
  await steps(page, 3);
  // applied after iteration 3: the worker's config message may come just after the report
  await until(page, () => window.lab.config.maml.inner_lr === 2);
  assert.deepEqual(consoleErrors, []);
}));
