// A crashed, stopped or hung worker's run resumes as it would have gone on (issue 24, item 4),
// on the paths a review found wanting: a live change made after the last checkpoint, a refused
// run before the crash, a second crash before the first restart is ready, loaded weights, a hang,
// and an Omniglot run, whose zip is read again. Headless Chromium on the CPU path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { withPage, until, settled, steps } from './browser.mjs';

const QUICK = '?eval_tasks=4';
const ZIP = '../shared/data/omniglot/images_background_small1.zip';
const ready = (page) => until(page, () => window.lab?.ready && window.lab.evaluation !== null && window.lab.view !== null, null, 120_000);
const noticeMatching = (page, source) => until(page, (s) => window.lab.notices.map((n) => n.text).find((t) => new RegExp(s).test(t)), source, 120_000);
const crash = (page) => page.evaluate(() => window.lab.worker.onmessage({ data: { type: 'fatal', request: 'step', message: 'unreachable executed' } }));
const restarts = (page) => page.evaluate(() => window.lab.notices.filter((n) => /was restarted/.test(n.text)).length);

test('a live change made after the last checkpoint is the one the resumed run uses, and the one its link and controls show', () => withPage({ query: QUICK, hash: '#task=sinusoid&start=scratch&seed=7' }, async ({ page, consoleErrors }) => {
  await ready(page);
  await steps(page, 3);
  await until(page, () => window.lab.snapshot.last?.iteration === 3);
  // α changed while paused at 3: after the checkpoint, at its iteration
  await page.$eval('#inner_lr', (el) => { el.value = '600'; el.dispatchEvent(new Event('input')); });
  const alpha = await until(page, () => window.lab.record.live.length === 1 && window.lab.config.maml.inner_lr);
  await crash(page);
  await noticeMatching(page, 'crashed');
  await ready(page);
  await settled(page);
  assert.equal(await page.evaluate(() => window.lab.config.maml.inner_lr), alpha, 'the run goes on with the α the person set');
  assert.match(await page.evaluate(() => location.hash), /live=3:inner_lr=/);
  assert.equal(await page.$eval('#inner_lr', (el) => el.value), '600');
  assert.deepEqual(consoleErrors, []);
}));

test('a crash after a refused run, and again before the restart is ready, still resumes from the checkpoint with Play on', () => withPage({ query: `${QUICK}&silent_ms=5000`, hash: '#task=sinusoid&start=scratch&seed=7' }, async ({ page, consoleErrors }) => {
  await ready(page);
  await steps(page, 3);
  await until(page, () => window.lab.snapshot.last?.iteration === 3);
  // a link to a run too large for a browser tab, which the worker refuses: the run at 3 goes on
  await page.evaluate(() => { location.hash = '#task=glyphs&ways=20&shots=10&queries=10&filters=64&inner_steps=10&meta_batch=64'; });
  await noticeMatching(page, 'Could not start that run');
  await until(page, () => window.lab.ready && window.lab.config.task.kind === 'sinusoid');
  await page.click('#play');
  await until(page, () => window.lab.iteration >= 5);
  await page.click('#play');
  await settled(page);
  await until(page, () => window.lab.snapshot.last?.iteration >= 5);
  await page.click('#play');
  const before = await restarts(page);
  await crash(page);
  await until(page, (n) => window.lab.notices.filter((x) => /was restarted/.test(x.text)).length > n, before);
  // and the new worker stops too, before its run is ready (before it even took its lock)
  await page.evaluate(() => window.lab.worker.terminate());
  await until(page, (n) => window.lab.notices.filter((x) => /was restarted/.test(x.text)).length > n + 1, before, 120_000);
  const text = await page.evaluate(() => window.lab.notices.filter((x) => /was restarted/.test(x.text)).at(-1).text);
  assert.match(text, /from its checkpoint at meta-iteration \d+/);
  await until(page, () => window.lab.ready && window.lab.running, null, 120_000);
  assert.ok(await page.evaluate(() => window.lab.history.x.filter((x) => x >= 1).length >= 5), 'the curve up to the checkpoint stays');
  await page.click('#play');
  assert.deepEqual(consoleErrors, []);
}));

