/**
 * The compare view's hot path in columns (typed arrays, no per-point objects): a run's
 * mapped points, their EMA, alignment over runs (mean ± band) and LTTB downsampling to the
 * plot width. Objects are made only for the few points drawn, so an update over 50 runs of
 * 10,000 points stays in the tens of ms (scripts/bench-compare.ts measures it).
 */
import { tCritical95, type Band } from '../../shared/stats';

/** Points in plot space, in the order given: k (alignment key), x, y. */
export interface Cols {
  k: Float64Array;
  x: Float64Array;
  y: Float64Array;
  length: number;
}

/** Aligned mean and band per k. */
export interface AggCols {
  k: Float64Array;
  x: Float64Array;
  mean: Float64Array;
  lo: Float64Array;
  hi: Float64Array;
  n: Float64Array;
  length: number;
}

export function toCols(points: readonly { k: number; x: number; y: number }[]): Cols {
  const n = points.length;
  const c: Cols = { k: new Float64Array(n), x: new Float64Array(n), y: new Float64Array(n), length: n };
  for (let i = 0; i < n; i++) {
    const p = points[i]!;
    c.k[i] = p.k;
    c.x[i] = p.x;
    c.y[i] = p.y;
  }
  return c;
}

export function fromCols(c: Cols): { k: number; x: number; y: number }[] {
  const out = new Array<{ k: number; x: number; y: number }>(c.length);
  for (let i = 0; i < c.length; i++) out[i] = { k: c.k[i]!, x: c.x[i]!, y: c.y[i]! };
  return out;
}

/** Debiased EMA of y (as shared/stats' ema: non-finite values pass through and are not averaged). */
export function emaCols(c: Cols, alpha: number): Cols {
  const a = Math.min(Math.max(Number.isFinite(alpha) ? alpha : 0, 0), 0.999999);
  if (a === 0) return c;
  const y = new Float64Array(c.length);
  let last = 0;
  let k = 0;
  for (let i = 0; i < c.length; i++) {
    const v = c.y[i]!;
    if (!Number.isFinite(v)) {
      y[i] = v;
      continue;
    }
    last = last * a + (1 - a) * v;
    k += 1;
    y[i] = last / (1 - a ** k);
  }
  return { k: c.k, x: c.x, y, length: c.length };
}

/** By strictly increasing k, the last finite x of each k and the last y whose point has finite x and y (NaN: none). */
export function dedupeByK(c: Cols): Cols {
  let sorted = true;
  for (let i = 1; i < c.length && sorted; i++) if (!(c.k[i]! > c.k[i - 1]!)) sorted = false;
  let order: ArrayLike<number> | null = null;
  if (!sorted) {
    const idx = Array.from({ length: c.length }, (_, i) => i);
    idx.sort((a, b) => c.k[a]! - c.k[b]! || a - b); // stable: among equal k, the last stays last
    order = idx;
  }
  const out: Cols = { k: new Float64Array(c.length), x: new Float64Array(c.length), y: new Float64Array(c.length), length: 0 };
  for (let j = 0; j < c.length; j++) {
    const i = order ? order[j]! : j;
    const k = c.k[i]!;
    const x = c.x[i]!;
    const y = c.y[i]!;
    const fx = Number.isFinite(x);
    const fy = fx && Number.isFinite(y);
    const n = out.length;
    if (n && out.k[n - 1] === k) {
      if (fx) out.x[n - 1] = x;
      if (fy) out.y[n - 1] = y;
    } else {
      out.k[n] = k;
      out.x[n] = fx ? x : NaN;
      out.y[n] = fy ? y : NaN;
      out.length = n + 1;
    }
  }
  return out;
}

/**
 * Mean and band over runs aligned on k (the union of k where some run has a value), x the
 * mean of the runs' x at that k; sorted by x then k. Sums run in run order, as shared/stats'
 * mean and sampleStd add them, so the numbers are theirs to the bit. Input: dedupeByK'd.
 */
