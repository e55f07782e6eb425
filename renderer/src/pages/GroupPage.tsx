import { runName } from '../../../shared/run-name';
import { useMemo, useState, type ReactElement } from 'react';
import type { RunSummary } from '../../../shared/contract';
import { call } from '../transport';
import { GroupExport } from '../components/GroupExport';
import { navigate, useInterval, useLive, useNow, useRunsChanged } from '../hooks';
import { formatDuration, formatPct, formatTime, runDurationMs } from '../format';
import { countStatuses, groupProgress } from '../ablation-form';
import { ErrorNote, StatusBadge } from '../components/common';
import { StackedProgress, StatusCounts } from '../components/GroupProgress';
import { phaseCell } from '../components/PhaseCell';
import { CompareChart } from '../components/CompareChart';
import { buildGroups, type CompareRun } from '../compare';
import { groupEtaSeconds } from '../group-eta';

export function GroupPage({ id }: { id: string }): ReactElement {
  const group = useLive(() => call('getGroup', id), [id]);
  // any change may concern this group (a retry adds a run we do not know yet)
  useRunsChanged(() => group.reload());
  const g = group.data;
  const runs: RunSummary[] = g?.runs ?? [];
  const anyActive = runs.some((r) => r.status === 'running' || r.status === 'queued');
  useInterval(group.reload, 5000, anyActive);
  const now = useNow(anyActive, 1000);
  const settings = useLive(() => call('getSettings'), []);
  const [pending, setPending] = useState<string | null>(null);
  const [confirmStop, setConfirmStop] = useState(false); // Stop group asks first
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  const act = async (key: string, fn: () => Promise<{ ok: boolean; message: string }>): Promise<void> => {
    setPending(key);
    setMessage(null);
    try {
      const r = await fn();
      setMessage({ ok: r.ok, text: r.message });
    } catch (err) {
      setMessage({ ok: false, text: (err as Error).message });
    } finally {
      setPending(null);
      group.reload();
    }
  };

  if (group.error)
    return (
      <div className="page">
        <ErrorNote>Could not load the group: {group.error}</ErrorNote>
      </div>
    );
  if (!g) {
    return (
      <div className="page">
        {group.loading ? (
          <div className="muted">Loading…</div>
        ) : (
          <div className="empty" data-testid="group-missing">
            No group "{id}". <a href="#/groups">All groups</a>
          </div>
        )}
      </div>
    );
  }

  const parallel = settings.data?.maxConcurrent || runs.length || 1;
  const eta = groupEtaSeconds(runs, now / 1000, parallel);
  const counts = runs.length ? countStatuses(runs) : g.counts;
  const total = runs.length || g.total;
  const p = groupProgress(counts, total);

  return (
    <div className="page">
      <div className="page-head">
        <a href="#/groups" className="muted">
          Groups
        </a>
        <span className="muted">/</span>
        <h1 data-testid="group-name">{g.name}</h1>
        <span className="muted small">created {formatTime(g.createdAt)}</span>
        <div className="spacer" />
        <a className="button" href={`#/compare?group=${encodeURIComponent(id)}`} data-testid="group-compare">
          Compare
        </a>
        {confirmStop && pending === null ? (
          <span className="stop-confirm" data-testid="stop-group-confirm-box">
            Stop every running run and take the queued ones out of the queue?
            <button
              type="button"
              className="danger"
              data-testid="stop-group-confirm"
              autoFocus
              onClick={() => {
                setConfirmStop(false);
                void act('stop-group', () => call('stopGroup', id));
              }}
            >
              Stop group
            </button>
            <button type="button" data-testid="stop-group-cancel" onClick={() => setConfirmStop(false)}>
              Cancel
            </button>
          </span>
        ) : (
          <button
            type="button"
            className="danger"
            data-testid="stop-group"
            disabled={pending !== null || !anyActive}
            onClick={() => setConfirmStop(true)}
          >
            {pending === 'stop-group' ? 'Stopping…' : 'Stop group'}
          </button>
        )}
      </div>
      <div className="group-summary">
        <span className="group-ended" data-testid="group-progress">
          {p.ended} / {p.total} ended
        </span>
        <StackedProgress counts={counts} total={total} testId="group-progress-bar" />
        <StatusCounts counts={counts} total={total} />
        {anyActive ? (
          <span className="muted small" data-testid="group-eta">
            {eta === null
              ? 'time left: known once a run has completed'
              : `about ${formatDuration(eta * 1000)} left (from this group's completed runs)`}
          </span>
        ) : null}
      </div>
      <GroupCurves runs={runs} swept={!!(g.spec?.grid && Object.keys(g.spec.grid as object).length)} />
      {message ? (
        message.ok ? (
          <div className="muted small" data-testid="group-message">
            {message.text}
          </div>
        ) : (
          <ErrorNote>{message.text}</ErrorNote>
        )
      ) : null}
      <GroupExport id={id} datasets={[...new Set(runs.map((r) => r.dataset))]} disabled={!counts.completed} />
      <table className="table runs-table" data-testid="group-runs-table">
        <thead>
          <tr>
            <th>run</th>
            <th>status</th>
            <th>variant</th>
            <th>dataset</th>
            <th className="num">seed</th>
            <th className="num">accuracy</th>
            <th>iteration / phase</th>
            <th className="num">duration</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => {
            const d = runDurationMs(r, now);
            return (
              <tr
                key={r.id}
                data-testid={`group-run-${r.id}`}
                data-status={r.status}
                className="clickable"
                onClick={() => navigate(`/runs/${r.id}`)}
              >
                <td>
                  <a href={`#/runs/${r.id}`} onClick={(e) => e.stopPropagation()}>
                    {runName(r)}
                  </a>{' '}
                  <span className="mono small muted">{r.id}</span>
                </td>
                <td>
                  <StatusBadge status={r.status} testId="group-run-status" />
                </td>
                <td>{r.variant}</td>
                <td>{r.dataset}</td>
                <td className="num">{r.seed}</td>
                <td className="num">{formatPct(r.latestAccuracy)}</td>
                <td data-testid="group-run-phase">{phaseCell(r)}</td>
                <td className="num">{d === null ? '—' : formatDuration(d)}</td>
                <td className="actions" onClick={(e) => e.stopPropagation()}>
                  {r.status === 'queued' ? (
                    <button
                      type="button"
                      className="small-button"
                      data-testid={`cancel-${r.id}`}
                      disabled={pending !== null}
                      onClick={() => void act(r.id, () => call('cancelRun', r.id))}
                    >
                      Cancel
                    </button>
                  ) : null}
                  {r.status === 'failed' || r.status === 'stopped' ? (
                    <button
                      type="button"
                      className="small-button"
                      data-testid={`retry-${r.id}`}
                      disabled={pending !== null}
                      onClick={() => void act(r.id, () => call('retryRun', r.id))}
                    >
                      Retry
                    </button>
                  ) : null}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/**
 * The group's held-out accuracy by iteration, mean ± std over seeds per variant (and dataset),
 * each run thin; live. A group with swept settings draws each run: pooled by variant alone, a
 * band would mix the settings' effect with the seeds' spread (the compare view groups by the
 * swept key).
 */
function GroupCurves({ runs, swept }: { runs: RunSummary[]; swept: boolean }): ReactElement | null {
  const ids = runs.map((r) => r.id).slice(0, 500);
  const key = ids.join(',');
  const series = useLive(() => (ids.length ? call('getSeriesColumns', ids, ['eval/accuracy']) : Promise.resolve({})), [key]);
  // the runs gain points while they run: reload with them (throttled by useRunsChanged)
  useRunsChanged(() => series.reload(), 2000);
  const datasets = new Set(runs.map((r) => r.dataset)).size;
  const groups = useMemo(
    () =>
      buildGroups({
        runs: runs.map((summary): CompareRun => ({ summary })),
        series: series.data ?? {},
        metric: 'eval/accuracy',
        x: 'iteration',
        groupBy: swept ? 'none' : datasets > 1 ? 'variant+dataset' : 'variant',
        template: swept ? '' : datasets > 1 ? '{variant} · {dataset}' : '{variant}',
        smoothing: 0,
        band: 'std',
      }),
    [runs, series.data, datasets, swept],
  );
  if (!runs.length || !series.data) return null;
  if (!groups.some((g) => g.smoothed.length))
    return <div className="muted small">No evaluation yet: the curves appear after the first one.</div>;
  return (
    <div className="group-curves" data-testid="group-curves">
      <CompareChart
        groups={groups}
        yLog={false}
        smoothing={0}
        showRuns
        xLabel="iteration"
        xKind="count"
        yLabel="held-out accuracy"
        height={260}
      />
    </div>
  );
}
