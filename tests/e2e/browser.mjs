// Shared set-up of the browser tests: the static server and Debian's headless Chromium
// (flags from shared/docs/design.md: no network, WebGPU on SwiftShader when asked for).
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/serve.mjs';

const QUIET = ['--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];
const WEBGPU = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader'];

/** A page in a fresh headless Chromium; `server` makes the static server (a test may wrap it). */
export async function open({ webgpu = false, hash = '', query = '', viewport = { width: 1360, height: 1000 }, server: makeServer = serve } = {}) {
  const server = await makeServer(0);
  const base = `http://127.0.0.1:${server.address().port}/`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [...QUIET, ...(webgpu ? WEBGPU : ['--disable-gpu'])],
  });
  // a context of its own, so a test can open a second tab of the page in it (shared storage)
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(base + query + hash);
  const close = async () => { await browser.close(); server.close(); };
  return { page, base, consoleErrors, close };
}

/** Polls `fn` in the page until it returns a truthy value. */
export async function until(page, fn, arg, timeout = 60_000) {
  const handle = await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  return handle.jsonValue();
}

/**
 * Waits until the page has drawn what it holds: the charts and captions are drawn on the animation
 * frame after their data arrives, so a test that read them right after seeing the data could race.
 */
export async function drawn(page) {
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
}

/** Waits until the worker has done every request sent before now, such as the batch in flight when
 *  Play was paused: a test then reads what stays, however fast or slow the machine. */
export async function settled(page) {
  await page.evaluate(() => window.lab.settle());
  await drawn(page);
}

/** Presses Step `n` times, each time waiting for its meta-iteration and for what the worker does
 *  after it (a replayed live change, the meta-test, the display task). */
export async function steps(page, n) {
  for (let i = 0; i < n; i++) {
    const before = await page.evaluate(() => window.lab.iteration);
    await until(page, () => !document.getElementById('step').disabled);
    await page.click('#step');
    await until(page, (k) => window.lab.iteration > k, before);
    await settled(page);
  }
}

/** Runs `fn({ page, consoleErrors })` on a freshly opened page and always closes it. */
export async function withPage(options, fn) {
  const opened = await open(options);
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}

/** The main thread stayed free while the worker worked: a frozen thread (training or compiling
 *  there) shows as long tasks of seconds filling the window. A busy machine makes a few tasks of
 *  tens of milliseconds anyway, so the check is on their size and share, not on their absence. */
export function mainThreadStayedFree(durations, windowMs) {
  const longest = Math.max(0, ...durations);
  const total = durations.reduce((a, b) => a + b, 0);
  return longest < 1000 && total < 0.2 * windowMs;
}
