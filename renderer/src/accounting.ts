/**
 * Per-iteration accounting of a STaR-family run (star, star-norat, v-star), pure (no React):
 * how many training questions were attempted, solved directly, rationalized and kept, the
 * share of them that made it into the training data, tokens generated and trained, and the
 * wall time of each phase. Built from the run's metrics (experiments/starlab/variants/star.py
 * and vstar.py log them once per iteration) and its phase records.
 */
import type { MetricPoint, PhaseRecord, RunDetail } from '../../shared/contract';
import { ACCOUNTING_METRICS as CATALOGUE_ACCOUNTING, sortPhases, variantInfo, type MetricUnit } from '../../shared/catalogue';

export type AccountingUnit = MetricUnit;

export interface AccountingMetric {
  name: string;
  label: string;
  unit: AccountingUnit;
  /** A running total over the run (plot it as is; the table shows its per-iteration change too). */
  cumulative?: boolean;
}

/**
 * The accounting metrics, for the compare view's metric picker (every one is logged once per
 * iteration): the catalogue's metrics marked `accounting`, in its order (experiments/starlab/catalogue.json).
 */
export const ACCOUNTING_METRICS: readonly AccountingMetric[] = CATALOGUE_ACCOUNTING.map((m) => ({
  name: m.name!,
  label: m.label,
  unit: m.unit,
  ...(m.cumulative ? { cumulative: true } : {}),
}));

/** True for the variants that log this accounting (the catalogue's STaR family) or any run that logged train/attempted. */
export function isStarFamily(run: Pick<RunDetail, 'variant' | 'metrics'>): boolean {
  return variantInfo(run.variant)?.family === 'star' || (run.metrics['train/attempted']?.length ?? 0) > 0;
}

export interface AccountingRow {
  iteration: number;
  attempted: number | null;
  samples: number | null;
  solvedDirect: number | null;
  rationalizeAttempted: number | null;
  rationalized: number | null;
  hintCopied: number | null;
  kept: number | null;
  /** Share of the attempted questions with at least one kept rationale (train/kept_fraction). */
  keptFraction: number | null;
  trainSet: number | null;
  steps: number | null;
  warmupExamples: number | null;
  /**
   * Tokens generated / trained during this iteration: the change of the cumulative counter, or,
   * where the counter dropped (the process restarted it from zero), its new value.
   */
  tokensGenerated: number | null;
  tokensTrained: number | null;
  /** Running totals of the per-iteration counts up to this iteration (the counters themselves unless one restarted). */
  tokensGeneratedTotal: number | null;
  tokensTrainedTotal: number | null;
  verifierPairs: number | null;
  verifierBuffer: number | null;
  /** Seconds per phase (keys from `AccountingTable.phases`); a phase missing at this iteration is absent. */
  phaseSeconds: Record<string, number>;
  /** Where phaseSeconds came from: the phase records, the time/<phase>_s metrics, or neither. */
  phaseSource: 'phases' | 'metrics' | null;
  /** time/iteration_s when logged, else the sum of the phases. */
  wallSeconds: number | null;
}

export type AccountingTotals = Omit<AccountingRow, 'iteration' | 'phaseSource'>;

export interface AccountingTable {
  rows: AccountingRow[];
  /**
   * Sums over the rows (trainSet too: the training examples of every iteration added up);
   * kept fraction weighted by attempted; running token totals and buffer: the last value.
   */
  totals: AccountingTotals;
  /** Iterations where a cumulative compute/* counter dropped and was counted as restarted from zero. */
  counterRestarts: number[];
  /** The phases with a duration at some iteration, in the catalogue's phase order then by name. */
  phases: string[];
}

/** The value logged last at each iteration (highest step, then latest time), like metrics.perIteration. */
function lastPerIteration(points: MetricPoint[] | undefined): Map<number, number> {
  const best = new Map<number, MetricPoint>();
  for (const p of points ?? []) {
    if (!Number.isFinite(p.value)) continue;
    const b = best.get(p.iteration);
    if (!b || p.step > b.step || (p.step === b.step && p.t >= b.t)) best.set(p.iteration, p);
  }
  return new Map([...best].map(([i, p]) => [i, p.value]));
}

