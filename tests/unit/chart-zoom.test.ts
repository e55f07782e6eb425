/** The compare chart's zoom (issue 17): a drag across the plot to an x range, the lines cut to it, y refit. */
import { describe, expect, it } from 'vitest';
import {
  MIN_DRAG_PX,
  clampToPlot,
  dragToRange,
  formatDomain,
  orderRange,
  pixelToX,
  rowsInRange,
  sliceToRange,
  xExtent,
  xToPixel,
  zoomedDomains,
} from '../../renderer/src/chart-zoom';
import type { AggCols, Cols } from '../../renderer/src/columns';
import { thinAggregate } from '../../renderer/src/downsample';
import { niceTicks } from '../../shared/ticks';

// a plot 400 px wide starting 66 px from the chart's left (margin 8 + y axis 58), x over [0, 100]
const span = { left: 66, width: 400 };
const domain: [number, number] = [0, 100];

const f64 = (a: number[]) => Float64Array.from(a);
const cols = (xs: number[], ys: number[]): Cols => ({ k: f64(xs), x: f64(xs), y: f64(ys), length: xs.length });
const agg = (xs: number[], mean: number[], half = 0.1): AggCols => ({
  k: f64(xs),
  x: f64(xs),
  mean: f64(mean),
  lo: f64(mean.map((m) => m - half)),
  hi: f64(mean.map((m) => m + half)),
  n: f64(xs.map(() => 2)),
  length: xs.length,
});

describe('pixels and data x', () => {
  it('maps the plot linearly onto the domain, clamping pixels outside the plot', () => {
    expect(pixelToX(66, span, domain)).toBe(0);
    expect(pixelToX(466, span, domain)).toBe(100);
    expect(pixelToX(166, span, domain)).toBe(25);
    expect(pixelToX(0, span, domain)).toBe(0); // on the y axis: the plot's left edge
    expect(pixelToX(900, span, domain)).toBe(100);
    expect(pixelToX(266, span, [1000, 3000])).toBe(2000);
    expect(clampToPlot(10, span)).toBe(66);
    expect(xToPixel(25, span, domain)).toBe(166);
    for (const px of [70, 123.5, 300, 460]) expect(xToPixel(pixelToX(px, span, domain), span, domain)).toBeCloseTo(px, 9);
  });

  it('orders a range', () => {
    expect(orderRange(3, 1)).toEqual([1, 3]);
    expect(orderRange(1, 3)).toEqual([1, 3]);
  });
});

describe('a drag to a range', () => {
  it('selects the range under the drag, in either direction', () => {
    expect(dragToRange(166, 266, span, domain)).toEqual([25, 50]);
    expect(dragToRange(266, 166, span, domain)).toEqual([25, 50]);
  });

  it('treats a drag under 4 px as a click', () => {
    expect(MIN_DRAG_PX).toBe(4);
    expect(dragToRange(200, 200, span, domain)).toBeNull();
    expect(dragToRange(200, 203.9, span, domain)).toBeNull();
    expect(dragToRange(200, 196.5, span, domain)).toBeNull();
    expect(dragToRange(200, 204, span, domain)).not.toBeNull();
  });

  it('clamps a drag that leaves the plot to its edges (a drag wholly outside it is a click)', () => {
    expect(dragToRange(366, 2000, span, domain)).toEqual([75, 100]);
    expect(dragToRange(-50, 116, span, domain)).toEqual([0, 12.5]);
    expect(dragToRange(500, 900, span, domain)).toBeNull();
  });

  it('selects nothing on an axis without extent or a plot without width', () => {
    expect(dragToRange(100, 300, span, [5, 5])).toBeNull();
    expect(dragToRange(100, 300, span, [NaN, 5])).toBeNull();
    expect(dragToRange(100, 300, { left: 66, width: 0 }, domain)).toBeNull();
  });

  it('zooms again inside a zoomed range', () => {
    const first = dragToRange(166, 266, span, domain)!; // [25, 50]
    expect(dragToRange(66, 266, span, first)).toEqual([25, 37.5]);
  });
});

