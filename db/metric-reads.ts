/** Reading a run's metrics: bounded for a run's detail (min/max buckets), paged exactly, as series across runs, by name. */
import type { MetricPoint, MetricPointsPage, RunDetail, SeriesColumns } from '../shared/contract';
import { METRIC_POINTS_PAGE_MAX, RUN_DETAIL_METRIC_LIMITS } from '../shared/contract';
import { METRIC_NAMESPACES } from '../shared/catalogue';
import { columnsToPoints } from '../shared/series-columns';
import type { DB } from './open';

interface MetricRow {
  iteration: number;
  step: number;
  value: number;
  t: number;
}
const toPoint = (r: MetricRow): MetricPoint => ({ iteration: r.iteration, step: r.step, value: r.value, t: r.t });

/**
 * Keep at most `max` of `n` points arriving in order: n split into max/4 buckets of
 * consecutive points, of each the first, the last, the lowest and the highest (in their
 * order). The curve's extent, spikes and ends survive; the last point is always kept.
 */
export function minMaxBuckets(n: number, max: number): { add(p: MetricPoint): void; done(): MetricPoint[] } {
  const buckets = Math.max(1, Math.floor(max / 4));
  const out: MetricPoint[] = [];
  type At = { p: MetricPoint; i: number };
  let i = 0;
  let cur = -1;
  let first: At | null = null;
  let last: At | null = null;
  let lo: At | null = null;
  let hi: At | null = null;
  const flush = () => {
    if (!first) return;
    const kept = [first, lo!, hi!, last!].sort((a, b) => a.i - b.i);
    kept.forEach((k, j) => {
      if (j === 0 || k.i !== kept[j - 1]!.i) out.push(k.p);
    });
    first = last = lo = hi = null;
  };
  return {
    add(p) {
      const b = Math.min(buckets - 1, Math.floor((i * buckets) / n));
      if (b !== cur) {
        flush();
        cur = b;
      }
      const at = { p, i: i++ };
      if (!first) first = lo = hi = at;
      if (p.value < lo!.p.value) lo = at;
      if (p.value > hi!.p.value) hi = at;
      last = at;
    },
    done() {
      flush();
      return out;
    },
  };
}

/**
 * Points per name for getRun within RUN_DETAIL_METRIC_LIMITS: names with few points keep
 * them all, the rest share what is left of the total budget (at most pointsPerName each).
 */
export function metricCaps(counts: number[], limits: { pointsPerName: number; totalPoints: number } = RUN_DETAIL_METRIC_LIMITS): number[] {
  const order = counts.map((c, i) => [c, i] as const).sort((a, b) => a[0] - b[0]);
  const caps = new Array<number>(counts.length);
  let left = limits.totalPoints;
  order.forEach(([c, i], k) => {
    const share = Math.max(4, Math.min(limits.pointsPerName, Math.floor(left / (order.length - k))));
    caps[i] = Math.min(c, share);
    left = Math.max(0, left - caps[i]);
  });
  return caps;
}

/**
 * The metric families the variants write and the run page draws (the namespaces of
 * experiments/starlab/catalogue.json's metrics: lower-case words, safe inside the GLOB below):
 * kept first when a run has too many names.
 */
const APP_METRIC_PREFIXES = METRIC_NAMESPACES;

/**
 * A run's metrics as getRun returns them: bounded by RUN_DETAIL_METRIC_LIMITS (over the name
 * limit, the app's own families first, then by name; a name over its cap cut by
 * minMaxBuckets), with the full count of every name returned.
 */
export function getMetricsBounded(
  db: DB,
  runId: string,
): Pick<RunDetail, 'metrics' | 'metricsDownsampled' | 'metricCounts' | 'metricNamesOmitted'> {
  const L = RUN_DETAIL_METRIC_LIMITS;
  const ours = APP_METRIC_PREFIXES.map((p) => `name GLOB '${p}/*'`).join(' OR ');
  const names = db
    .prepare(
      `SELECT name, count(*) AS n FROM metrics WHERE run_id = ? GROUP BY name ORDER BY (CASE WHEN ${ours} THEN 0 ELSE 1 END), name LIMIT ?`,
    )
    .all(runId, L.names + 1) as { name: string; n: number }[];
  let omitted = 0;
  if (names.length > L.names) {
    names.length = L.names;
    const all = (db.prepare('SELECT count(*) AS n FROM (SELECT DISTINCT name FROM metrics WHERE run_id = ?)').get(runId) as { n: number })
      .n;
    omitted = all - L.names;
  }
  const stmt = db.prepare('SELECT iteration, step, value, t FROM metrics WHERE run_id = ? AND name = ? ORDER BY step, seq');
  const metrics: Record<string, MetricPoint[]> = {};
  const metricCounts: Record<string, number> = {};
  let downsampled = omitted > 0;
  names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const caps = metricCaps(names.map((x) => x.n));
  names.forEach(({ name, n }, k) => {
    metricCounts[name] = n;
    const cap = caps[k]!;
    if (n <= cap) {
      metrics[name] = (stmt.all(runId, name) as MetricRow[]).map(toPoint);
      return;
    }
    downsampled = true;
    const b = minMaxBuckets(n, cap);
    for (const r of stmt.iterate(runId, name) as IterableIterator<MetricRow>) b.add(toPoint(r));
    metrics[name] = b.done();
  });
  return { metrics, metricsDownsampled: downsampled, metricCounts, metricNamesOmitted: omitted };
}

