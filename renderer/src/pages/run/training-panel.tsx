/** The Training panel: small multiples of a run's training metrics in groups, a table of the rest. */
import { type ReactElement } from 'react';
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

function SmallMultiple({ run, m, color, forceStep }: { run: RunDetail; m: MetricSpec; color: string; forceStep?: boolean }): ReactElement {
  const pts = run.metrics[m.name];
  const byStep = forceStep || hasSeveralPerIteration(pts);
  return (
    <div className="small-chart">
      <div className="small-chart-title">
        <code>{m.name}</code>
        <span className="mono">{formatNumber(pts?.[pts.length - 1]?.value)}</span>
      </div>
      <LineChartPanel
        testId={`metric-chart-${m.name}`}
        series={[{ key: m.name, name: m.label, color, points: byStep ? perStep(pts) : perIteration(pts) }]}
        height={130}
        xLabel={byStep ? 'step' : isQuiet(run) ? 'evaluation' : 'iteration'}
        integerX
      />
    </div>
  );
}

export function TrainMetrics({ run }: { run: RunDetail }): ReactElement {
  const groups = metricGroups(run)
    .map((g) => ({ ...g, present: g.metrics.filter((m) => run.metrics[m.name]?.length) }))
    .filter((g) => g.present.length);
  const others = Object.keys(run.metrics)
    .filter((n) => n !== 'eval/accuracy' && !isDifficultyMetric(n) && !GROUPED.has(n) && !isVstarCurveMetric(n))
    .sort();
  if (!groups.length && !others.length) return <div className="muted">No training metrics yet.</div>;
  const cut = Object.keys(run.metrics).filter((n) => (run.metricCounts?.[n] ?? 0) > run.metrics[n]!.length).length;
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
      {groups.map((g) => (
        <div key={g.id} className="metric-group" data-testid={`metric-group-${g.id}`}>
          {g.title ? <h3 className="metric-group-title">{g.title}</h3> : null}
          <div className="small-multiples">
            {g.present.map((m, i) => (
              <SmallMultiple key={m.name} run={run} m={m} color={PALETTE[i % PALETTE.length]!} forceStep={g.byStep} />
            ))}
          </div>
        </div>
      ))}
      {others.length ? (
        <table className="table compact fit" data-testid="other-metrics">
          <thead>
            <tr>
              <th>metric</th>
              <th className="num">points</th>
              <th className="num">iteration</th>
              <th className="num">latest</th>
            </tr>
          </thead>
          <tbody>
            {others.map((n) => {
              const pts = run.metrics[n]!;
              const lastP = pts[pts.length - 1];
              return (
                <tr key={n}>
                  <td className="mono">{n}</td>
                  <td className="num">{run.metricCounts?.[n] ?? pts.length}</td>
                  <td className="num">{lastP?.iteration ?? '—'}</td>
                  <td className="num mono">{formatNumber(lastP?.value)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </>
  );
}
