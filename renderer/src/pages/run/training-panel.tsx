/**
 * The Training panel: a chart for every metric, in groups (the variants' named groups, then the
 * rest by prefix), with axes that end on readable ticks; the raw latest values fold away below.
 */
import { useMemo, type ReactElement } from 'react';
import { niceDomain, niceTicks } from '../../../../shared/ticks';
import type { RunDetail } from '../../../../shared/contract';
import { formatNumber } from '../../format';
import { hasSeveralPerIteration, isDifficultyMetric, perIteration, perStep } from '../../metrics';
import { LineChartPanel, PALETTE } from '../../components/charts';
import { isVstarCurveMetric } from '../../vstar';
import { metricLabel } from '../../../../shared/catalogue';
import { isQuiet, legacyQuietEval } from './common';

interface MetricSpec {
  name: string;
  label: string;
  pct?: boolean;
}

/** Metrics with their labels from experiments/starlab/catalogue.json. */
function specs(names: string[]): MetricSpec[] {
  return names.map((name) => ({ name, label: metricLabel(name) ?? name }));
}

const TRAIN_METRICS: MetricSpec[] = specs(['train/kept', 'train/rationalized', 'train/solved_direct', 'train/loss']);

/** V-STaR's verifier training (DPO) and its ORM baseline; step = cumulative verifier (ORM) steps. */
const VERIFIER_METRICS: MetricSpec[] = specs(['verifier/loss', 'verifier/pair_accuracy', 'verifier/reward_margin', 'orm/loss']);

/** Quiet-STaR's per-step training signals. */
const QUIET_METRICS: MetricSpec[] = specs([
  'quiet/base_loss',
  'quiet/mixed_loss',
  'quiet/policy_loss',
  'quiet/reward_mean',
  'quiet/reward_std',
  'quiet/mix_weight_mean',
  'quiet/mix_weight_std',
]);

/**
 * Quiet-STaR's evaluation besides the headline eval/accuracy (the paper's teacher-forced gold-answer
 * accuracy with thoughts): the same without thoughts, the gold answer's log-probability, and greedy
 * decoding's exact match. Runs logged before the teacher-forced metric (no eval/exact_match) used
 * eval/accuracy and eval/base_accuracy for greedy exact match: see quietEvalMetrics.
 */
const QUIET_EVAL_METRICS: MetricSpec[] = specs([
  'eval/base_accuracy',
  'eval/answer_logprob',
  'eval/base_answer_logprob',
  'eval/exact_match',
  'eval/base_exact_match',
]);

/** Small-multiples groups of the Training panel; a group shows when any of its metrics has points. */
const METRIC_GROUPS: { id: string; title: string | null; metrics: MetricSpec[]; byStep?: boolean }[] = [
  { id: 'training', title: null, metrics: TRAIN_METRICS },
  { id: 'verifier', title: 'Verifier', metrics: VERIFIER_METRICS, byStep: true },
  { id: 'quiet', title: 'Quiet-STaR', metrics: QUIET_METRICS, byStep: true },
  { id: 'quiet-eval', title: 'Quiet-STaR evaluation', metrics: QUIET_EVAL_METRICS },
];

const GROUPED = new Set(METRIC_GROUPS.flatMap((g) => g.metrics.map((m) => m.name)));

/** The groups with labels that say what this run's metrics are (legacy Quiet-STaR runs: exact match). */
function metricGroups(run: RunDetail): typeof METRIC_GROUPS {
  if (!legacyQuietEval(run)) return METRIC_GROUPS;
  return METRIC_GROUPS.map((g) =>
    g.id !== 'quiet-eval'
      ? g
      : {
          ...g,
          metrics: g.metrics.map((m) =>
            m.name === 'eval/base_accuracy' ? { ...m, label: 'greedy exact match, no thoughts (older run)' } : m,
          ),
        },
  );
}

/** How many charts the "other metrics" groups draw at most; the rest are in the table. */
const MAX_OTHER_CHARTS = 48;

/** A metric's chart: by step where an iteration has several points, else by iteration; both axes end on nice ticks. */
function SmallMultiple({ run, m, color, forceStep }: { run: RunDetail; m: MetricSpec; color: string; forceStep?: boolean }): ReactElement {
  const pts = run.metrics[m.name];
  const byStep = forceStep || hasSeveralPerIteration(pts);
  const xy = useMemo(() => (byStep ? perStep(pts) : perIteration(pts)), [pts, byStep]);
  const axes = useMemo(() => {
    let x0 = Infinity;
    let x1 = -Infinity;
    let y0 = Infinity;
    let y1 = -Infinity;
    for (const p of xy) {
      x0 = Math.min(x0, p.x);
      x1 = Math.max(x1, p.x);
      y0 = Math.min(y0, p.y);
      y1 = Math.max(y1, p.y);
    }
    if (!xy.length) return null;
    const x = niceTicks('count', x0, x1, 4);
    return { x, xDomain: [x0, x1] as [number, number], y: niceDomain('value', y0, y1, 4) };
  }, [xy]);
  return (
    <div className="small-chart">
      <div className="small-chart-title">
        <code title={m.label}>{m.name}</code>
        <span className="mono">{formatNumber(pts?.[pts.length - 1]?.value)}</span>
      </div>
      <LineChartPanel
        testId={`metric-chart-${m.name}`}
        title={`${m.label} (${m.name})`}
        series={[{ key: m.name, name: m.label, color, points: xy }]}
        height={150}
        xLabel={byStep ? 'step' : isQuiet(run) ? 'evaluation' : 'iteration'}
        integerX
        zoomKind="count"
        {...(axes
          ? {
              xTicks: axes.x.ticks,
              xFormat: axes.x.format,
              xDomain: axes.xDomain,
              yTicks: axes.y.ticks,
              yDomain: axes.y.domain,
              yFormat: axes.y.format,
            }
          : {})}
      />
    </div>
  );
}

