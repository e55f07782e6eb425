import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { MetricPoint, PhaseRecord, RunDetail } from '../../shared/contract';
import { ACCOUNTING_METRICS, CounterDeltas, buildAccounting, isStarFamily, phaseChartData } from '../../renderer/src/accounting';
import { runSummary } from '../fixtures/helpers';

/** A run with the given metrics ({name: [[iteration, step, value], …]}) and phases. */
function makeRun(variant: string, metrics: Record<string, [number, number, number][]>, phases: PhaseRecord[] = []): RunDetail {
  const m: Record<string, MetricPoint[]> = {};
  for (const [name, pts] of Object.entries(metrics))
    m[name] = pts.map(([iteration, step, value], i) => ({ iteration, step, value, t: 1000 + i }));
  return {
    ...runSummary({ variant }),
    groupName: null,
    config: {},
    configHash: '',
    env: null,
    hashes: {},
    runDir: '/tmp/r1',
    pid: null,
    executor: 'local',
    jobId: null,
    exitCode: 0,
    signal: null,
    stderrTail: null,
    lastEventAt: null,
    metrics: m,
    metricsDownsampled: false,
    metricCounts: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.length])),
    metricNamesOmitted: 0,
    phases,
    artifacts: [],
    checkpointIteration: null,
  };
}

function phase(iteration: number, name: string, startedAt: number, durationS: number | null): PhaseRecord {
  return { iteration, phase: name, startedAt, endedAt: durationS === null ? null : startedAt + durationS, durationS };
}

// Iteration 0: warm-up + evaluation; 1: a full iteration with phase records (sample ran twice:
// resumed); 2: only an open phase record, so its phase times come from the time/*_s metrics.
const star = makeRun(
  'star',
  {
    'time/warmup_s': [[0, 20, 5]],
    'warmup/examples': [[0, 20, 40]],
    'train/steps': [
      [0, 20, 20],
      [1, 60, 40],
      [2, 105, 45],
    ],
    'compute/tokens_generated': [
      [0, 20, 1000],
      [1, 60, 5000],
      [2, 105, 9000],
    ],
    'compute/tokens_trained': [
      [0, 20, 3000],
      [1, 60, 8000],
      [2, 105, 15000],
    ],
    'time/evaluate_s': [
      [0, 20, 2],
      [1, 60, 3],
      [2, 105, 3],
    ],
    'train/attempted': [
      [1, 60, 100],
      [2, 105, 100],
    ],
    'train/samples': [
      [1, 60, 100],
      [2, 105, 100],
    ],
    'train/solved_direct': [
      [1, 60, 30],
      [2, 105, 50],
    ],
    'train/rationalize_attempted': [
      [1, 60, 70],
      [2, 105, 50],
    ],
    'train/rationalized': [
      [1, 60, 20],
      [2, 105, 10],
    ],
    'train/rationalized_hint_copied': [
      [1, 60, 2],
      [2, 105, 1],
    ],
    'train/kept': [
      [1, 60, 50],
      [2, 105, 60],
    ],
    // iteration 2 logged twice (a resumed run repeating it): the higher step counts
    'train/kept_fraction': [
      [1, 60, 0.5],
      [2, 80, 0.9],
      [2, 105, 0.6],
    ],
    'train/train_set': [
      [1, 60, 50],
      [2, 105, 60],
    ],
    'time/sample_s': [
      [1, 60, 10],
      [2, 105, 11],
    ],
    'time/rationalize_s': [
      [1, 60, 4],
      [2, 105, 5],
    ],
    'time/train_s': [
      [1, 60, 20],
      [2, 105, 21],
    ],
    'time/iteration_s': [
      [1, 60, 38],
      [2, 105, 40],
    ],
    'eval/accuracy': [
      [0, 20, 0.1],
      [1, 60, 0.2],
      [2, 105, 0.3],
    ],
  },
  [
    phase(0, 'warmup', 100, 5.5),
    phase(0, 'evaluate', 106, 2.5),
    phase(1, 'sample', 110, 7),
    phase(1, 'sample', 120, 10.25),
    phase(1, 'rationalize', 131, 4.25),
    phase(1, 'train', 136, 19.5),
    phase(1, 'evaluate', 156, 3),
    phase(2, 'sample', 160, null),
  ],
);

