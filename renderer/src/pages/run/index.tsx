/**
 * /runs/<id>: one run, live while it runs: header and facts, accuracy and progress, the
 * variant's panels (Best-of-k, verifier, thoughts), training metrics, accounting, logs,
 * artifacts, config, samples.
 */
import { type ReactElement } from 'react';
import { call } from '../../transport';
import { useInterval, useLive, useNow, useRunsChanged } from '../../hooks';
import { toMs } from '../../format';
import { ErrorNote, Panel } from '../../components/common';
import { LogView } from '../../components/LogView';
import { BestOfKPanel } from '../../components/BestOfKPanel';
import { AccountingPanel } from '../../components/AccountingPanel';
import { VerifierPanel } from '../../components/verifier';
import { ThoughtsPanel } from '../../components/ThoughtsPanel';
import { RunHeader } from './header';
import { AccuracyChart, IterationProgress, PhaseTable, accuracyTitle } from './progress';
import { TrainMetrics } from './training-panel';
import { RunLabels } from './labels';
import { Artifacts, RunConfig, SamplesPanel } from './details';

export function RunPage({ id }: { id: string }): ReactElement {
  const run = useLive(() => call('getRun', id), [id]);
  useRunsChanged((ids) => {
    if (ids === 'all' || ids.includes(id)) run.reload();
  });
  const r = run.data;
  const live = r?.status === 'running' || r?.status === 'queued';
  useInterval(run.reload, 5000, live);
  const now = useNow(live, 1000);

  if (run.error && !r)
    return (
      <ErrorNote>
        Could not load run {id}: {run.error}
      </ErrorNote>
    );
  if (run.loading && !r) return <div className="page muted">Loading…</div>;
  if (!r)
    return (
      <div className="page" data-testid="run-missing">
        <ErrorNote>There is no run "{id}".</ErrorNote>
        <a href="#/runs">Back to runs</a>
      </div>
    );

  return (
    <div className="page run-page" data-testid="run-page" data-run-id={r.id}>
      <RunHeader run={r} now={now} live={live} onChanged={run.reload} />
      <RunLabels run={r} onChanged={run.reload} />
      {run.error ? <ErrorNote>Refresh failed: {run.error}</ErrorNote> : null}

      {/* a script's run (starlab.init) has these only if it logs them */}
      {r.executor !== 'script' || r.metrics['eval/accuracy']?.length || r.phases.length ? (
        <div className="grid-main">
          <Panel title={accuracyTitle(r)}>
            <AccuracyChart run={r} />
          </Panel>
          <Panel title="Progress">
            <IterationProgress run={r} />
            <PhaseTable phases={r.phases} until={live ? now : r.endedAt !== null ? toMs(r.endedAt) : null} />
          </Panel>
        </div>
      ) : null}
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
            <RunConfig run={r} />
          </Panel>
        </div>
      </div>
      <SamplesPanel run={r} />
    </div>
  );
}
