/** The top of a run's page: its id, status, buttons (traces, resume, stop), the facts about it, why it ended. */
import { runName } from '../../../../shared/run-name';
import { useState, type ReactElement, type ReactNode } from 'react';
import type { RunDetail } from '../../../../shared/contract';
import { call } from '../../transport';
import { useRunAction } from '../../hooks';
import { formatDuration, formatPct, formatTime, runDurationMs } from '../../format';
import { StatusBadge } from '../../components/common';
import { EventIssuesNote } from '../../components/EventIssuesNote';

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

/** Stop, after a confirmation in place: a stopped run can be resumed only from its last checkpoint. */
function StopButton({ run, onDone }: { run: RunDetail; onDone: () => void }): ReactElement | null {
  const { pending, message, run: stop } = useRunAction(() => call('stopRun', run.id), onDone);
  const [asking, setAsking] = useState(false);
  if (run.status !== 'running' && run.status !== 'queued') return null;
  return (
    <span className="stop">
      {asking && !pending ? (
        <span className="stop-confirm" data-testid="stop-confirm-box">
          {run.status === 'queued' ? 'Take it out of the queue?' : 'Stop this run? It can be resumed from its last checkpoint.'}
          <button
            type="button"
            className="danger"
            data-testid="stop-confirm"
            autoFocus
            onClick={() => {
              setAsking(false);
              stop();
            }}
          >
            Stop run
          </button>
          <button type="button" data-testid="stop-cancel" onClick={() => setAsking(false)}>
            Cancel
          </button>
        </span>
      ) : (
        <button type="button" className="danger" data-testid="stop-button" disabled={pending} onClick={() => setAsking(true)}>
          {pending ? 'Stopping…' : 'Stop'}
        </button>
      )}
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

export function RunHeader({
  run: r,
  now,
  live,
  onChanged,
}: {
  run: RunDetail;
  now: number;
  live: boolean;
  onChanged: () => void;
}): ReactElement {
  const d = runDurationMs(r, now);
  return (
    <>
      <div className="page-head">
        <a href="#/runs" className="muted">
          Runs
        </a>
        <span className="muted">/</span>
        <h1 data-testid="run-name">{runName(r)}</h1>
        <span className="mono muted small" data-testid="run-id">
          {r.id}
        </span>
        <StatusBadge status={r.status} testId="run-status" />
        <div className="spacer" />
        <a href={`#/runs/${r.id}/traces`} className="button" data-testid="open-traces">
          Traces
        </a>
        <ResumeButton run={r} onDone={onChanged} />
        <StopButton run={r} onDone={onChanged} />
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
        {r.executor === 'slurm' ? (
          <Meta label="Slurm job" testId="run-slurm-job">
            {r.jobId ?? 'not submitted'}
          </Meta>
        ) : null}
        {r.exitCode !== null || r.signal ? <Meta label="exit">{r.signal ?? r.exitCode}</Meta> : null}
        {r.groupId ? (
          <Meta label="group">
            <a href={`#/groups/${r.groupId}`}>{r.groupName ?? r.groupId}</a>
          </Meta>
        ) : null}
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
    </>
  );
}
