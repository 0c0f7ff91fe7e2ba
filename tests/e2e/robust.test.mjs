// The page is never left dead: runs it cannot hold, links and settings it cannot run, a zip it
// cannot use and a crashed worker each end in a sentence and a working page whose controls and
// URL show the run that runs (issue 9, items 1 to 4). Headless Chromium, CPU path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { withPage, until, drawn } from './browser.mjs';

const FEW = '?eval_tasks=2'; // a small meta-test: the 2 cores of CI

const ready = async (page) => { await until(page, () => window.lab.ready && window.lab.evaluation !== null); await drawn(page); };
const noticeMatching = (page, source) => until(page, (s) => window.lab.notices.map((n) => n.text).find((t) => new RegExp(s).test(t)), source);

/** Presses Step and waits for the meta-iteration and the meta-test after it; returns the
 *  iteration reached. */
async function step(page) {
  const before = await page.evaluate(() => window.lab.iteration);
  await until(page, () => !document.getElementById('step').disabled);
  await page.click('#step');
  const reached = await until(page, (k) => window.lab.iteration > k && window.lab.iteration, before);
  await until(page, (k) => window.lab.evaluation?.iteration === k, reached);
  return reached;
}

/** What the controls and the URL show against the config the worker runs. */
const shown = (page) => page.evaluate(() => {
  const value = (id) => document.getElementById(id).value;
  const c = window.lab.config;
  const hash = new URLSearchParams(location.hash.slice(1));
  return {
    fields: { task: value('task'), ways: Number(value('ways')), shots: Number(value('shots')), queries: Number(value('queries')), filters: Number(value('filters')) },
    url: { task: hash.get('task'), ways: Number(hash.get('ways')), shots: Number(hash.get('shots')), queries: Number(hash.get('queries')), filters: Number(hash.get('filters')) },
    run: { task: c.task.kind, ways: c.task.ways, shots: c.task.shots, queries: c.task.queries, filters: c.model.filters },
  };
});

function assertShowsTheRun(s) {
  // the sinusoid has no ways or filters of its own: its fields keep the preset's, hidden
  const keys = s.run.task === 'sinusoid' ? ['task', 'shots', 'queries'] : Object.keys(s.run);
  for (const k of keys) {
    assert.equal(s.fields[k], s.run[k], `the ${k} field shows the run's value`);
    assert.equal(s.url[k], s.run[k], `the URL's ${k} is the run's`);
  }
}

test('item 1a: a run too large for the tab is refused before it starts, in words, and the page runs', () =>
  withPage({ query: FEW, hash: '#task=glyphs&ways=20&shots=10&queries=10&filters=64&inner_steps=10&meta_batch=64' }, async ({ page, consoleErrors }) => {
    const text = await noticeMatching(page, 'a browser tab');
    assert.match(text, /this run needs about \d+(\.\d)? GB per meta-iteration, more than the 2\.0 GB a browser tab can give it; lower the meta-batch, filters, ways, shots \+ queries or inner steps/);
    assert.match(text, /Started the glyphs preset instead/);
    await ready(page);
    // the preset, which starts from the shipped meta-trained weights: training goes on from there
    const at = await page.evaluate(() => window.lab.iteration);
    assert.equal(await step(page), at + 1);
    assertShowsTheRun(await shown(page));
    assert.deepEqual(consoleErrors, []);
  }));

test('item 1b: a worker that dies is replaced, with a sentence, the same settings, the last weights and working buttons', () =>
  withPage({ query: FEW, hash: '#task=glyphs&seed=5&queries=3' }, async ({ page, consoleErrors }) => {
    await ready(page);
    await step(page);
    await step(page);
    // every Step takes a checkpoint of the run
    const saved = await until(page, () => window.lab.snapshot.last?.iteration === 2 && 2);
    await page.evaluate(() => { window.deadWorker = window.lab.worker; });
    // what a trap in the wasm does (an allocation past its memory): an uncaught RuntimeError in the
    // worker, out of a promise that never settles, so its queue is stuck for good
    const [worker] = page.workers();
    await worker.evaluate(() => setTimeout(() => { throw new WebAssembly.RuntimeError('unreachable'); }));
    const text = await noticeMatching(page, 'crashed');
    assert.match(text, /The training engine crashed \(.*RuntimeError: unreachable: WebAssembly stops so when it runs out of memory or panics\), and was restarted with the same run, from its checkpoint at meta-iteration 2\./);
    assert.doesNotMatch(text, /failed to load/);
    assert.ok(await page.evaluate(() => window.lab.worker !== window.deadWorker), 'a fresh worker');
    await ready(page);
    assert.equal(await page.evaluate(() => window.lab.iteration), saved);
    assert.equal(await step(page), saved + 1, 'training goes on from the checkpoint');
    const s = await shown(page);
    assertShowsTheRun(s);
    assert.equal(s.run.queries, 3);
    assert.equal(await page.evaluate(() => window.lab.config.seed), 5);
    assert.match(await page.evaluate(() => location.hash), /seed=5/);
    // play and pause work on the new worker
    await page.click('#play');
    await until(page, (k) => window.lab.iteration > k, saved + 1);
    await page.click('#play');
    assert.deepEqual(consoleErrors, []);
  }));

