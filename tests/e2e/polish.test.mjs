// What a careful person notices on the page (issue 9, items 8 to 14): long waits say what is
// happening, the page reads to a keyboard and a screen reader, hand-edited links cannot widen
// it, the noise control says what to expect, 20-way labels stay apart, and the first chart is
// in view after Play on a phone. Headless Chromium, CPU path (one test: WebGPU on SwiftShader).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { serve } from '../../scripts/serve.mjs';
import { withPage, until, drawn, settled, steps } from './browser.mjs';

const ready = async (page) => { await until(page, () => window.lab.ready && window.lab.evaluation !== null); await drawn(page); };
const MINUTES = 60_000;

/** The status line as a person sees it: null while hidden. */
const activity = (page) => page.evaluate(() => {
  const line = document.getElementById('activity');
  return line.hidden || line.offsetParent === null ? null : { text: document.getElementById('activity-text').textContent, elapsed: document.getElementById('activity-elapsed').textContent };
});

/** Waits for the status line to show a sentence matching `pattern`; returns what it shows. */
const activityMatching = (page, pattern, timeout = 2 * MINUTES) => until(page, (source) => {
  const line = document.getElementById('activity');
  const text = document.getElementById('activity-text').textContent;
  return !line.hidden && new RegExp(source).test(text) && { text, elapsed: document.getElementById('activity-elapsed').textContent };
}, pattern.source, timeout);

const seconds = (elapsed) => Number(/^(\d+) s/.exec(elapsed)[1]);

// ---------------------------------------------------------------- 8: long waits
// `min_call_ms`: every training and meta-test call lasts at least 4 s, long enough for the status
// line to show it (after a second: views/activity.js) and for its seconds to tick while the test
// watches, so the test does not depend on the machine's speed
test('a slow new run says what it does, with seconds ticking, and marks the old charts as the previous run', { timeout: 10 * MINUTES }, () => withPage({ query: '?eval_tasks=8&min_call_ms=4000', hash: '#task=sinusoid' }, async ({ page, consoleErrors }) => {
  await ready(page);
  await steps(page, 2);
  await until(page, () => window.lab.view !== null);
  await settled(page);
  assert.equal(await activity(page), null, 'no status line while nothing takes long');
  // a larger configuration: a meta-test of 8 20-way tasks, and a meta-batch of 4, on 64 filters
  await page.evaluate(() => { location.hash = '#task=glyphs&ways=20&filters=64&meta_batch=4'; });
  const first = await activityMatching(page, /^meta-testing 8 held-out tasks from the meta-learned start \(1 of 2\)…$/);
  // the old run's meta-test and sampled task are still drawn, marked as the previous run's
  for (const id of ['step-figure', 'task-figure', 'view-figure']) {
    assert.ok(await page.isVisible(`#${id} .previous-note`), `${id} says it shows the previous run`);
    assert.match(await page.textContent(`#${id} .previous-note`), /previous run/);
  }
  assert.equal(await page.evaluate(() => window.lab.history.x.length), 0, 'the loss chart starts again');
  // the seconds tick
  await page.waitForTimeout(2100);
  const later = await activity(page);
  if (later?.text === first.text) assert.ok(seconds(later.elapsed) >= seconds(first.elapsed) + 1, `${first.elapsed} then ${later.elapsed}`);
  // the baseline's call, with an estimate from the first one's time
  const second = await activityMatching(page, /from a random start, the baseline \(2 of 2\)…$/);
  await until(page, () => /of about \d+ s$/.test(document.getElementById('activity-elapsed').textContent));
  assert.ok(second);
  await until(page, () => window.lab.ready && window.lab.evaluation !== null && window.lab.config.task.ways === 20, null, 5 * MINUTES);
  await until(page, () => !document.getElementById('step-figure').classList.contains('previous'));
  assert.ok(!(await page.isVisible('#step-figure .previous-note')), 'the new run\'s meta-test replaced the mark');
  // Play: the first meta-iteration of the new run says what it is. The worker announces it; the
  // line shows it once it has lasted a second, as every call does here (min_call_ms); the test
  // also records the announcements.
  await page.evaluate(() => {
    const line = window.lab.activity;
    const set = line.set.bind(line);
    window.announced = [];
    line.set = (key, text, estimateMs) => { window.announced.push({ key, text, at: performance.now() }); set(key, text, estimateMs); };
  });
  await page.click('#play');
  const sentence = /^running meta-iteration 1 of the new run: 20-way 1-shot, 4 tasks…$/;
  const seen = await until(page, (source) => {
    const line = document.getElementById('activity');
    const text = document.getElementById('activity-text').textContent;
    if (!line.hidden && new RegExp(source).test(text)) return { text, elapsed: document.getElementById('activity-elapsed').textContent };
    return window.lab.iteration >= 1 && 'done';
  }, sentence.source, 5 * MINUTES);
  await until(page, () => window.lab.iteration >= 1, null, 5 * MINUTES);
  await page.click('#play');
  const announced = await page.evaluate(() => window.announced);
  const start = announced.findIndex((a) => a.key !== null && /^running meta-iteration 1 of/.test(a.text ?? ''));
  assert.ok(start >= 0, `the first meta-iteration is announced: ${JSON.stringify(announced)}`);
  assert.match(announced[start].text, sentence);
  assert.notEqual(seen, 'done', 'a call of 4 s at least shows its line');
  assert.match(seen.elapsed, /^\d+ s$/);
  assert.deepEqual(consoleErrors, []);
}));

