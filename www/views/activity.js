// What the worker is busy with when it takes a while: a line under the counters, with the seconds
// ticking, so a long download, first meta-iteration or meta-test reads as work rather than as a
// page that hangs. The worker says what it starts (`activity` messages); a job over before
// SHOW_AFTER_MS never shows, so the ordinary batches and meta-tests of a run do not flicker.

const SHOW_AFTER_MS = 1000;

export class ActivityLine {
  /** line: the element shown while busy; text: where the sentence goes; elapsed: the seconds. */
  constructor(line, text, elapsed) {
    Object.assign(this, { line, text, elapsed });
    this.current = null; // {key, text, estimateMs, since}: what the worker does now, or null
    setInterval(() => this.render(), 250);
  }

  /** The worker started `key` ("evaluate", "step", …), described by `text`, expected to take
   *  about `estimateMs` (null: unknown); a key of null: it is idle. The same key again updates
   *  the sentence (a download's bytes) and keeps the clock running. */
  set(key, text, estimateMs = null) {
    if (key === null) this.current = null;
    else if (this.current?.key === key) Object.assign(this.current, { text, estimateMs });
    else this.current = { key, text, estimateMs, since: performance.now() };
    this.render();
  }

  render() {
    const c = this.current;
    const ms = c ? performance.now() - c.since : 0;
    this.line.hidden = !c || ms < SHOW_AFTER_MS;
    if (this.line.hidden) return;
    this.text.textContent = c.text;
    const s = Math.floor(ms / 1000);
    this.elapsed.textContent = c.estimateMs ? `${s} s of about ${Math.max(1, Math.round(c.estimateMs / 1000))} s` : `${s} s`;
  }
}