export function aggregateCols(cols: readonly Cols[], band: Band): AggCols {
  if (cols.length === 1) {
    // one run without gaps (the usual "one line per run"): its own arrays, no copy
    const c = cols[0]!;
    let gaps = false;
    let sorted = true;
    for (let i = 0; i < c.length && !gaps; i++) if (Number.isNaN(c.y[i]!) || Number.isNaN(c.x[i]!)) gaps = true;
    for (let i = 1; i < c.length && sorted; i++) if (c.x[i]! < c.x[i - 1]!) sorted = false;
    if (!gaps && sorted) {
      const y = c.y.subarray(0, c.length);
      return { k: c.k.subarray(0, c.length), x: c.x.subarray(0, c.length), mean: y, lo: y, hi: y, n: ones(c.length), length: c.length };
    }
  }
  const cap = cols.reduce((a, c) => a + c.length, 0);
  const out: AggCols = {
    k: new Float64Array(cap),
    x: new Float64Array(cap),
    mean: new Float64Array(cap),
    lo: new Float64Array(cap),
    hi: new Float64Array(cap),
    n: new Float64Array(cap),
    length: 0,
  };
  const push = (k: number, x: number, m: number, h: number, n: number) => {
    const i = out.length++;
    out.k[i] = k;
    out.x[i] = x;
    out.mean[i] = m;
    out.lo[i] = m - h;
    out.hi[i] = m + h;
    out.n[i] = n;
  };
  if (cols.length === 1) {
    const c = cols[0]!;
    for (let i = 0; i < c.length; i++) if (!Number.isNaN(c.y[i]!) && !Number.isNaN(c.x[i]!)) push(c.k[i]!, c.x[i]!, c.y[i]!, 0, 1);
  } else {
    const R = cols.length;
    const pos = new Int32Array(R);
    const at = new Int32Array(R);
    for (;;) {
      let k = Infinity;
      for (let r = 0; r < R; r++) if (pos[r]! < cols[r]!.length && cols[r]!.k[pos[r]!]! < k) k = cols[r]!.k[pos[r]!]!;
      if (k === Infinity) break;
      let n = 0;
      let sy = 0;
      let nx = 0;
      let sx = 0;
      for (let r = 0; r < R; r++) {
        const c = cols[r]!;
        const i = pos[r]!;
        at[r] = -1;
        if (i < c.length && c.k[i] === k) {
          at[r] = i;
          pos[r] = i + 1;
          if (!Number.isNaN(c.y[i]!)) {
            n++;
            sy += c.y[i]!;
          }
          if (!Number.isNaN(c.x[i]!)) {
            nx++;
            sx += c.x[i]!;
          }
        }
      }
      if (!n || !nx) continue;
      const m = sy / n;
      let h = 0;
      if (n > 1) {
        let ss = 0;
        for (let r = 0; r < R; r++) {
          const i = at[r]!;
          if (i >= 0 && !Number.isNaN(cols[r]!.y[i]!)) ss += (cols[r]!.y[i]! - m) * (cols[r]!.y[i]! - m);
        }
        const sd = Math.sqrt(ss / (n - 1));
        h = band === 'std' ? sd : (tCritical95(n - 1) * sd) / Math.sqrt(n);
      }
      push(k, sx / nx, m, h, n);
    }
  }
  let sorted = true;
  for (let i = 1; i < out.length && sorted; i++) if (out.x[i]! < out.x[i - 1]!) sorted = false;
  if (!sorted) {
    const idx = Array.from({ length: out.length }, (_, i) => i).sort((a, b) => out.x[a]! - out.x[b]! || out.k[a]! - out.k[b]!);
    const copy = (a: Float64Array) => Float64Array.from(idx, (i) => a[i]!);
    return { k: copy(out.k), x: copy(out.x), mean: copy(out.mean), lo: copy(out.lo), hi: copy(out.hi), n: copy(out.n), length: out.length };
  }
  return out;
}

let ONES = new Float64Array(0);
/** A read-only array of n ones (shared). */
function ones(n: number): Float64Array {
  if (ONES.length < n) ONES = new Float64Array(Math.max(n, 2 * ONES.length)).fill(1);
  return ONES.subarray(0, n);
}

/**
 * Largest-triangle-three-buckets (Steinarsson 2013) over the positions `idx` of (xs, ys):
 * the first and last, and from each of n − 2 equal buckets between them the point making the
 * largest triangle with the one kept before it and the next bucket's mean. Returns positions.
 */
export function lttbIndices(xs: ArrayLike<number>, ys: ArrayLike<number>, idx: ArrayLike<number>, n: number): number[] {
  const len = idx.length;
  if (n >= len || n < 3) return Array.from(idx);
  const out: number[] = [idx[0]!];
  const every = (len - 2) / (n - 2);
  let a = 0;
  for (let b = 0; b < n - 2; b++) {
    const start = Math.floor(b * every) + 1;
    const end = Math.min(Math.floor((b + 1) * every) + 1, len - 1);
    const nEnd = Math.min(Math.floor((b + 2) * every) + 1, len);
    let ax = 0;
    let ay = 0;
    for (let j = end; j < nEnd; j++) {
      ax += xs[idx[j]!]!;
      ay += ys[idx[j]!]!;
    }
    const cnt = nEnd - end || 1;
    ax /= cnt;
    ay /= cnt;
    const px = xs[idx[a]!]!;
    const py = ys[idx[a]!]!;
    let best = -1;
    let pick = start;
    for (let j = start; j < end; j++) {
      const area = Math.abs((px - ax) * (ys[idx[j]!]! - py) - (px - xs[idx[j]!]!) * (ay - py));
      if (area > best) {
        best = area;
        pick = j;
      }
    }
    out.push(idx[pick]!);
    a = pick;
  }
  out.push(idx[len - 1]!);
  return out;
}

/** Positions 0..len−1 where keep(i) holds. */
export function positions(len: number, keep: (i: number) => boolean): Int32Array {
  const out = new Int32Array(len);
  let n = 0;
  for (let i = 0; i < len; i++) if (keep(i)) out[n++] = i;
  return out.subarray(0, n);
}