// ---------------------------------------------------------------- 9: the download
/** The page's server, with the wasm sent in two halves: the second only once `release()` is called. */
function halfWasm() {
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  const server = async () => {
    const inner = await serve(0);
    const base = `http://127.0.0.1:${inner.address().port}`;
    const outer = http.createServer(async (req, res) => {
      const r = await fetch(base + req.url);
      const body = Buffer.from(await r.arrayBuffer());
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type'), 'content-length': body.length });
      if (!req.url.endsWith('.wasm')) return res.end(body);
      res.write(body.subarray(0, body.length >> 1));
      await released;
      res.end(body.subarray(body.length >> 1));
    });
    outer.on('close', () => inner.close());
    await new Promise((resolve) => outer.listen(0, '127.0.0.1', resolve));
    return outer;
  };
  return { server, release: () => release() };
}

test('the wasm download shows how much of it has come', () => {
  const slow = halfWasm();
  const total = fs.statSync(new URL('../../www/pkg/maml_lab_bg.wasm', import.meta.url)).size;
  const MB = (b) => (b / 1e6).toFixed(1);
  return withPage({ server: slow.server }, async ({ page, consoleErrors }) => {
    try {
      const shown = `downloading the engine: ${MB(total >> 1)} of ${MB(total)} MB`;
      await until(page, (text) => document.getElementById('backend-badge').textContent === text, shown);
      // it stays there, half come, long enough for the status line to show it and its seconds
      assert.deepEqual((await activityMatching(page, /^downloading the engine/)).text, shown);
    } finally {
      slow.release();
    }
    await ready(page);
    assert.match(await page.textContent('#backend-badge'), /CPU/);
    assert.deepEqual(consoleErrors, []);
  });
});

// ---------------------------------------------------------------- 8: WebGPU chosen on a software adapter
test('WebGPU chosen on a software adapter runs, and the page says it is slow and that it compiles', { timeout: 8 * MINUTES }, () => withPage({ webgpu: true, query: '?eval_tasks=2', hash: '#task=sinusoid&meta_batch=2&inner_steps=1&backend=webgpu' }, async ({ page }) => {
  await until(page, () => window.lab.backend !== null, null, 4 * MINUTES);
  const b = await page.evaluate(() => window.lab.backend);
  assert.equal(b.backend, 'webgpu');
  assert.match(b.why, /software fallback .*slower than the CPU path/);
  assert.match(await page.textContent('#backend-why'), /slower than the CPU path/);
  assert.match(await page.textContent('#notices'), /WebGPU runs here on a software adapter .*much slower than the CPU path/);
  await activityMatching(page, /^WebGPU: compiling kernels for the meta-test/, 4 * MINUTES);
  // without `?gpu_counts=1` the worker counts only the kernels compiled (for the line above), and reports no calls
  await until(page, () => window.lab.ready && window.lab.evaluation !== null && !document.getElementById('step').disabled, null, 4 * MINUTES);
  await page.click('#step');
  await until(page, () => window.lab.iteration >= 1, null, 4 * MINUTES);
  assert.deepEqual(await page.evaluate(() => window.lab.gpuWork), { first: null, steady: null, pipelines: 0 });
}));