/** The metrics no named group holds, grouped by the prefix before their first "/" (train/…, time/…), unprefixed ones first. */
function otherGroups(names: string[]): { id: string; title: string; metrics: MetricSpec[] }[] {
  const byPrefix = new Map<string, string[]>();
  for (const n of names) {
    const i = n.indexOf('/');
    const prefix = i > 0 ? n.slice(0, i) : '';
    byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), n]);
  }
  return [...byPrefix.entries()]
    .sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)))
    .map(([prefix, ns]) => ({ id: `other-${prefix || 'metrics'}`, title: prefix || 'Metrics', metrics: specs(ns) }));
}

export function TrainMetrics({ run }: { run: RunDetail }): ReactElement {
  const groups = metricGroups(run)
    .map((g) => ({ ...g, present: g.metrics.filter((m) => run.metrics[m.name]?.length) }))
    .filter((g) => g.present.length);
  const all = Object.keys(run.metrics).sort();
  const others = all.filter((n) => n !== 'eval/accuracy' && !isDifficultyMetric(n) && !GROUPED.has(n) && !isVstarCurveMetric(n));
  const charted = others.slice(0, MAX_OTHER_CHARTS);
  if (!groups.length && !others.length) return <div className="muted">No training metrics yet.</div>;
  const cut = Object.keys(run.metrics).filter((n) => (run.metricCounts?.[n] ?? 0) > run.metrics[n]!.length).length;
  const shown = [
    ...groups.map((g) => ({ id: g.id, title: g.title, metrics: g.present, byStep: g.byStep })),
    ...otherGroups(charted).map((g) => ({ ...g, byStep: false })),
  ];
  return (
    <>
      {run.metricsDownsampled ? (
        <div className="muted small" data-testid="metrics-downsampled">
          {cut
            ? `${cut} metric${cut === 1 ? ' is' : 's are'} drawn from a subset of their points (each stretch's first, last, lowest and highest). `
            : ''}
          {run.metricNamesOmitted ? `${formatNumber(run.metricNamesOmitted)} more metric names are not shown. ` : ''}
          <code>starlab show --json</code> prints every point.
        </div>
      ) : null}
      {shown.map((g) => {
        const charts = (
          <div className="small-multiples">
            {g.metrics.map((m, i) => (
              <SmallMultiple key={m.name} run={run} m={m} color={PALETTE[i % PALETTE.length]!} forceStep={g.byStep} />
            ))}
          </div>
        );
        // the variants' own groups open; the rest (compute, time, … by prefix) fold, one click away,
        // unless they are all the run has (a script's run)
        return g.id.startsWith('other-') && groups.length ? (
          <details key={g.id} className="metric-group" data-testid={`metric-group-${g.id}`}>
            <summary className="metric-group-title">
              {g.title} <span className="muted small">({g.metrics.length})</span>
            </summary>
            {charts}
          </details>
        ) : (
          <div key={g.id} className="metric-group" data-testid={`metric-group-${g.id}`}>
            {g.title ? <h3 className="metric-group-title">{g.title}</h3> : null}
            {charts}
          </div>
        );
      })}
      {others.length > charted.length ? (
        <div className="muted small">{others.length - charted.length} more metrics: in the table below.</div>
      ) : null}
      <details className="metric-table" data-testid="metric-table">
        <summary>Every metric, latest values ({all.length})</summary>
        <table className="table compact fit" data-testid="other-metrics">
          <thead>
            <tr>
              <th>metric</th>
              <th className="num">points</th>
              <th className="num">iteration</th>
              <th className="num">step</th>
              <th className="num">latest</th>
            </tr>
          </thead>
          <tbody>
            {all.map((n) => {
              const pts = run.metrics[n]!;
              const lastP = pts[pts.length - 1];
              return (
                <tr key={n}>
                  <td className="mono">{n}</td>
                  <td className="num">{run.metricCounts?.[n] ?? pts.length}</td>
                  <td className="num">{lastP?.iteration ?? '—'}</td>
                  <td className="num">{lastP?.step ?? '—'}</td>
                  <td className="num mono">{formatNumber(lastP?.value)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </details>
    </>
  );
}
