import { Fragment, useMemo, useState, type ReactElement, type ReactNode } from 'react';
import type { PhaseRecord, RunDetail } from '../../../shared/contract';
import { call } from '../transport';
import { useInterval, useLive, useNow, useRunAction, useRunsChanged } from '../hooks';
import { formatBytes, formatDuration, formatNumber, formatPct, formatTime, runDurationMs, toMs } from '../format';
import { difficultyMetrics, hasSeveralPerIteration, isDifficultyMetric, perIteration, perStep } from '../metrics';
import { ErrorNote, Panel, ProgressBar, StatusBadge } from '../components/common';
import { LineChartPanel, PALETTE, type Series } from '../components/charts';
import { LogView } from '../components/LogView';
import { SamplesView } from '../components/SamplesView';
import { BestOfKPanel } from '../components/BestOfKPanel';
import { AccountingPanel } from '../components/AccountingPanel';
import { VerifierPanel } from '../components/VerifierPanel';
import { ThoughtsPanel } from '../components/ThoughtsPanel';
import { EventIssuesNote } from '../components/EventIssuesNote';
import { isVstarCurveMetric } from '../vstar';
import { metricLabel, sortPhases } from '../../../shared/catalogue';

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
const QUIET_EVAL_METRICS: MetricSpec[] = specs(['eval/base_accuracy', 'eval/answer_logprob', 'eval/base_answer_logprob', 'eval/exact_match', 'eval/base_exact_match']);

/** Small-multiples groups of the Training panel; a group shows when any of its metrics has points. */
const METRIC_GROUPS: { id: string; title: string | null; metrics: MetricSpec[]; byStep?: boolean }[] = [
  { id: 'training', title: null, metrics: TRAIN_METRICS },
  { id: 'verifier', title: 'Verifier', metrics: VERIFIER_METRICS, byStep: true },
  { id: 'quiet', title: 'Quiet-STaR', metrics: QUIET_METRICS, byStep: true },
  { id: 'quiet-eval', title: 'Quiet-STaR evaluation', metrics: QUIET_EVAL_METRICS },
];

const GROUPED = new Set(METRIC_GROUPS.flatMap((g) => g.metrics.map((m) => m.name)));

/** A Quiet-STaR run logged before the teacher-forced metric: its eval/accuracy is greedy exact match. */
function legacyQuietEval(run: RunDetail): boolean {
  return run.variant === 'quiet-star' && !!run.metrics['eval/accuracy']?.length && !run.metrics['eval/exact_match']?.length;
}

/** The groups with labels that say what this run's metrics are (legacy Quiet-STaR runs: exact match). */
function metricGroups(run: RunDetail): typeof METRIC_GROUPS {
  if (!legacyQuietEval(run)) return METRIC_GROUPS;
  return METRIC_GROUPS.map((g) =>
    g.id !== 'quiet-eval' ? g : { ...g, metrics: g.metrics.map((m) => (m.name === 'eval/base_accuracy' ? { ...m, label: 'greedy exact match, no thoughts (older run)' } : m)) },
  );
}

/** Evaluations the run will make after iteration 0 (Quiet-STaR: one every eval_every steps). */
function totalIterations(run: RunDetail): number | null {
  const cfg = run.config as { loop?: { iterations?: unknown }; quiet?: { steps?: unknown; eval_every?: unknown } };
  if (typeof cfg.loop?.iterations === 'number') return cfg.loop.iterations;
  const q = cfg.quiet;
  if (typeof q?.steps === 'number' && typeof q.eval_every === 'number' && q.eval_every > 0)
    return Math.ceil(q.steps / q.eval_every);
  return null;
}

function Meta({ label, children, testId }: { label: string; children: ReactNode; testId?: string }): ReactElement {
  return (
    <div className="meta-item">
      <div className="meta-label">{label}</div>
      <div className="meta-value" data-testid={testId}>
        {children}
      </div>
    </div>
  );
}

function StopButton({ run, onDone }: { run: RunDetail; onDone: () => void }): ReactElement | null {
  const { pending, message, run: stop } = useRunAction(() => call('stopRun', run.id), onDone);
  if (run.status !== 'running' && run.status !== 'queued') return null;
  return (
    <span className="stop">
      <button type="button" className="danger" data-testid="stop-button" disabled={pending} onClick={stop}>
        {pending ? 'Stopping…' : 'Stop'}
      </button>
      {message ? <span className="field-error">{message}</span> : null}
    </span>
  );
}