const TIME_RE = /^time\/(.+)_s$/;

/** Finished phase durations per iteration; a phase run twice (a resumed iteration) counts its latest run. */
function phaseDurations(phases: readonly PhaseRecord[]): Map<number, Map<string, number>> {
  const latest = new Map<string, PhaseRecord>();
  for (const p of phases) {
    if (p.durationS === null || !Number.isFinite(p.durationS)) continue;
    const key = `${p.iteration}\u0000${p.phase}`;
    const prev = latest.get(key);
    if (!prev || p.startedAt >= prev.startedAt) latest.set(key, p);
  }
  const out = new Map<number, Map<string, number>>();
  for (const p of latest.values()) {
    let m = out.get(p.iteration);
    if (!m) out.set(p.iteration, (m = new Map()));
    m.set(p.phase, p.durationS!);
  }
  return out;
}

function sum(values: (number | null)[]): number | null {
  let s: number | null = null;
  for (const v of values) if (v !== null) s = (s ?? 0) + v;
  return s;
}

function lastNonNull(values: (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i]!;
  return null;
}

/**
 * Per-iteration counts from a cumulative counter read once per iteration: the change since the
 * previous reading, or the reading itself where it dropped (the counter restarted from zero).
 * `total` adds the counts up, so it keeps growing across a restart.
 */
export class CounterDeltas {
  private prev: number | null = null;
  private sum = 0;

  next(value: number | null): { delta: number; total: number; restarted: boolean } | null {
    if (value === null) return null;
    const restarted = this.prev !== null && value < this.prev;
    const delta = this.prev === null || restarted ? value : value - this.prev;
    this.prev = value;
    this.sum += delta;
    return { delta, total: this.sum, restarted };
  }
}

/**
 * The accounting table of a run: one row per iteration that logged any accounting metric or
 * finished any phase, ascending, and a totals row.
 *
 * Wall time per phase comes from the run's phase records (finished phases only) where the
 * iteration has any; otherwise from the time/<phase>_s metrics (a run whose phase records are
 * missing). Token counts per iteration are the change of the cumulative compute/* counters
 * since the previous iteration that logged them (the first one counts from zero); a counter
 * lower than before was restarted (a process that resumed without its counters), so the
 * iteration counts its new value rather than a negative change.
 */