test('loaded weights survive a crash', () => withPage({ query: QUICK, hash: '#task=sinusoid&start=scratch&seed=7' }, async ({ page, consoleErrors }) => {
  await ready(page);
  await steps(page, 2);
  await page.setInputFiles('#weights', 'www/starts/sinusoid.bin');
  await noticeMatching(page, 'Loaded the weights of sinusoid.bin');
  await until(page, () => window.lab.snapshot.last?.iteration === 10000 && window.lab.evaluation?.iteration === 10000);
  const mse = await page.evaluate(() => window.lab.evaluation.maml.steps.at(-1).loss.mean);
  await crash(page);
  const text = await noticeMatching(page, 'crashed');
  assert.match(text, /from its checkpoint at meta-iteration 10000\./);
  await until(page, () => window.lab.ready && window.lab.evaluation?.iteration === 10000 && window.lab.generation > 1);
  await settled(page);
  assert.equal(await page.evaluate(() => window.lab.evaluation.maml.steps.at(-1).loss.mean), mse, 'the same weights, so the same meta-test');
  assert.deepEqual(consoleErrors, []);
}));

test('a worker that hangs is restarted after its silence, and the run goes on', () => withPage({ query: `${QUICK}&silent_ms=5000`, hash: '#task=sinusoid&start=scratch&seed=7' }, async ({ page, consoleErrors }) => {
  await ready(page);
  await page.click('#play');
  await until(page, () => window.lab.iteration >= 20);
  const [worker] = page.workers();
  await worker.evaluate(() => { setTimeout(() => { for (;;) { /* a hang */ } }); });
  const text = await noticeMatching(page, 'stopped answering');
  assert.match(text, /The training engine stopped answering: not a word for \d+ s while training, and was restarted with the same run, from its checkpoint at meta-iteration \d+/);
  await until(page, () => window.lab.ready && window.lab.running, null, 120_000);
  const at = await page.evaluate(() => window.lab.iteration);
  await until(page, (k) => window.lab.iteration > k, at);
  await page.click('#play');
  assert.deepEqual(consoleErrors, []);
}));

test('an Omniglot run resumes after a crash, its zip read again from the file picked', { skip: !fs.existsSync(ZIP) && `${ZIP} is absent: the shared data sits beside the clone` }, () => withPage({ query: QUICK }, async ({ page, consoleErrors }) => {
  await ready(page);
  await page.setInputFiles('#zip', ZIP);
  await until(page, () => window.lab.ready && window.lab.config?.task.kind === 'omniglot' && window.lab.evaluation !== null, null, 120_000);
  await steps(page, 2);
  await until(page, () => window.lab.snapshot.last?.iteration === 2);
  const link = await page.evaluate(() => location.hash);
  await crash(page);
  const text = await noticeMatching(page, 'crashed');
  assert.match(text, /with the same run, its zip read again, from its checkpoint at meta-iteration 2\./);
  await until(page, () => window.lab.ready && window.lab.config.task.kind === 'omniglot' && window.lab.generation > 2, null, 120_000);
  assert.equal(await page.evaluate(() => window.lab.iteration), 2);
  assert.equal(await page.evaluate(() => window.lab.zipLoaded), true);
  assert.match(await page.textContent('#zip-status'), /images_background_small1\.zip: 136 characters/);
  assert.equal((await page.evaluate(() => location.hash)).replace('backend=auto', 'backend=cpu'), link.replace('backend=auto', 'backend=cpu'));
  await steps(page, 1);
  assert.equal(await page.evaluate(() => window.lab.iteration), 3);
  assert.deepEqual(consoleErrors, []);
}));