describe('lines cut to the range', () => {
  it('keeps the points in the range and one either side (so lines reach the edges)', () => {
    const c = cols([0, 1, 2, 3, 4, 5, 6], [10, 11, 12, 13, 14, 15, 16]);
    const s = sliceToRange(c, [2.5, 4.2]);
    expect(Array.from(s.x)).toEqual([2, 3, 4, 5]);
    expect(Array.from(s.y)).toEqual([12, 13, 14, 15]);
    expect(Array.from(s.k)).toEqual([2, 3, 4, 5]);
    expect(s.length).toBe(4);
    // nothing to cut: the same columns
    expect(sliceToRange(c, [-1, 10])).toBe(c);
    // a range between two points: those two, so the segment crosses the plot
    expect(Array.from(sliceToRange(c, [2.2, 2.8]).x)).toEqual([2, 3]);
    // a range past the end: nothing
    expect(sliceToRange(c, [10, 20]).length).toBe(0);
    // x out of order (a run that went back): every segment reaching into the range
    const back = cols([0, 5, 1, 6], [1, 2, 3, 4]);
    expect(Array.from(sliceToRange(back, [5.5, 7]).x)).toEqual([1, 6]);
    expect(Array.from(sliceToRange(back, [0.2, 0.4]).x)).toEqual([0, 5]);
    expect(Array.from(sliceToRange(back, [4, 4.5]).x)).toEqual([0, 5, 1, 6]);
  });

  it('cuts every column of an aggregate alike', () => {
    const a = agg([0, 10, 20, 30, 40], [0.1, 0.2, 0.3, 0.4, 0.5]);
    const s = sliceToRange(a, [15, 25]);
    expect(Array.from(s.x)).toEqual([10, 20, 30]);
    expect(Array.from(s.mean)).toEqual([0.2, 0.3, 0.4]);
    expect(Array.from(s.lo).map((v) => +v.toFixed(9))).toEqual([0.1, 0.2, 0.3]);
    expect(Array.from(s.n)).toEqual([2, 2, 2]);
    // thinned as the chart draws it: the range gets all of its points
    expect(thinAggregate(s, 100, false).map((r) => r.x)).toEqual([10, 20, 30]);
  });

  it('filters rows to the range', () => {
    const rows = [0, 1, 2, 3].map((x) => ({ x, y: x }));
    expect(rowsInRange(rows, [1, 2]).map((r) => r.x)).toEqual([1, 2]);
  });
});

describe('domains of a zoomed chart', () => {
  const row = (x: number, y: number, band?: [number, number]) => (band ? { x, y, band } : { x, y });
  // a loss falling from 10 to 1 over x 0..9
  const mean = [10, 8, 6, 5, 4, 3, 2.5, 2, 1.5, 1].map((y, x) => row(x, y, [y - 0.2, y + 0.2]));
  const lines = [{ mean, raw: [], runs: [] }];

  it('x is the range; y refits, with nice ticks, to the points inside it (neighbours outside ignored)', () => {
    const d = zoomedDomains(lines, [5.5, 8.5], { yLog: false, unitInterval: false })!;
    expect(d.x).toEqual([5.5, 8.5]);
    // inside: x = 6, 7, 8 → y 2.5, 2, 1.5 with bands 1.3 .. 2.7
    expect(d.y[0]).toBeLessThanOrEqual(1.3);
    expect(d.y[1]).toBeGreaterThanOrEqual(2.7);
    expect(d.y[1] - d.y[0]).toBeLessThan(3);
    expect(d.yTicks[0]).toBeCloseTo(d.y[0], 9);
    expect(d.yTicks.at(-1)).toBeCloseTo(d.y[1], 9);
    // unzoomed it spans the whole loss
    expect(zoomedDomains(lines, [0, 9], { yLog: false, unitInterval: false })!.y[1]).toBeGreaterThanOrEqual(10.2);
  });

  it('keeps [0, 1] for fractions and decades on a log axis', () => {
    const acc = [{ mean: [row(0, 0.2), row(1, 0.3), row(2, 0.35)], raw: [], runs: [] }];
    expect(zoomedDomains(acc, [0.5, 1.5], { yLog: false, unitInterval: true })).toEqual({
      x: [0.5, 1.5],
      y: [0, 1],
      yTicks: [0, 0.25, 0.5, 0.75, 1],
    });
    const log = zoomedDomains(lines, [5.5, 7.5], { yLog: true, unitInterval: false })!;
    expect(log.y).toEqual([1, 10]);
  });

  it('fits y to the lines drawn when no point lies inside the range', () => {
    const d = zoomedDomains([{ mean: [row(0, 1), row(10, 3)], raw: [], runs: [] }], [4, 6], { yLog: false, unitInterval: false })!;
    expect(d.x).toEqual([4, 6]);
    expect(d.y[0]).toBeLessThanOrEqual(1);
    expect(d.y[1]).toBeGreaterThanOrEqual(3);
    expect(zoomedDomains([{ mean: [], raw: [], runs: [] }], [4, 6], { yLog: false, unitInterval: false })).toBeNull();
  });

  it('recomputes nice x ticks for the range', () => {
    // token counts: 0 .. 1.2M unzoomed, 400k .. 600k zoomed
    const all = niceTicks('count', 0, 1_200_000);
    const zoomed = niceTicks('count', 400_000, 600_000);
    expect(zoomed.ticks.map(zoomed.format)).not.toEqual(all.ticks.map(all.format));
    expect(zoomed.ticks[0]).toBeGreaterThanOrEqual(400_000);
    expect(zoomed.ticks.at(-1)).toBeLessThanOrEqual(600_000);
  });
});

describe('extent and the data-x-domain attribute', () => {
  it('spans every row of every line', () => {
    expect(xExtent([{ mean: [{ x: 2, y: 0 }], raw: [{ x: -1, y: 0 }], runs: [[{ x: 7, y: 1 }]] }])).toEqual([-1, 7]);
    expect(xExtent([])).toEqual([Infinity, -Infinity]);
  });

  it('writes "lo,hi" without float noise, empty when there is no extent', () => {
    expect(formatDomain([0.1 + 0.2, 5])).toBe('0.3,5');
    expect(formatDomain([400000, 1132823])).toBe('400000,1132823');
    expect(formatDomain([Infinity, -Infinity])).toBe('');
  });
});