export function buildAccounting(run: Pick<RunDetail, 'metrics' | 'phases'>): AccountingTable {
  const m = run.metrics;
  const get = (name: string): Map<number, number> => lastPerIteration(m[name]);
  const series = {
    attempted: get('train/attempted'),
    samples: get('train/samples'),
    solvedDirect: get('train/solved_direct'),
    rationalizeAttempted: get('train/rationalize_attempted'),
    rationalized: get('train/rationalized'),
    hintCopied: get('train/rationalized_hint_copied'),
    kept: get('train/kept'),
    keptFraction: get('train/kept_fraction'),
    trainSet: get('train/train_set'),
    steps: get('train/steps'),
    warmupExamples: get('warmup/examples'),
    verifierPairs: get('verifier/pairs'),
    verifierBuffer: get('verifier/buffer'),
  };
  const generated = get('compute/tokens_generated');
  const trained = get('compute/tokens_trained');
  const iterationS = get('time/iteration_s');
  const timeMetrics = new Map<string, Map<number, number>>();
  for (const name of Object.keys(m)) {
    const t = TIME_RE.exec(name);
    if (t && t[1] !== 'iteration') timeMetrics.set(t[1]!, get(name));
  }
  const recorded = phaseDurations(run.phases);

  const iterations = new Set<number>(recorded.keys());
  for (const s of [...Object.values(series), generated, trained, iterationS, ...timeMetrics.values()])
    for (const i of s.keys()) iterations.add(i);
  const sorted = [...iterations].sort((a, b) => a - b);

  const phaseNames = new Set<string>();
  const genCounter = new CounterDeltas();
  const trainedCounter = new CounterDeltas();
  const restarts = new Set<number>();
  const rows: AccountingRow[] = sorted.map((iteration) => {
    const at = (s: Map<number, number>): number | null => s.get(iteration) ?? null;
    let phaseSeconds: Record<string, number> = {};
    let phaseSource: AccountingRow['phaseSource'] = null;
    const rec = recorded.get(iteration);
    if (rec?.size) {
      phaseSeconds = Object.fromEntries(rec);
      phaseSource = 'phases';
    } else {
      for (const [phase, s] of timeMetrics) {
        const v = s.get(iteration);
        if (v !== undefined) phaseSeconds[phase] = v;
      }
      if (Object.keys(phaseSeconds).length) phaseSource = 'metrics';
    }
    for (const k of Object.keys(phaseSeconds)) phaseNames.add(k);
    const gen = genCounter.next(at(generated));
    const tr = trainedCounter.next(at(trained));
    if (gen?.restarted || tr?.restarted) restarts.add(iteration);
    const row: AccountingRow = {
      iteration,
      attempted: at(series.attempted),
      samples: at(series.samples),
      solvedDirect: at(series.solvedDirect),
      rationalizeAttempted: at(series.rationalizeAttempted),
      rationalized: at(series.rationalized),
      hintCopied: at(series.hintCopied),
      kept: at(series.kept),
      keptFraction: at(series.keptFraction),
      trainSet: at(series.trainSet),
      steps: at(series.steps),
      warmupExamples: at(series.warmupExamples),
      tokensGenerated: gen?.delta ?? null,
      tokensTrained: tr?.delta ?? null,
      tokensGeneratedTotal: gen?.total ?? null,
      tokensTrainedTotal: tr?.total ?? null,
      verifierPairs: at(series.verifierPairs),
      verifierBuffer: at(series.verifierBuffer),
      phaseSeconds,
      phaseSource,
      wallSeconds: at(iterationS) ?? sum(Object.values(phaseSeconds)),
    };
    return row;
  });

  const phases = sortPhases(phaseNames);
  const col = <K extends keyof AccountingRow>(k: K): AccountingRow[K][] => rows.map((r) => r[k]);
  // Kept fraction over the run: questions used over questions attempted, summed over iterations.
  let used = 0;
  let tried = 0;
  for (const r of rows)
    if (r.keptFraction !== null && r.attempted !== null) {
      used += r.keptFraction * r.attempted;
      tried += r.attempted;
    }
  const phaseTotals: Record<string, number> = {};
  for (const p of phases) phaseTotals[p] = sum(rows.map((r) => r.phaseSeconds[p] ?? null)) ?? 0;
  const totals: AccountingTotals = {
    attempted: sum(col('attempted')),
    samples: sum(col('samples')),
    solvedDirect: sum(col('solvedDirect')),
    rationalizeAttempted: sum(col('rationalizeAttempted')),
    rationalized: sum(col('rationalized')),
    hintCopied: sum(col('hintCopied')),
    kept: sum(col('kept')),
    keptFraction: tried > 0 ? used / tried : null,
    trainSet: sum(col('trainSet')),
    steps: sum(col('steps')),
    warmupExamples: sum(col('warmupExamples')),
    tokensGenerated: sum(col('tokensGenerated')),
    tokensTrained: sum(col('tokensTrained')),
    tokensGeneratedTotal: lastNonNull(col('tokensGeneratedTotal')),
    tokensTrainedTotal: lastNonNull(col('tokensTrainedTotal')),
    verifierPairs: sum(col('verifierPairs')),
    verifierBuffer: lastNonNull(col('verifierBuffer')),
    phaseSeconds: phaseTotals,
    wallSeconds: sum(col('wallSeconds')),
  };
  return { rows, totals, phases, counterRestarts: [...restarts] };
}

/** Rows for a stacked bar chart of wall time: { iteration, <phase>: seconds, … } (0 where a phase is missing). */
export function phaseChartData(table: AccountingTable): Record<string, number>[] {
  return table.rows
    .filter((r) => r.phaseSource !== null)
    .map((r) => {
      const d: Record<string, number> = { iteration: r.iteration };
      for (const p of table.phases) d[p] = r.phaseSeconds[p] ?? 0;
      return d;
    });
}
