// The y axis of the log-scale charts (meta-loss, MSE): drawn to the current run's finite values
// and the pinned runs' near them, so a pin that diverged (an MSE of 3e27) cannot squash the
// current run's curve to a flat line at the bottom. A pin's values beyond DECADES of the current
// run's are drawn on the edge they cross, and its legend entry says so.
import uPlot from '../vendor/uPlot.esm.js';

/** The smallest and largest finite positive values of `columns`, or null when there are none. */
export function positiveExtent(columns) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const col of columns) {
    for (const v of col) {
      if (typeof v === 'number' && Number.isFinite(v) && v > 0) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

const DECADES = 3;

/** The extent a log axis shows: the current run's finite positive values (columns `current`) and
 *  the pins' (`others`) within DECADES decades of them; with no current values, the pins'. */
export function axisExtent(current, others) {
  const run = positiveExtent(current);
  if (!run) return positiveExtent(others);
  const [lo, hi] = [run[0] / 10 ** DECADES, run[1] * 10 ** DECADES];
  const near = positiveExtent(others.map((col) => col.filter((v) => v >= lo && v <= hi)));
  return near ? [Math.min(run[0], near[0]), Math.max(run[1], near[1])] : run;
}

/** The decades a log axis shows for `extent` ([lo, hi], or null: uPlot's own choice). */
export function logRange(extent) {
  return extent && uPlot.rangeLog(extent[0], extent[1], 10, true);
}

/** `column` with what lies outside `range` moved onto its edges: {column, off}, off saying
 *  whether any value was moved ('above', 'below', 'above and below' or ''). Gaps stay gaps. */
export function clampTo(column, range) {
  if (!range) return { column, off: '' };
  let above = false;
  let below = false;
  const out = column.map((v) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return null;
    if (v > range[1]) { above = true; return range[1]; }
    if (v < range[0]) { below = true; return range[0]; }
    return v;
  });
  return { column: out, off: [above && 'above', below && 'below'].filter(Boolean).join(' and ') };
}

/** A log scale that shows `extent()` ([lo, hi], axisExtent's, or null) rather than everything
 *  drawn. */
export const runScale = (extent) => ({
  distr: 3,
  range: (u, min, max) => logRange(extent()) ?? (min > 0 && max >= min ? uPlot.rangeLog(min, max, 10, true) : [0.1, 10]),
});

/** Marks a series' legend entry as drawn off scale (or clears the mark). */
export function markOffScale(plot, seriesIndex, off) {
  const entry = plot.root.querySelectorAll('.u-legend .u-series')[seriesIndex - 1]?.querySelector('.u-label');
  if (!entry) return;
  const label = plot.series[seriesIndex].label;
  entry.textContent = off ? `${label} (off scale ${off}: drawn on the edge)` : label;
}
