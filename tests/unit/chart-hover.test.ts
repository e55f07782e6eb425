/** The canvas chart's tooltip: the points under the pointer (renderer/src/chart-hover.ts). */
import { describe, expect, it } from 'vitest';
import { nearestIndex, rowsAt } from '../../renderer/src/chart-hover';
import type { AggCols } from '../../renderer/src/columns';

function agg(points: { x: number; mean: number; sd?: number; n?: number }[]): AggCols {
  const f = (g: (p: (typeof points)[number]) => number) => Float64Array.from(points, g);
  return {
    k: f((p) => p.x),
    x: f((p) => p.x),
    mean: f((p) => p.mean),
    lo: f((p) => p.mean - (p.sd ?? 0)),
    hi: f((p) => p.mean + (p.sd ?? 0)),
    n: f((p) => p.n ?? 1),
    length: points.length,
  };
}

describe('nearestIndex', () => {
  it('finds the nearest x by bisection, the lower one on a tie, within the used length', () => {
    const xs = Float64Array.from([0, 1, 2, 4, 8, 99]);
    expect([-5, 0, 0.4, 0.5, 0.6, 3, 3.1, 7, 100].map((x) => nearestIndex(xs, 5, x))).toEqual([0, 0, 0, 0, 1, 2, 3, 4, 4]);
    expect(nearestIndex(xs, 0, 1)).toBe(-1);
  });
});

describe('rowsAt', () => {
  const a = {
    label: 'star',
    color: '#000000',
    cols: agg([
      { x: 0, mean: 0.1 },
      { x: 10, mean: 0.5, sd: 0.1, n: 2 },
    ]),
  };
  const b = {
    label: 'star-norat',
    color: '#111111',
    cols: agg([
      { x: 0, mean: 0.2 },
      { x: 11, mean: 0.3 },
    ]),
  };
  it("gives each group's nearest point within the tolerance, highest mean first, and the nearest x", () => {
    expect(rowsAt([a, b], 10.2, 1)).toEqual({
      x: 10,
      rows: [
        { name: 'star', color: '#000000', x: 10, y: 0.5, band: [0.4, 0.6], n: 2 },
        { name: 'star-norat', color: '#111111', x: 11, y: 0.3, band: [0.3, 0.3], n: 1 },
      ],
    });
    // a group whose nearest point is farther than the tolerance is left out
    expect(rowsAt([a, b], 10.2, 0.5)!.rows.map((r) => r.name)).toEqual(['star']);
    expect(rowsAt([a, b], 5, 1)).toBeNull();
    expect(rowsAt([], 5, 1)).toBeNull();
  });
});