// ---------------------------------------------------------------- 10: keyboard and screen readers
test('Load… is reached by the keyboard; log sliders say their value; charts have a one-line summary', () => withPage({ hash: '#task=glyphs' }, async ({ page }) => {
  await ready(page);
  // Tab from the top of the page until Load… has the focus
  let focused = null;
  for (let i = 0; i < 60 && focused !== 'Load…'; i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement?.textContent?.trim());
  }
  assert.equal(focused, 'Load…', 'Tab reaches the Load… button');
  // Enter on it (pressed on the button itself: a report redrawing another part of the page
  // meanwhile must not make the test press Enter elsewhere)
  const chooser = page.waitForEvent('filechooser', { timeout: 5000 });
  await page.locator('#load-weights').press('Enter');
  assert.ok(await chooser, 'Enter on it opens the file picker');

  const valuetext = () => page.getAttribute('#inner_lr', 'aria-valuetext');
  assert.equal(await valuetext(), await page.textContent('output[for=inner_lr]'));
  assert.equal(await page.getAttribute('#meta_lr', 'aria-valuetext'), '1.0e-3');
  await page.$eval('#inner_lr', (el) => { el.value = '800'; el.dispatchEvent(new Event('input')); });
  const shown = await page.textContent('output[for=inner_lr]');
  assert.notEqual(shown, '0.4');
  assert.equal(await valuetext(), shown, 'the slider says the value it shows, not its position');

  await steps(page, 2);
  await until(page, () => window.lab.evaluation.iteration === 2);
  const label = (id) => page.evaluate((i) => { const el = document.getElementById(i); return el.getAttribute('role') === 'img' && el.getAttribute('aria-label'); }, id);
  await until(page, () => /at iteration 2/.test(document.getElementById('loss-chart').getAttribute('aria-label')));
  assert.match(await label('loss-chart'), /^meta-loss \d\S* at iteration 2 \(moving average\), too early for a trend; meta-test \d\S* at iteration 2$/);
  assert.match(await label('step-chart'), /^query accuracy on 24 held-out tasks after 0 to 3 inner steps: MAML's start \d+ % to \d+ % ± \d+ %, a random start \d+ % to \d+ %; chance 20 %(; nearest neighbour by pixels \d+ %, by ink \d+ %( \(MAML is below them: it has not learned yet\))?)?$/);
  assert.match(await label('task-chart'), /^24 meta-test tasks after 3 inner steps: mean \d+ % ± \d+ %, from \d+ % to \d+ %; chance 20 %$/);
}));

// ---------------------------------------------------------------- 11: long values, fractions
test('a 10,000-character link does not widen the page, and seed=1.5 is said to become 2', () => withPage({ query: '?eval_tasks=2', hash: `#task=sinusoid&seed=1.5&inner_lr=${'9'.repeat(10_000)}x&${'k'.repeat(10_000)}=1` }, async ({ page, consoleErrors }) => {
  await ready(page);
  const text = await page.textContent('#notices');
  assert.match(text, /seed=1\.5 is not a whole number; using 2/);
  assert.equal(await page.evaluate(() => window.lab.state.seed), 2);
  assert.match(await page.evaluate(() => location.hash), /seed=2(&|$)/);
  assert.ok(text.includes(`inner_lr=${'9'.repeat(40)}… is not a number`), text.slice(0, 300));
  assert.ok(text.includes(`unknown setting '${'k'.repeat(40)}…' ignored`));
  assert.ok(text.length < 1000, `the notices hold ${text.length} characters`);
  const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, window: innerWidth }));
  assert.ok(widths.page <= widths.window, `the page is ${widths.page} px wide in a ${widths.window} px window`);
  assert.deepEqual(consoleErrors, []);
}));

test('a notice wraps a long unbroken name rather than widening the page', () => withPage({ query: '?eval_tasks=2', viewport: { width: 390, height: 844 } }, async ({ page }) => {
  await ready(page);
  // a file name of any length, as a person's file can have
  await page.evaluate(() => {
    const input = document.getElementById('zip');
    const files = new DataTransfer();
    files.items.add(new File([new Uint8Array(65 << 20)], `${'a'.repeat(300)}.zip`));
    input.files = files.files;
    input.dispatchEvent(new Event('change'));
  });
  await until(page, () => /over the 64 MB limit/.test(document.getElementById('notices').textContent));
  const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, window: innerWidth }));
  assert.ok(widths.page <= widths.window, `the page is ${widths.page} px wide in a ${widths.window} px window`);
}));

