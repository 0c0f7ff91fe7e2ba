// Shared set-up of the browser tests: the static server and Debian's headless Chromium
// (flags from shared/docs/design.md: no network, WebGPU on SwiftShader when asked for).
import { chromium } from 'playwright-core';
import { serve } from '../../scripts/serve.mjs';

const QUIET = ['--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];
const WEBGPU = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader'];

export async function open({ webgpu = false, hash = '', query = '', viewport = { width: 1360, height: 1000 } } = {}) {
  const server = await serve(0);
  const base = `http://127.0.0.1:${server.address().port}/`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [...QUIET, ...(webgpu ? WEBGPU : ['--disable-gpu'])],
  });
  const page = await browser.newPage({ viewport });
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

/** Runs `fn({ page, consoleErrors })` on a freshly opened page and always closes it. */
export async function withPage(options, fn) {
  const opened = await open(options);
  try {
    return await fn(opened);
  } finally {
    await opened.close();
  }
}