describe('buildAccounting', () => {
  const t = buildAccounting(star);

  it('makes one row per iteration with the logged counts (last value per iteration)', () => {
    expect(t.rows.map((r) => r.iteration)).toEqual([0, 1, 2]);
    const [r0, r1, r2] = t.rows;
    expect(r0).toMatchObject({ attempted: null, kept: null, steps: 20, warmupExamples: 40, keptFraction: null });
    expect(r1).toMatchObject({
      attempted: 100,
      samples: 100,
      solvedDirect: 30,
      rationalizeAttempted: 70,
      rationalized: 20,
      hintCopied: 2,
      kept: 50,
      keptFraction: 0.5,
      trainSet: 50,
      steps: 40,
    });
    expect(r2).toMatchObject({ solvedDirect: 50, rationalized: 10, kept: 60, keptFraction: 0.6 });
  });

  it('turns the cumulative token counters into per-iteration deltas and keeps the running totals', () => {
    expect(t.rows.map((r) => [r.tokensGenerated, r.tokensTrained])).toEqual([
      [1000, 3000],
      [4000, 5000],
      [4000, 7000],
    ]);
    expect(t.rows.map((r) => [r.tokensGeneratedTotal, r.tokensTrainedTotal])).toEqual([
      [1000, 3000],
      [5000, 8000],
      [9000, 15000],
    ]);
  });

  it('records no counter restart for counters that only grow', () => {
    expect(t.counterRestarts).toEqual([]);
  });

  it('counts a dropped cumulative counter as restarted from zero, not as a negative delta', () => {
    // tokens_generated: 1000, 5000, then a restart that lost the counter: 1500, 4000.
    // tokens_trained keeps growing; iteration 2 skips it (no reading, no delta).
    const r = buildAccounting(
      makeRun('star', {
        'compute/tokens_generated': [
          [0, 1, 1000],
          [1, 2, 5000],
          [2, 3, 1500],
          [3, 4, 4000],
        ],
        'compute/tokens_trained': [
          [0, 1, 300],
          [1, 2, 800],
          [3, 4, 900],
        ],
      }),
    );
    expect(r.rows.map((x) => x.tokensGenerated)).toEqual([1000, 4000, 1500, 2500]);
    expect(r.rows.map((x) => x.tokensGeneratedTotal)).toEqual([1000, 5000, 6500, 9000]);
    expect(r.rows.map((x) => x.tokensTrained)).toEqual([300, 500, null, 100]);
    expect(r.rows.map((x) => x.tokensTrainedTotal)).toEqual([300, 800, null, 900]);
    expect(r.counterRestarts).toEqual([2]);
    expect(r.totals).toMatchObject({ tokensGenerated: 9000, tokensGeneratedTotal: 9000, tokensTrained: 900, tokensTrainedTotal: 900 });
    for (const x of r.rows) if (x.tokensGenerated !== null) expect(x.tokensGenerated).toBeGreaterThanOrEqual(0);
  });

  it('marks the iteration where the trained counter alone dropped', () => {
    const r = buildAccounting(
      makeRun('star', {
        'compute/tokens_trained': [
          [1, 1, 800],
          [2, 2, 200],
        ],
      }),
    );
    expect(r.rows.map((x) => x.tokensTrained)).toEqual([800, 200]);
    expect(r.counterRestarts).toEqual([2]);
  });

  it('takes phase times from finished phase records (latest run of a phase), else from time/*_s', () => {
    const [r0, r1, r2] = t.rows;
    expect(r0!.phaseSource).toBe('phases');
    expect(r0!.phaseSeconds).toEqual({ warmup: 5.5, evaluate: 2.5 });
    expect(r1!.phaseSource).toBe('phases');
    expect(r1!.phaseSeconds).toEqual({ sample: 10.25, rationalize: 4.25, train: 19.5, evaluate: 3 });
    expect(r2!.phaseSource).toBe('metrics');
    expect(r2!.phaseSeconds).toEqual({ sample: 11, rationalize: 5, train: 21, evaluate: 3 });
    expect(t.phases).toEqual(['warmup', 'sample', 'rationalize', 'train', 'evaluate']);
  });

  it('uses time/iteration_s for the wall time, else the sum of the phases', () => {
    expect(t.rows.map((r) => r.wallSeconds)).toEqual([8, 38, 40]);
  });

  it('sums the totals (training sets added up over iterations), weights the kept fraction by attempted and keeps the last running totals', () => {
    expect(t.totals).toMatchObject({
      attempted: 200,
      solvedDirect: 80,
      rationalized: 30,
      hintCopied: 3,
      kept: 110,
      trainSet: 110,
      steps: 105,
      warmupExamples: 40,
      tokensGenerated: 9000,
      tokensTrained: 15000,
      tokensGeneratedTotal: 9000,
      tokensTrainedTotal: 15000,
      verifierPairs: null,
      wallSeconds: 86,
    });
    expect(t.totals.keptFraction).toBeCloseTo(0.55, 12);
    expect(t.totals.phaseSeconds).toEqual({ warmup: 5.5, sample: 21.25, rationalize: 9.25, train: 40.5, evaluate: 8.5 });
  });

  it("orders V-STaR's verify phase after evaluation and sums pairs but keeps the buffer's last size", () => {
    const v = buildAccounting(
      makeRun(
        'v-star',
        {
          'verifier/pairs': [
            [1, 10, 12],
            [2, 20, 30],
          ],
          'verifier/buffer': [
            [1, 10, 64],
            [2, 20, 128],
          ],
          'time/verify_s': [
            [1, 10, 7],
            [2, 20, 9],
          ],
          'time/sample_s': [
            [1, 10, 1],
            [2, 20, 2],
          ],
          'time/rationalize_s': [
            [1, 10, 0],
            [2, 20, 0],
          ],
        },
        [phase(2, 'verify', 50, 8.5), phase(2, 'custom', 40, 1), phase(2, 'evaluate', 45, 2), phase(2, 'sample', 30, 2)],
      ),
    );
    expect(v.phases).toEqual(['sample', 'rationalize', 'evaluate', 'verify', 'custom']);
    expect(v.rows[0]!.phaseSeconds).toEqual({ verify: 7, sample: 1, rationalize: 0 });
    expect(v.rows[1]!.phaseSeconds).toEqual({ verify: 8.5, custom: 1, evaluate: 2, sample: 2 });
    expect(v.totals.verifierPairs).toBe(42);
    expect(v.totals.verifierBuffer).toBe(128);
    expect(v.totals.phaseSeconds).toEqual({ sample: 3, rationalize: 0, evaluate: 2, verify: 15.5, custom: 1 });
  });

  it('returns no rows and empty totals for a run without accounting', () => {
    const e = buildAccounting(makeRun('star', { 'eval/accuracy': [[0, 0, 0.5]] }));
    expect(e.rows).toEqual([]);
    expect(e.phases).toEqual([]);
    expect(e.totals.attempted).toBeNull();
    expect(e.totals.keptFraction).toBeNull();
    expect(e.totals.wallSeconds).toBeNull();
  });
});

