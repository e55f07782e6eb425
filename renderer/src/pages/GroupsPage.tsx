import type { ReactElement } from 'react';
import { call } from '../transport';
import { navigate, useInterval, useLive, useRunsChanged } from '../hooks';
import { formatTime } from '../format';
import { groupProgress } from '../ablation-form';
import { ErrorNote } from '../components/common';
import { StackedProgress, StatusCounts } from '../components/GroupProgress';

export function GroupsPage(): ReactElement {
  const groups = useLive(() => call('listGroups'), []);
  useRunsChanged(() => groups.reload());
  const list = groups.data ?? [];
  const anyActive = list.some((g) => (g.counts.running ?? 0) + (g.counts.queued ?? 0) > 0);
  useInterval(groups.reload, 5000, anyActive);

  return (
    <div className="page">
      <div className="page-head">
        <h1>Groups</h1>
        <span className="muted">{list.length ? `${list.length} group${list.length === 1 ? '' : 's'}` : ''}</span>
        <div className="spacer" />
        <a className="button primary" href="#/ablate" data-testid="new-ablation">
          New ablation
        </a>
      </div>
      {groups.error ? <ErrorNote>Could not load groups: {groups.error}</ErrorNote> : null}
      {!groups.loading && list.length === 0 && !groups.error ? (
        <div className="empty" data-testid="groups-empty">
          No groups yet. <a href="#/ablate">Queue an ablation</a>.
        </div>
      ) : null}
      {list.length > 0 ? (
        <table className="table groups-table" data-testid="groups-table">
          <thead>
            <tr>
              <th>name</th>
              <th>created</th>
              <th className="progress-col">progress</th>
              <th className="num">ended</th>
              <th>runs</th>
            </tr>
          </thead>
          <tbody>
            {list.map((g) => {
              const p = groupProgress(g.counts, g.total);
              return (
                <tr
                  key={g.id}
                  data-testid={`group-row-${g.id}`}
                  className="clickable"
                  tabIndex={0}
                  onClick={() => navigate(`/groups/${g.id}`)}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter') navigate(`/groups/${g.id}`);
                  }}
                >
                  <td>
                    <a href={`#/groups/${g.id}`} onClick={(e) => e.stopPropagation()}>
                      {g.name}
                    </a>
                  </td>
                  <td className="small muted">{formatTime(g.createdAt)}</td>
                  <td className="progress-col">
                    <StackedProgress counts={g.counts} total={g.total} testId="group-row-progress" />
                  </td>
                  <td className="num" data-testid="group-row-ended">
                    {p.ended} / {p.total}
                  </td>
                  <td>
                    <StatusCounts counts={g.counts} total={g.total} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
