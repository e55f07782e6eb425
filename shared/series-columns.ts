/** A metric's points as columns (SeriesColumns) and back: one place for the shape getSeriesColumns returns. */
import type { MetricPoint, SeriesColumns } from './contract';

/** Columns as points, for readers of a few points per run (the group page, exports, tests). */
export function columnsToPoints(c: SeriesColumns | undefined): MetricPoint[] {
  if (!c) return [];
  const out = new Array<MetricPoint>(c.value.length);
  for (let i = 0; i < out.length; i++) out[i] = { iteration: c.iteration[i]!, step: c.step[i]!, value: c.value[i]!, t: c.t[i]! };
  return out;
}

/** Points as columns (tests and callers that build series by hand). */
export function pointsToColumns(points: readonly MetricPoint[]): SeriesColumns {
  const c: SeriesColumns = { iteration: [], step: [], value: [], t: [] };
  for (const p of points) {
    c.iteration.push(p.iteration);
    c.step.push(p.step);
    c.value.push(p.value);
    c.t.push(p.t);
  }
  return c;
}
