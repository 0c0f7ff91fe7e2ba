// The page's wasm memory after one meta-iteration of a run (not a test): what `src/memory.rs`
// estimates for the page, measured. The wasm heap only grows, so its size after the step (and
// the meta-tests before and after it) is the most the run held, fragmentation included.
// usage: node scripts/page-memory.mjs '#task=glyphs&ways=20&…' [more hashes]
import { withPage, until } from '../tests/e2e/browser.mjs';

for (const hash of process.argv.slice(2)) {
  await withPage({ hash, query: '?eval_tasks=2' }, async ({ page }) => {
    await until(page, () => window.lab.ready && window.lab.evaluation !== null, null, 120_000);
    const refused = await page.evaluate(() => window.lab.notices.map((n) => n.text).find((t) => /a browser tab/.test(t)));
    if (refused) return console.log(JSON.stringify({ hash, refused }));
    await page.click('#step');
    await until(page, () => window.lab.iteration >= 1 && window.lab.evaluation?.iteration >= 1, null, 600_000);
    console.log(JSON.stringify({ hash, wasm_gb: +(await page.evaluate(() => window.lab.wasmBytes / 1e9)).toFixed(3) }));
  });
}
