// Profile of the page's training worker in headless Chromium (a tool, not a test): V8's sampling
// profiler on the worker while the page trains, as self time per function (wasm functions by
// their names in the wasm's name section).
// usage: node scripts/profile-page.mjs [seconds, default 15] [hash, default '#task=glyphs&backend=cpu'] [--callers]
// The page's wasm has no name section (scripts/build-web.sh removes it); for names, rebind it after
// that build without --remove-name-section:
//   wasm-bindgen --target web --no-typescript --out-dir www/pkg "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/wasm/maml_lab.wasm"
import { withPage, until } from '../tests/e2e/browser.mjs';

const [secondsArg, hashArg] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const seconds = Number(secondsArg ?? 15);
const hash = hashArg ?? '#task=glyphs&backend=cpu';

await withPage({ hash }, async ({ page }) => {
  const cdp = await page.context().newCDPSession(page);
  const workers = [];
  const pending = new Map();
  let next = 1;
  cdp.on('Target.attachedToTarget', ({ sessionId, targetInfo }) => { if (targetInfo.type === 'worker') workers.push(sessionId); });
  cdp.on('Target.receivedMessageFromTarget', ({ message }) => {
    const m = JSON.parse(message);
    if (m.id && pending.has(m.id)) { pending.get(m.id)(m); pending.delete(m.id); }
  });
  const send = (sessionId, method, params = {}) => new Promise((resolve) => {
    const id = next++;
    pending.set(id, resolve);
    cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) });
  });
  await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
  await until(page, () => !document.getElementById('play').disabled, null, 600_000);
  if (workers.length === 0) throw new Error('no worker attached');
  const worker = workers[workers.length - 1];
  await send(worker, 'Profiler.enable');
  await send(worker, 'Profiler.setSamplingInterval', { interval: 200 });
  await page.click('#play');
  await until(page, () => window.lab.iteration >= 1, null, 600_000);
  await page.waitForTimeout(2000);
  const i0 = await page.evaluate(() => window.lab.iteration);
  await send(worker, 'Profiler.start');
  await page.waitForTimeout(seconds * 1000);
  const { result } = await send(worker, 'Profiler.stop');
  const i1 = await page.evaluate(() => window.lab.iteration);
  const { nodes, samples, timeDeltas } = result.profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const self = new Map();
  samples.forEach((id, k) => {
    const name = byId.get(id).callFrame.functionName || '(anonymous)';
    self.set(name, (self.get(name) ?? 0) + (timeDeltas[k] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.log(`${i1 - i0} meta-iterations in ~${seconds} s; self time per function:`);
  const ranked = [...self].sort((a, b) => b[1] - a[1]);
  for (const [name, t] of ranked.slice(0, 45)) console.log(`${(100 * t / total).toFixed(1).padStart(5)} %  ${name.slice(0, 150)}`);
  // the callers (three frames up) of the top functions, with --callers
  if (!process.argv.includes('--callers')) return;
  const parent = new Map();
  for (const n of nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const nameOf = (id) => byId.get(id).callFrame.functionName.replace(/::h[0-9a-f]{16}$/, '').slice(0, 90);
  for (const [name] of ranked.slice(0, 12)) {
    const chains = new Map();
    samples.forEach((id, k) => {
      if ((byId.get(id).callFrame.functionName || '(anonymous)') !== name) return;
      const up = [];
      for (let p = parent.get(id); p !== undefined && up.length < 4; p = parent.get(p)) up.push(nameOf(p));
      const key = up.join(' < ');
      chains.set(key, (chains.get(key) ?? 0) + (timeDeltas[k] ?? 0));
    });
    console.log(`\n${name.slice(0, 100)}:`);
    for (const [key, t] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, 4)) console.log(`  ${(100 * t / total).toFixed(1).padStart(5)} %  < ${key}`);
  }
});
