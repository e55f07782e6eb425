/** A run's evaluation accuracy by iteration and its progress: iteration, phase, seconds per phase. */
import { useMemo, type ReactElement } from 'react';
import type { PhaseRecord, RunDetail } from '../../../../shared/contract';
import { toMs } from '../../format';
import { difficultyMetrics, perIteration } from '../../metrics';
import { ProgressBar } from '../../components/common';
import { LineChartPanel, PALETTE, type Series } from '../../components/charts';
import { sortPhases } from '../../../../shared/catalogue';
import { isQuiet, legacyQuietEval, totalIterations } from './common';

export function accuracyTitle(run: RunDetail): string {
  if (!isQuiet(run)) return 'Evaluation accuracy by iteration';
  const every = (run.config as { quiet?: { eval_every?: unknown } }).quiet?.eval_every;
  const when = typeof every === 'number' ? `an evaluation every ${every} steps` : 'by evaluation';
  // eval/accuracy of a Quiet-STaR run is the paper's metric; older runs logged greedy exact match under it
  const what = legacyQuietEval(run)
    ? 'Greedy exact-match accuracy with thoughts'
    : 'Teacher-forced gold-answer accuracy with thoughts (the paper’s metric)';
  return `${what} (${when})`;
}

export function IterationProgress({ run }: { run: RunDetail }): ReactElement {
  const total = totalIterations(run);
  const it = run.currentIteration;
  const live = run.status === 'running' || run.status === 'queued';
  return (
    <div
      className="iteration-progress"
      data-testid="iteration-progress"
      data-iteration={it ?? ''}
      data-total={total ?? ''}
      data-phase={run.currentPhase ?? ''}
    >
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
export function PhaseTable({ phases, until }: { phases: PhaseRecord[]; until: number | null }): ReactElement | null {
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

export function AccuracyChart({ run }: { run: RunDetail }): ReactElement {
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