// ---------------------------------------------------------------- 12: the noise control
test('the noise control says no learner beats chance, and the accuracy charts draw chance for every image task', { timeout: 6 * MINUTES }, () => withPage({ query: '?eval_tasks=2', hash: '#task=noise' }, async ({ page }) => {
  await ready(page);
  assert.ok(await page.isVisible('.task-explain'));
  assert.match(await page.textContent('.task-explain'), /no learner can beat chance/);
  const ways = await page.evaluate(() => window.lab.config.task.ways);
  const legend = (id) => page.$$eval(`#${id} .u-legend .u-series`, (els) => els.filter((e) => getComputedStyle(e).display !== 'none').map((e) => e.textContent.trim()));
  const chance = `chance (${(100 / ways).toFixed(0)} %)`;
  await until(page, (c) => document.querySelector('#step-chart .u-legend')?.textContent.includes(c), chance);
  assert.ok((await legend('step-chart')).includes(chance));
  assert.ok((await legend('task-chart')).includes(chance));
  // the line is drawn at 100/ways on both charts
  const drawn = await page.evaluate(() => ['steps', 'tasks'].map((k) => {
    const plot = window.lab.charts[k].plot;
    const i = plot.series.findIndex((s) => /^chance/.test(s.label));
    return plot.data[i];
  }));
  for (const column of drawn) assert.ok(column.length > 0 && column.every((v) => Math.abs(v - 100 / ways) < 1e-9), `chance column ${column}`);

  // glyphs: the same line at 20 ways; the note is for the noise control only
  await page.selectOption('#task', 'glyphs');
  await until(page, () => window.lab.ready && window.lab.config.task.kind === 'glyphs' && window.lab.evaluation !== null);
  assert.ok(!(await page.isVisible('.task-explain')));
  await page.fill('#ways', '20');
  await page.dispatchEvent('#ways', 'change');
  await until(page, () => document.querySelector('#step-chart .u-legend')?.textContent.includes('chance (5 %)'), null, 3 * MINUTES);
  // the sinusoid has no chance level
  await page.selectOption('#task', 'sinusoid');
  await until(page, () => window.lab.ready && window.lab.evaluation?.maml.steps[0].accuracy == null && !document.querySelector('#step-chart .u-legend')?.textContent.includes('chance'));
}));

// ---------------------------------------------------------------- 13: 20-way labels
/** The adaptation view's labels as drawn: none overlaps another, each ends inside the canvas. */
async function labelsApart(page) {
  const { labels, width } = await page.evaluate(() => ({ labels: window.lab.charts.view.labels, width: document.querySelector('#view canvas').width }));
  assert.ok(labels.length >= 20 + 20 * 5, `${labels?.length} labels`);
  assert.ok(labels.some((l) => /is/.test(l.text)), 'some query is wrong, with its long label');
  for (const l of labels) assert.ok(l.x >= 0 && l.x + l.width <= width, `"${l.text}" at ${l.x}+${l.width} in ${width}`);
  for (let i = 0; i < labels.length; i++) {
    for (let j = i + 1; j < labels.length; j++) {
      const [a, b] = [labels[i], labels[j]];
      const overlap = Math.abs(a.y - b.y) < 14 && a.x < b.x + b.width + 2 && b.x < a.x + a.width + 2;
      assert.ok(!overlap, `"${a.text}" at (${a.x}, ${a.y}) and "${b.text}" at (${b.x}, ${b.y}) overlap`);
    }
  }
}

for (const viewport of [{ width: 1360, height: 1000 }, { width: 390, height: 844 }]) {
  test(`20-way tasks: the labels under the images do not overlap (${viewport.width} px)`, () => withPage({ viewport, query: '?eval_tasks=2', hash: '#task=glyphs&ways=20' }, async ({ page }) => {
    await ready(page);
    await until(page, () => window.lab.view !== null && window.lab.view.view.support_y.length === 20);
    await until(page, () => window.lab.charts.view.labels?.length > 0);
    await labelsApart(page);
  }));
}

// ---------------------------------------------------------------- 14: the first chart in view
for (const viewport of [{ width: 390, height: 844 }, { width: 800, height: 800 }, { width: 1360, height: 800 }]) {
  test(`after Play, the meta-loss chart is in view without scrolling (${viewport.width}x${viewport.height})`, () => withPage({ viewport, query: '?eval_tasks=2', hash: '#task=sinusoid' }, async ({ page }) => {
    await ready(page);
    await page.click('#play');
    await until(page, () => window.lab.iteration >= 20);
    await page.click('#play');
    const seen = await page.evaluate(() => {
      const box = document.querySelector('#loss-chart canvas').getBoundingClientRect();
      return { top: box.top, bottom: box.bottom, height: innerHeight, scrolled: scrollY };
    });
    assert.equal(seen.scrolled, 0);
    assert.ok(seen.top >= 0 && seen.bottom <= seen.height, `the chart spans ${seen.top}..${seen.bottom} px of a ${seen.height} px window`);
  }));
}
