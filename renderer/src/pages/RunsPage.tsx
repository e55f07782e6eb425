import { useEffect, type ReactElement } from 'react';
import type { RunSummary } from '../../../shared/contract';
import { call } from '../transport';
import { navigate, useInterval, useLive, useNow, useRunsChanged } from '../hooks';
import { formatDuration, formatPct, formatTime, runDurationMs } from '../format';
import { ErrorNote, ProgressBar, StatusBadge } from '../components/common';

function phaseCell(r: RunSummary): ReactElement | string {
  if (r.status !== 'running') return r.currentIteration !== null ? `it ${r.currentIteration}` : '—';
  const it = r.currentIteration !== null ? `it ${r.currentIteration}` : '';
  const ph = r.currentPhase ?? '';
  return (
    <span className="phase-cell">
      <span>
        {it} {ph}
      </span>
      {r.progressTotal ? <ProgressBar done={r.progressDone} total={r.progressTotal} /> : null}
    </span>
  );
}

export function RunsPage(): ReactElement {
  const runs = useLive(() => call('listRuns'), []);
  const groups = useLive(() => call('listGroups'), []);
  useRunsChanged(() => runs.reload());
  const groupNames = new Map((groups.data ?? []).map((g) => [g.id, g.name]));
  // a run of a group we have not loaded yet (queued since): load the groups again
  const unknownGroup = (runs.data ?? []).some((r) => r.groupId && !groupNames.has(r.groupId));
  useEffect(() => {
    if (unknownGroup && !groups.loading) groups.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [unknownGroup, groups.loading]);
  const list = runs.data ?? [];
  const anyActive = list.some((r) => r.status === 'running' || r.status === 'queued');
  // A slow safety net in case an event is missed; events drive the normal refresh.
  useInterval(runs.reload, 5000, anyActive);
  const now = useNow(anyActive, 1000);

  return (
    <div className="page">
      <div className="page-head">
        <h1>Runs</h1>
        <span className="muted">{list.length ? `${list.length} run${list.length === 1 ? '' : 's'}` : ''}</span>
        <div className="spacer" />
        <a className="button primary" href="#/launch" data-testid="new-run">
          New run
        </a>
      </div>
      {runs.error ? <ErrorNote>Could not load runs: {runs.error}</ErrorNote> : null}
      {!runs.loading && list.length === 0 && !runs.error ? (
        <div className="empty" data-testid="runs-empty">
          No runs yet. <a href="#/launch">Launch one</a>.
        </div>
      ) : null}
      {list.length > 0 ? (
        <table className="table runs-table" data-testid="runs-table">
          <thead>
            <tr>
              <th>id</th>
              <th>status</th>
              <th>variant</th>
              <th>dataset</th>
              <th>preset</th>
              <th>model</th>
              <th className="num">seed</th>
              <th className="num">accuracy</th>
              <th className="num">duration</th>
              <th>iteration / phase</th>
              <th>group</th>
              <th>created</th>
            </tr>
          </thead>
          <tbody>
            {list.map((r) => {
              const d = runDurationMs(r, now);
              return (
                <tr
                  key={r.id}
                  data-testid={`run-row-${r.id}`}
                  data-status={r.status}
                  className="clickable"
                  tabIndex={0}
                  onClick={() => navigate(`/runs/${r.id}`)}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter') navigate(`/runs/${r.id}`);
                  }}
                >
                  <td className="mono">
                    <a href={`#/runs/${r.id}`} onClick={(e) => e.stopPropagation()}>
                      {r.id}
                    </a>
                  </td>
                  <td>
                    <StatusBadge status={r.status} testId="run-row-status" />
                  </td>
                  <td>{r.variant}</td>
                  <td>{r.dataset}</td>
                  <td>{r.preset}</td>
                  <td className="mono small">{r.model}</td>
                  <td className="num">{r.seed}</td>
                  <td className="num" data-testid="run-row-accuracy">
                    {formatPct(r.latestAccuracy)}
                  </td>
                  <td className="num" data-testid="run-row-duration">
                    {d === null ? '—' : formatDuration(d)}
                  </td>
                  <td>{phaseCell(r)}</td>
                  <td className="small" data-testid="run-row-group">
                    {r.groupId ? (
                      <a href={`#/groups/${r.groupId}`} onClick={(e) => e.stopPropagation()}>
                        {groupNames.get(r.groupId) ?? r.groupId}
                      </a>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td className="small muted">{formatTime(r.createdAt)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