test('item 2: a link asking for more images than a class has is clamped with a notice; the fields offer only what runs', () =>
  withPage({ query: FEW, hash: '#task=glyphs&shots=20&queries=30' }, async ({ page, consoleErrors }) => {
    const text = await noticeMatching(page, 'need 50 images');
    assert.match(text, /The link: shots=20 and queries=30 need 50 images of a class, and a glyphs class has 20; using shots=19, queries=1/);
    await ready(page);
    assertShowsTheRun(await shown(page));
    assert.equal(await step(page), 1);
    // the limit is shown where the person types, and the fields' ranges keep to it
    assert.match(await page.textContent('#run-controls'), /shots \+ queries ≤ 20 for glyphs/);
    assert.equal(await page.getAttribute('#shots', 'max'), '19');
    assert.equal(await page.getAttribute('#queries', 'max'), '1');
    assert.deepEqual(consoleErrors, []);
  }));

test('item 2/3: typing shots = 20 in a glyph run is clamped to what the queries leave; the field, the URL and the run agree', () =>
  withPage({ query: FEW, hash: '#task=glyphs' }, async ({ page, consoleErrors }) => {
    await ready(page);
    await page.fill('#shots', '20');
    await page.$eval('#shots', (el) => el.dispatchEvent(new Event('change')));
    const text = await noticeMatching(page, 'shots=20');
    assert.match(text, /shots=20 is outside 1\.\.15; using 15/);
    await until(page, () => window.lab.ready && window.lab.config.task.shots === 15);
    assertShowsTheRun(await shown(page));
    assert.equal(await step(page), 1);
    assert.equal(await page.getAttribute('#queries', 'max'), '5');
    assert.deepEqual(consoleErrors, []);
  }));

test('item 3: a run setting the worker refuses puts the field and the URL back, with the sentence, and erases nothing', () =>
  withPage({ query: FEW, hash: '#task=glyphs&ways=20&shots=1&queries=1&filters=8&inner_steps=10&meta_batch=32' }, async ({ page, consoleErrors }) => {
    await ready(page);
    await step(page);
    const before = await page.evaluate(() => JSON.stringify(window.lab.history));
    // 64 filters make this run's meta-iteration too large for the tab
    await page.selectOption('#filters', '64');
    const text = await noticeMatching(page, 'Could not start that run');
    assert.match(text, /this run needs about .* GB per meta-iteration.*\. The current run goes on\./);
    await until(page, () => window.lab.ready);
    const s = await shown(page);
    assert.equal(s.fields.filters, 8);
    assertShowsTheRun(s);
    assert.equal(await page.evaluate(() => JSON.stringify(window.lab.history)), before, 'the charts keep the run');
    assert.equal(await step(page), 2, 'the run goes on from where it was');
    assert.deepEqual(consoleErrors, []);
  }));

test('item 4: a zip of too few characters is refused at once and the sinusoid run goes on as it was', () =>
  withPage({ query: FEW, hash: '#task=sinusoid&start=scratch' }, async ({ page, consoleErrors }) => {
    await ready(page);
    await step(page);
    await step(page);
    const before = await page.evaluate(() => JSON.stringify(window.lab.history));
    await page.setInputFiles('#zip', { name: 'two.zip', mimeType: 'application/zip', buffer: omniglotZip(2, 20) });
    const text = await noticeMatching(page, 'Could not read that zip');
    assert.match(text, /the zip has 2 characters; 5-way tasks need at least 6/);
    assert.match(text, /the current run goes on/);
    assert.doesNotMatch(await page.textContent('#zip-status'), /reading/, 'no "reading two.zip…" left behind');
    assert.equal(await page.evaluate(() => window.lab.zipLoaded), false);
    assert.ok(await page.evaluate(() => window.lab.ready));
    assert.equal(await page.evaluate(() => JSON.stringify(window.lab.history)), before, 'the charts keep the run');
    assertShowsTheRun(await shown(page));
    assert.equal((await shown(page)).run.task, 'sinusoid');
    assert.equal(await step(page), 3);
    assert.deepEqual(consoleErrors, []);
  }));

// ---------------------------------------------------------------- a zip of Omniglot's layout, made here

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (bytes) => (bytes.reduce((c, b) => CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8), 0xffffffff) ^ 0xffffffff) >>> 0;

/** A 28x28 8-bit grayscale PNG: white, with a dark square of side `ink`. */
function png(ink) {
  const rows = [];
  for (let y = 0; y < 28; y++) rows.push(0, ...Array.from({ length: 28 }, (_, x) => (x < ink && y < ink ? 0 : 255)));
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(28, 0);
  header.writeUInt32BE(28, 4);
  header[8] = 8; // bit depth; colour type 0 (grayscale), compression, filter, interlace 0
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(Buffer.from(rows))), chunk('IEND', Buffer.alloc(0))]);
}

/** `characters` characters of `images` PNGs each, stored (uncompressed) in one alphabet. */
function omniglotZip(characters, images) {
  const files = [];
  for (let c = 0; c < characters; c++) {
    for (let i = 0; i < images; i++) files.push([`images_background/Alpha/character${String(c + 1).padStart(2, '0')}/${c}_${i}.png`, png(4 + c + i)]);
  }
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, data] of files) {
    const n = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(n.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, n, data);
    centrals.push(central, n);
    offset += 30 + n.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
