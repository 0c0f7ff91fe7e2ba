// Draw your own task: a person gives the network a task of their own and watches the meta-learned
// start tell its classes apart after an inner step or two, while a random start cannot. The
// panel holds the conversation with the worker; what is drawn is a pad's: the image tasks'
// canvases (draw-images.js) or the sinusoid's plot (draw-sinusoid.js).
//
// The worker adapts the task (`adapt` message) with the current weights, α and test inner steps,
// from the meta-learned start and from the meta-test's random start, and sends the query class
// probabilities (the sinusoid: the curve) after each inner step 0..k. One request in flight at a
// time: a change made meanwhile is sent when the answer comes.
import { el } from './dom.js';
import { ImagePad } from './draw-images.js';
import { SinusoidPad } from './draw-sinusoid.js';
import { answers, overflow } from './draw-answers.js';

export class DrawPanel {
  /** root: the panel's element; post(msg, transfer): a message to the worker. */
  constructor(root, post) {
    Object.assign(this, { root, post, kind: null, ways: 0, shots: 0, pad: null });
    this.sample = null; // the sampled task fills come from: {index, task}
    this.sampleIndex = 0; // which sampled task fills come from: Other samples moves to the next
    this.sampleAsked = null; // the index of the sample requested and not yet come
    this.waitingFills = []; // cells to fill when the sample comes
    this.inFlight = false; // an adapt request is out
    this.dirty = false; // the task changed since it went out
    this.sent = 0; // the id of the latest request
    this.forgotten = false; // the worker holds a task the page no longer has: to forget once the answer is in
    this.result = null; // the latest answer: {id, iteration, meta_learned, random} and what was asked
    this.status = el('p', { className: 'draw-status', role: 'status' });
    this.status.setAttribute('aria-live', 'polite');
    this.body = el('div');
    this.results = el('div', { className: 'draw-results' });
    root.append(this.body, this.status, this.results);
  }

  // what the pads hold, for the tests and the curious
  get cells() { return this.pad?.cells ?? []; }
  get queries() { return this.pad?.queries ?? []; }
  get points() { return this.pad?.points ?? []; }

  /** A run started (config: its TrainerConfig). The same kind and size keeps what was drawn. */
  setRun(config) {
    const { kind, ways, shots } = config.task;
    const same = kind === this.kind && ways === this.ways && shots === this.shots;
    this.sample = null; // a new run: its own sampled tasks
    this.sampleAsked = null;
    this.forgotten = false; // the worker forgot it with the old run
    this.inFlight = false; // an answer still due belongs to the old run, and is dropped
    const waiting = this.waitingFills;
    this.waitingFills = [];
    if (!same) {
      Object.assign(this, { kind, ways, shots, result: null });
      this.build();
    } else {
      for (const cells of waiting) this.fillFromSample(cells);
    }
    this.changed();
  }

  build() {
    this.results.replaceChildren();
    this.status.textContent = ''; // the previous task's prompt is not this one's
    this.pad?.destroy?.();
    this.pad = null;
    if (this.kind === 'sinusoid') this.pad = new SinusoidPad(this);
    else if (this.kind === 'glyphs' || this.kind === 'omniglot') this.pad = new ImagePad(this);
    else this.body.replaceChildren(el('p', { className: 'hint', textContent: `The ${this.kind} task has nothing to draw: choose glyphs, Omniglot or the sinusoid to give the network a task of your own.` }));
  }

  /** Other samples: the next fill comes from another held-out task. */
  otherSamples() {
    this.sampleIndex += 1;
    this.sample = null;
    if (this.waitingFills.length) this.fillFromSample([]); // asks for the new one
  }

  /** Fills `cells` (none: the sinusoid's points) from the sampled task, asking for it first if needed. */
  fillFromSample(cells) {
    if (!this.sample) {
      this.waitingFills.push(cells);
      if (this.sampleAsked !== this.sampleIndex) {
        this.sampleAsked = this.sampleIndex;
        this.post({ type: 'sample', index: this.sampleIndex });
      }
      return;
    }
    this.pad?.fill(this.sample.task, cells);
  }

  /** The worker's sampled task (`sample` message). */
  sampled(m) {
    if (m.index !== this.sampleIndex) return;
    this.sample = { index: m.index, task: m.sample };
    this.sampleAsked = null;
    const waiting = this.waitingFills;
    this.waitingFills = [];
    for (const cells of waiting) this.fillFromSample(cells);
  }

  /** The task changed (or the run, or the weights): asks the worker to adapt it, one request at a time. */
  changed() {
    this.pad?.drawCurves?.();
    const task = this.pad ? this.pad.task() : null;
    if (task === null) return;
    if (typeof task === 'string') {
      this.status.textContent = task;
      this.forget();
      return;
    }
    if (this.inFlight) {
      this.dirty = true;
      return;
    }
    this.inFlight = true;
    this.dirty = false;
    this.sent += 1;
    this.answerDue = this.sent;
    this.forgotten = false;
    this.asked = { id: this.sent, ...this.pad.asked() };
    this.post({ type: 'adapt', id: this.sent, task }, [task.support_x.buffer, task.support_y.buffer, task.query_x.buffer]);
  }

  /** No task to adapt: the worker stops re-adapting the last one, the results go. */
  forget() {
    this.result = null;
    this.results.replaceChildren();
    this.sent += 1; // an answer still due is not shown
    if (this.asked) {
      this.asked = null;
      this.forgotten = true;
    }
    if (this.forgotten && !this.inFlight) {
      this.forgotten = false;
      this.post({ type: 'adapt', id: this.sent, task: null });
    }
    this.pad?.drawCurves?.();
  }

  /** The worker's answer (`adapted` message): a request's, or a re-adaptation after the weights moved. */
  adapted(m) {
    if (this.inFlight && m.id === this.answerDue) this.inFlight = false;
    if (!this.inFlight && this.forgotten) this.forget();
    if (m.result && m.id === this.sent) {
      this.result = { ...m.result, asked: this.asked };
      const steps = m.result.meta_learned.length - 1;
      this.status.textContent = `Adapted with the weights of iteration ${m.result.iteration}, α = ${m.alpha}, ${steps} inner step${steps === 1 ? '' : 's'}${m.training ? ', refreshed as training goes' : ''}.${overflow(m.result)}`;
      if (this.kind === 'sinusoid') this.pad.show(m.result, m.id);
      else this.results.replaceChildren(...answers(this.result));
    }
    if (this.dirty && !this.inFlight) this.changed();
  }

  /** A refused request (`error` with request 'adapt' or 'sample'): its sentence in the panel. */
  failed(m) {
    if (m.request === 'adapt') {
      this.inFlight = false;
      this.asked = null; // the worker holds no task now
      this.result = null;
      this.results.replaceChildren();
      this.status.textContent = `${m.message[0].toUpperCase()}${m.message.slice(1)}.`;
      if (this.dirty) this.changed();
    } else {
      this.waitingFills = [];
      this.sampleAsked = null;
      this.status.textContent = `No sample to fill from: ${m.message}.`;
    }
  }
}