/** A page of one metric's exact points in (step, seq) order, after the cursor `after` (the previous page's `next`). */
export function getMetricPoints(
  db: DB,
  runId: string,
  o: { name: string; after?: { step: number; seq: number }; limit?: number },
): MetricPointsPage {
  const limit = Math.max(1, Math.min(METRIC_POINTS_PAGE_MAX, o.limit ?? METRIC_POINTS_PAGE_MAX));
  const total = (db.prepare('SELECT count(*) AS n FROM metrics WHERE run_id = ? AND name = ?').get(runId, o.name) as { n: number }).n;
  const rows = (
    o.after
      ? db
          .prepare(
            'SELECT iteration, step, value, t, seq FROM metrics WHERE run_id = ? AND name = ? AND (step > ? OR (step = ? AND seq > ?)) ORDER BY step, seq LIMIT ?',
          )
          .all(runId, o.name, o.after.step, o.after.step, o.after.seq, limit + 1)
      : db
          .prepare('SELECT iteration, step, value, t, seq FROM metrics WHERE run_id = ? AND name = ? ORDER BY step, seq LIMIT ?')
          .all(runId, o.name, limit + 1)
  ) as (MetricRow & { seq: number })[];
  const more = rows.length > limit;
  if (more) rows.length = limit;
  const lastRow = rows[rows.length - 1];
  return { name: o.name, total, points: rows.map(toPoint), next: more && lastRow ? { step: lastRow.step, seq: lastRow.seq } : null };
}

/**
 * Only the named metrics of several runs, as columns: {runId: {name: {iteration, step, value,
 * t}}}, each in (step, seq) order. The compare view's data: 50 runs × 10,000 points without an
 * object per point (scripts/bench-ingest.ts measures it beside getSeries).
 */
export function getSeriesColumns(db: DB, runIds: string[], names: string[]): Record<string, Record<string, SeriesColumns>> {
  const out: Record<string, Record<string, SeriesColumns>> = {};
  if (!runIds.length || !names.length) return out;
  // one range scan per (run, name), without the name column: each value read costs more than the scan
  const stmt = db.prepare('SELECT iteration, step, value, t FROM metrics WHERE run_id = ? AND name = ? ORDER BY step, seq').raw();
  for (const id of runIds) {
    const m: Record<string, SeriesColumns> = {};
    for (const name of new Set(names)) {
      const rows = stmt.all(id, name) as [number, number, number, number][];
      if (!rows.length) continue;
      const c: SeriesColumns = {
        iteration: new Array(rows.length),
        step: new Array(rows.length),
        value: new Array(rows.length),
        t: new Array(rows.length),
      };
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        c.iteration[i] = r[0];
        c.step[i] = r[1];
        c.value[i] = r[2];
        c.t[i] = r[3];
      }
      m[name] = c;
    }
    out[id] = m;
  }
  return out;
}

/** Only the named metrics of several runs: {runId: {name: points}}, from getSeriesColumns. */
export function getSeries(db: DB, runIds: string[], names: string[]): Record<string, Record<string, MetricPoint[]>> {
  const cols = getSeriesColumns(db, runIds, names);
  const out: Record<string, Record<string, MetricPoint[]>> = {};
  for (const [id, m] of Object.entries(cols)) out[id] = Object.fromEntries(Object.entries(m).map(([n, c]) => [n, columnsToPoints(c)]));
  return out;
}

/** Every metric name of these runs, with how many of the runs have it. */
export function metricNames(db: DB, runIds: string[]): { name: string; runs: number }[] {
  if (!runIds.length) return [];
  return db
    .prepare(
      `SELECT name, count(DISTINCT run_id) AS runs FROM metrics WHERE run_id IN (${runIds.map(() => '?').join(',')})
       GROUP BY name ORDER BY name`,
    )
    .all(...runIds) as { name: string; runs: number }[];
}