/** Continue a failed or stopped run after its last checkpointed iteration (same run id). */
function ResumeButton({ run, onDone }: { run: RunDetail; onDone: () => void }): ReactElement | null {
  const { pending, message, run: resume } = useRunAction(() => call('resumeRun', run.id), onDone);
  const n = run.checkpointIteration;
  if ((run.status !== 'failed' && run.status !== 'stopped') || typeof n !== 'number') return null;
  return (
    <span className="stop">
      <button type="button" className="primary" data-testid="resume-button" data-iteration={n} disabled={pending} onClick={resume}>
        {pending ? 'Resuming…' : `Resume from iteration ${n}`}
      </button>
      {message ? (
        <span className="field-error" data-testid="resume-error">
          {message}
        </span>
      ) : null}
    </span>
  );
}

function isQuiet(run: RunDetail): boolean {
  return run.variant === 'quiet-star';
}

function accuracyTitle(run: RunDetail): string {
  if (!isQuiet(run)) return 'Evaluation accuracy by iteration';
  const every = (run.config as { quiet?: { eval_every?: unknown } }).quiet?.eval_every;
  const when = typeof every === 'number' ? `an evaluation every ${every} steps` : 'by evaluation';
  // eval/accuracy of a Quiet-STaR run is the paper's metric; older runs logged greedy exact match under it
  const what = legacyQuietEval(run) ? 'Greedy exact-match accuracy with thoughts' : 'Teacher-forced gold-answer accuracy with thoughts (the paper’s metric)';
  return `${what} (${when})`;
}

function IterationProgress({ run }: { run: RunDetail }): ReactElement {
  const total = totalIterations(run);
  const it = run.currentIteration;
  const live = run.status === 'running' || run.status === 'queued';
  return (
    <div className="iteration-progress" data-testid="iteration-progress" data-iteration={it ?? ''} data-total={total ?? ''} data-phase={run.currentPhase ?? ''}>
      <div className="progress-line">
        <span className="big">
          {isQuiet(run) ? 'Evaluation' : 'Iteration'} {it ?? '—'} <span className="muted">/ {total ?? '?'}</span>
        </span>
        <span className="phase-name">{live ? (run.currentPhase ?? (run.status === 'running' ? 'starting' : 'queued')) : run.status}</span>
      </div>
      <ProgressBar done={total !== null && it !== null ? Math.min(it, total) : null} total={total} testId="iteration-bar" />
      {live && run.progressTotal ? (
        <>
          <div className="progress-line small">
            <span className="muted">{run.currentPhase ?? 'phase'} progress</span>
            <span className="mono">
              {run.progressDone ?? 0} / {run.progressTotal}
            </span>
          </div>
          <ProgressBar done={run.progressDone} total={run.progressTotal} testId="phase-bar" />
        </>
      ) : null}
    </div>
  );
}