describe('CounterDeltas', () => {
  it('gives the change since the last reading, the reading itself after a drop, and a growing total', () => {
    const c = new CounterDeltas();
    expect(c.next(null)).toBeNull();
    expect(c.next(10)).toEqual({ delta: 10, total: 10, restarted: false });
    expect(c.next(10)).toEqual({ delta: 0, total: 10, restarted: false });
    expect(c.next(25)).toEqual({ delta: 15, total: 25, restarted: false });
    expect(c.next(null)).toBeNull();
    expect(c.next(4)).toEqual({ delta: 4, total: 29, restarted: true });
    expect(c.next(0)).toEqual({ delta: 0, total: 29, restarted: true });
    expect(c.next(7)).toEqual({ delta: 7, total: 36, restarted: false });
  });
});

describe('phaseChartData', () => {
  it('gives one record per iteration with a time for every phase (0 where missing)', () => {
    expect(phaseChartData(buildAccounting(star))).toEqual([
      { iteration: 0, warmup: 5.5, sample: 0, rationalize: 0, train: 0, evaluate: 2.5 },
      { iteration: 1, warmup: 0, sample: 10.25, rationalize: 4.25, train: 19.5, evaluate: 3 },
      { iteration: 2, warmup: 0, sample: 11, rationalize: 5, train: 21, evaluate: 3 },
    ]);
  });
});

describe('isStarFamily', () => {
  it('accepts the STaR variants and any run that logged train/attempted', () => {
    expect(isStarFamily(makeRun('star', {}))).toBe(true);
    expect(isStarFamily(makeRun('star-norat', {}))).toBe(true);
    expect(isStarFamily(makeRun('v-star', {}))).toBe(true);
    expect(isStarFamily(makeRun('quiet-star', { 'quiet/loss': [[0, 1, 1]] }))).toBe(false);
    expect(isStarFamily(makeRun('custom', { 'train/attempted': [[1, 1, 3]] }))).toBe(true);
  });
});

describe('ACCOUNTING_METRICS', () => {
  it('names only metrics the STaR-family experiments log, each once', () => {
    // star.py and vstar.py, and the runner they share with Quiet-STaR (its compute counters) where the code has one
    const dir = resolve(__dirname, '../../experiments/starlab/variants');
    const src = ['star.py', 'vstar.py', 'runner.py']
      .filter((f, i) => i < 2 || existsSync(resolve(dir, f)))
      .map((f) => readFileSync(resolve(dir, f), 'utf8'))
      .join('\n');
    const names = ACCOUNTING_METRICS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(src, n).toContain(`"${n}"`);
    expect(names).toEqual(
      expect.arrayContaining([
        'train/attempted',
        'train/solved_direct',
        'train/rationalized',
        'train/kept',
        'train/kept_fraction',
        'compute/tokens_generated',
        'compute/tokens_trained',
      ]),
    );
  });
});