/** Iterations × phases, seconds per phase. */
function PhaseTable({ phases, until }: { phases: PhaseRecord[]; until: number | null }): ReactElement | null {
  if (!phases.length) return null;
  const seen = new Set(phases.map((p) => p.phase));
  const names = sortPhases(seen);
  const iters = [...new Set(phases.map((p) => p.iteration))].sort((a, b) => a - b);
  const at = new Map(phases.map((p) => [`${p.iteration}:${p.phase}`, p]));
  return (
    <table className="table compact phase-table" data-testid="phase-table">
      <thead>
        <tr>
          <th className="num">it</th>
          {names.map((n) => (
            <th key={n} className="num">
              {n}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {iters.map((i) => (
          <tr key={i}>
            <td className="num">{i}</td>
            {names.map((n) => {
              const p = at.get(`${i}:${n}`);
              if (!p) return <td key={n} className="num muted" />;
              const open = p.endedAt === null && p.durationS === null;
              const secs = p.durationS ?? (open && until !== null ? Math.max(0, (until - toMs(p.startedAt)) / 1000) : null);
              return (
                <td key={n} className={`num ${open ? 'live' : ''}`} title={open ? 'not finished' : undefined}>
                  {secs === null ? '—' : `${secs.toFixed(secs < 10 ? 1 : 0)}s`}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function AccuracyChart({ run }: { run: RunDetail }): ReactElement {
  const total = totalIterations(run);
  const series = useMemo<Series[]>(() => {
    const out: Series[] = [];
    const overall = perIteration(run.metrics['eval/accuracy']);
    out.push({ key: 'overall', name: 'overall', color: '#222', strokeWidth: 2.25, points: overall });
    difficultyMetrics(run.metrics).forEach((d, i) => {
      out.push({
        key: d.name,
        name: d.label,
        color: PALETTE[i % PALETTE.length]!,
        strokeWidth: 1.5,
        points: perIteration(run.metrics[d.name]),
      });
    });
    return out;
  }, [run.metrics]);
  const overall = series[0]!.points;
  const last = overall.length ? overall[overall.length - 1]! : null;
  return (
    <LineChartPanel
      testId="accuracy-chart"
      series={series}
      height={280}
      xLabel={isQuiet(run) ? 'evaluation' : 'iteration'}
      yLabel="accuracy"
      integerX
      yDomain={[0, 1]}
      xDomain={[0, total !== null ? Math.max(total, last?.x ?? 0) : 'dataMax']}
      yFormat={(v) => `${Math.round(v * 100)}%`}
      empty="No evaluation yet: the first point appears after the first evaluation."
      data={{ 'last-iteration': last?.x ?? '', 'last-accuracy': last?.y ?? '' }}
    />
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

function TrainMetrics({ run }: { run: RunDetail }): ReactElement {
  const groups = metricGroups(run).map((g) => ({ ...g, present: g.metrics.filter((m) => run.metrics[m.name]?.length) })).filter((g) => g.present.length);
  const others = Object.keys(run.metrics)
    .filter((n) => n !== 'eval/accuracy' && !isDifficultyMetric(n) && !GROUPED.has(n) && !isVstarCurveMetric(n))
    .sort();
  if (!groups.length && !others.length) return <div className="muted">No training metrics yet.</div>;
  const cut = Object.keys(run.metrics).filter((n) => (run.metricCounts?.[n] ?? 0) > run.metrics[n]!.length).length;
  return (
    <>
      {run.metricsDownsampled ? (
        <div className="muted small" data-testid="metrics-downsampled">
          {cut ? `${cut} metric${cut === 1 ? ' is' : 's are'} drawn from a subset of their points (each stretch's first, last, lowest and highest). ` : ''}
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

function Artifacts({ run }: { run: RunDetail }): ReactElement {
  if (!run.artifacts.length) return <div className="muted" data-testid="artifacts">None yet.</div>;
  return (
    <table className="table compact" data-testid="artifacts">
      <thead>
        <tr>
          <th>name</th>
          <th>kind</th>
          <th className="num">it</th>
          <th className="num">size</th>
        </tr>
      </thead>
      <tbody>
        {run.artifacts.map((a) => (
          <tr key={`${a.name}:${a.path}`} title={`${run.runDir}/${a.path}`}>
            <td className="mono">{a.name}</td>
            <td>{a.kind}</td>
            <td className="num">{a.iteration ?? '—'}</td>
            <td className="num">{formatBytes(a.size)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Collapsed by default; loads samples only once opened. */
function SamplesPanel({ run }: { run: RunDetail }): ReactElement {
  const [open, setOpen] = useState(false);
  const iterations = useMemo(() => [...new Set(run.phases.map((p) => p.iteration))].sort((a, b) => a - b), [run.phases]);
  return (
    <details className="panel samples-panel" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary className="panel-head" data-testid="samples-toggle">
        <h2>Samples</h2>
      </summary>
      <div className="panel-body">{open ? <SamplesView runId={run.id} iterations={iterations} /> : null}</div>
    </details>
  );
}

export function RunPage({ id }: { id: string }): ReactElement {
  const run = useLive(() => call('getRun', id), [id]);
  useRunsChanged((ids) => {
    if (ids === 'all' || ids.includes(id)) run.reload();
  });
  const r = run.data;
  const live = r?.status === 'running' || r?.status === 'queued';
  useInterval(run.reload, 5000, live);
  const now = useNow(live, 1000);

  if (run.error && !r) return <ErrorNote>Could not load run {id}: {run.error}</ErrorNote>;
  if (run.loading && !r) return <div className="page muted">Loading…</div>;
  if (!r)
    return (
      <div className="page" data-testid="run-missing">
        <ErrorNote>There is no run "{id}".</ErrorNote>
        <a href="#/runs">Back to runs</a>
      </div>
    );

  const d = runDurationMs(r, now);
  return (
    <div className="page run-page" data-testid="run-page" data-run-id={r.id}>
      <div className="page-head">
        <a href="#/runs" className="muted">
          Runs
        </a>
        <span className="muted">/</span>
        <h1 className="mono">{r.id}</h1>
        <StatusBadge status={r.status} testId="run-status" />
        <div className="spacer" />
        <a href={`#/runs/${r.id}/traces`} className="button" data-testid="open-traces">
          Traces
        </a>
        <ResumeButton run={r} onDone={run.reload} />
        <StopButton run={r} onDone={run.reload} />
      </div>
      <div className="meta">
        <Meta label="variant">{r.variant}</Meta>
        <Meta label="dataset">{r.dataset}</Meta>
        <Meta label="preset">{r.preset}</Meta>
        <Meta label="model">
          <span className="mono">{r.model}</span>
        </Meta>
        <Meta label="seed">{r.seed}</Meta>
        <Meta label="accuracy" testId="run-accuracy">
          {formatPct(r.latestAccuracy)}
        </Meta>
        <Meta label="duration" testId="run-duration">
          {d === null ? '—' : formatDuration(d)}
        </Meta>
        <Meta label="started">{formatTime(r.startedAt ?? r.createdAt)}</Meta>
        {r.endedAt !== null ? <Meta label="ended">{formatTime(r.endedAt)}</Meta> : null}
        {r.pid !== null && live ? <Meta label="pid">{r.pid}</Meta> : null}
        {r.exitCode !== null || r.signal ? <Meta label="exit">{r.signal ?? r.exitCode}</Meta> : null}
        {r.groupId ? <Meta label="group">{r.groupId}</Meta> : null}
        {typeof r.checkpointIteration === 'number' ? (
          <Meta label="checkpoint" testId="run-checkpoint">
            iteration {r.checkpointIteration}
          </Meta>
        ) : null}
      </div>
      {r.statusReason && r.status !== 'completed' ? (
        <div className={`status-reason status-reason-${r.status}`} data-testid="status-reason">
          {r.statusReason}
        </div>
      ) : null}
      {r.status === 'failed' && r.stderrTail ? (
        <details open className="stderr">
          <summary>stderr (tail)</summary>
          <pre data-testid="stderr-tail">{r.stderrTail}</pre>
        </details>
      ) : null}
      <EventIssuesNote run={r} />
      {run.error ? <ErrorNote>Refresh failed: {run.error}</ErrorNote> : null}

      <div className="grid-main">
        <Panel title={accuracyTitle(r)}>
          <AccuracyChart run={r} />
        </Panel>
        <Panel title="Progress">
          <IterationProgress run={r} />
          <PhaseTable phases={r.phases} until={live ? now : r.endedAt !== null ? toMs(r.endedAt) : null} />
        </Panel>
      </div>
      <BestOfKPanel run={r} />
      <VerifierPanel run={r} />
      <Panel title="Training">
        <TrainMetrics run={r} />
      </Panel>
      <AccountingPanel run={r} />
      <ThoughtsPanel run={r} />
      <div className="grid-main">
        <Panel title="Logs">
          <LogView runId={r.id} live={live} />
        </Panel>
        <div className="stack">
          <Panel title="Artifacts">
            <Artifacts run={r} />
          </Panel>
          <Panel title="Config">
            <pre className="json" data-testid="run-config">
              {JSON.stringify(r.config, null, 2)}
            </pre>
            <dl className="kv small hashes">
              {r.configHash ? (
                <>
                  <dt>config hash</dt>
                  <dd className="mono ellipsis" title={r.configHash}>
                    {r.configHash}
                  </dd>
                </>
              ) : null}
              {Object.entries(r.hashes ?? {}).map(([k, v]) => (
                <Fragment key={k}>
                  <dt>{k}</dt>
                  <dd className="mono ellipsis" title={v}>
                    {v}
                  </dd>
                </Fragment>
              ))}
              <dt>directory</dt>
              <dd className="mono ellipsis" title={r.runDir}>
                {r.runDir}
              </dd>
            </dl>
            {r.env ? (
              <details className="small">
                <summary>environment</summary>
                <pre className="json">{JSON.stringify(r.env, null, 2)}</pre>
              </details>
            ) : null}
          </Panel>
        </div>
      </div>
      <SamplesPanel run={r} />
    </div>
  );
}
