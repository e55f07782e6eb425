import { runName } from '../../../shared/run-name';
import { Fragment, useEffect, useState, type ReactElement } from 'react';
import type { CommandResults, RunSummary } from '../../../shared/contract';
import { call } from '../transport';
import { navigate, useInterval, useLive, useNow, useRunsChanged } from '../hooks';
import { formatBytes, formatDuration, formatPct, formatTime, runDurationMs } from '../format';
import { ErrorNote, StatusBadge } from '../components/common';
import { phaseCell } from '../components/PhaseCell';
import { SearchField } from '../components/SearchField';
import { compareViewToHash, defaultCompareView } from '../compare-state';
import { DEFAULT_SORT, runMatches, sortRuns, type RunSort, type SortKey } from '../run-search';
import { runTag } from '../../../shared/contract';
import { ArchiveDelete } from './runs/lifecycle';
import { ColumnPicker, columnLabel, formatColumnValue, useRunColumns } from './runs/columns';

export function RunsPage(): ReactElement {
  const runs = useLive(() => call('listRuns'), []);
  const groups = useLive(() => call('listGroups'), []);
  // run directories the database does not know (emptied, replaced or restored): say so, point at Reindex
  const dataInfo = useLive(() => call('getDataInfo'), []);
  const unindexed = dataInfo.data?.unindexedRuns.total ?? 0;
  useRunsChanged(() => runs.reload());
  const groupNames = new Map((groups.data ?? []).map((g) => [g.id, g.name]));
  // a run of a group we have not loaded yet (queued since): load the groups again
  const unknownGroup = (runs.data ?? []).some((r) => r.groupId && !groupNames.has(r.groupId));
  const { loading: groupsLoading, reload: reloadGroups } = groups;
  useEffect(() => {
    if (unknownGroup && !groupsLoading) reloadGroups();
  }, [unknownGroup, groupsLoading, reloadGroups]);
  const all = runs.data ?? [];
  const anyActive = all.some((r) => r.status === 'running' || r.status === 'queued');
  // A slow safety net in case an event is missed; events drive the normal refresh.
  useInterval(runs.reload, 5000, anyActive);
  const now = useNow(anyActive, 1000);
  const [query, setQuery] = useState('');
  const [sort, setSort] = useState<RunSort>(DEFAULT_SORT);
  const [showArchived, setShowArchived] = useState(false);
  const archivedCount = all.filter((r) => r.archived).length;
  const extra = useRunColumns();
  const columnValue = (r: RunSummary, c: string) => extra.values[r.id]?.[c] ?? null;
  const chosen = { columns: extra.columns, value: columnValue };
  const list = sortRuns(
    all.filter((r) => (showArchived || !r.archived) && runMatches(r, query, r.groupId ? groupNames.get(r.groupId) : null, chosen)),
    sort,
    (r) => runDurationMs(r, now),
    columnValue,
  );
  const sortHeader = (key: SortKey, label: string, className?: string): ReactElement => {
    const on = sort.key === key;
    return (
      <th className={className} aria-sort={on ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
        <button
          type="button"
          className="sort-header"
          data-testid={`runs-sort-${key}`}
          onClick={() =>
            setSort(
              on
                ? { key, dir: sort.dir === 'asc' ? 'desc' : 'asc' }
                : { key, dir: key === 'name' || key === 'variant' || key === 'dataset' || key === 'status' ? 'asc' : 'desc' },
            )
          }
        >
          {label}
          <span className="sort-mark">{on ? (sort.dir === 'asc' ? ' ▲' : ' ▼') : ''}</span>
        </button>
      </th>
    );
  };

  // Selection for the bundle export: ids, kept across live refreshes; ids that left the list are dropped.
  const [selected, setSelected] = useState<ReadonlySet<string>>(() => new Set());
  // null until the list is in (the selection is kept until then)
  const listedIds = runs.data ? runs.data.map((r) => r.id).join('\n') : null;
  useEffect(() => {
    if (listedIds === null) return;
    const present = new Set(listedIds.split('\n'));
    setSelected((prev) => ([...prev].every((id) => present.has(id)) ? prev : new Set([...prev].filter((id) => present.has(id)))));
  }, [listedIds]);
  const toggle = (id: string, on: boolean): void =>
    setSelected((prev) => {
      const next = new Set(prev);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });
  const allSelected = list.length > 0 && list.every((r) => selected.has(r.id));
  const someSelected = list.some((r) => selected.has(r.id));

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
      {unindexed > 0 ? (
        <div className="warning-note" data-testid="runs-unindexed">
          {unindexed} run director{unindexed === 1 ? 'y is' : 'ies are'} in the data directory but not in the database. Put them back with{' '}
          <a href="#/settings">Settings → Data → Reindex</a> (or <code>starlab reindex</code>).
        </div>
      ) : null}
      {all.length > 0 ? (
        <div className="runs-toolbar">
          <SearchField
            className="runs-search"
            placeholder="search runs: name, tag, variant, dataset, notes… (tag:T, seed=N, acc>0.5, created>=2026-12-01, a chosen column: loop.lr<3e-4)"
            value={query}
            onChange={setQuery}
            testId="runs-search"
          />
          <ColumnPicker columns={extra.columns} onChange={extra.setColumns} />
          {archivedCount > 0 ? (
            <label className="small">
              <input
                type="checkbox"
                checked={showArchived}
                onChange={(e) => setShowArchived(e.target.checked)}
                data-testid="runs-show-archived"
              />{' '}
              Show archived ({archivedCount})
            </label>
          ) : null}
          {query || list.length < all.length ? (
            <span className="muted small" data-testid="runs-shown">
              {list.length} of {all.length} shown
            </span>
          ) : null}
        </div>
      ) : null}
      {!runs.loading && all.length === 0 && !runs.error ? (
        <div className="empty" data-testid="runs-empty">
          No runs yet. <a href="#/launch">Launch one</a>.
        </div>
      ) : null}
      {/* the bulk actions act on the ticked runs in view: none hidden by the search or by being archived */}
      {list.some((r) => selected.has(r.id)) ? (
        <ExportBar runs={list.filter((r) => selected.has(r.id))} onClear={() => setSelected(new Set())} onChanged={runs.reload} />
      ) : null}
      {list.length > 0 ? (
        <table className="table runs-table" data-testid="runs-table">
          <thead>
            <tr>
              <th className="select-cell">
                <input
                  type="checkbox"
                  data-testid="runs-select-all"
                  aria-label="select all runs"
                  checked={allSelected}
                  ref={(el) => {
                    if (el) el.indeterminate = someSelected && !allSelected;
                  }}
                  onChange={(e) => setSelected(e.target.checked ? new Set(list.map((r) => r.id)) : new Set())}
                />
              </th>
              {sortHeader('name', 'name')}
              <th>id</th>
              {sortHeader('status', 'status')}
              {sortHeader('variant', 'variant')}
              {sortHeader('dataset', 'dataset')}
              <th>preset</th>
              <th>model</th>
              {sortHeader('seed', 'seed', 'num')}
              {sortHeader('accuracy', 'accuracy', 'num')}
              {sortHeader('duration', 'duration', 'num')}
              <th>iteration / phase</th>
              <th>group</th>
              <th>tags</th>
              {sortHeader('created', 'created')}
              {extra.columns.map((c) => (
                <Fragment key={c}>{sortHeader(c as SortKey, columnLabel(c), c.startsWith('metric:') ? 'num' : undefined)}</Fragment>
              ))}
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
                  <td className="select-cell" onClick={(e) => e.stopPropagation()} onKeyDown={(e) => e.stopPropagation()}>
                    <input
                      type="checkbox"
                      data-testid="run-row-select"
                      aria-label={`select run ${r.id}`}
                      checked={selected.has(r.id)}
                      onChange={(e) => toggle(r.id, e.target.checked)}
                    />
                  </td>
                  <td data-testid="run-row-name">
                    <a href={`#/runs/${r.id}`} onClick={(e) => e.stopPropagation()}>
                      {runName(r)}
                    </a>
                    {r.archived ? (
                      <span className="tag-chip muted" data-testid="run-row-archived">
                        archived
                      </span>
                    ) : null}
                  </td>
                  <td className="mono small muted">{r.id}</td>
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
                  <td className="small" data-testid="run-row-tags">
                    {r.tags.map((t) => (
                      <span key={t} className="tag-chip">
                        {t}
                      </span>
                    ))}
                  </td>
                  <td className="small muted">{formatTime(r.createdAt)}</td>
                  {extra.columns.map((c) => (
                    <td key={c} className={c.startsWith('metric:') ? 'num' : 'small'} data-testid={`run-row-col-${c}`}>
                      {formatColumnValue(c, extra.values[r.id]?.[c])}
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}

type BundleResult = CommandResults['exportRunBundle'];

/** Shown while runs are ticked: compare, tag, archive or delete them, export them as one bundle into <data dir>/exports. */
function ExportBar({ runs, onClear, onChanged }: { runs: RunSummary[]; onClear: () => void; onChanged: () => void }): ReactElement {
  const ids = runs.map((r) => r.id);
  const [checkpoints, setCheckpoints] = useState(false);
  const [pending, setPending] = useState(false);
  const [result, setResult] = useState<BundleResult | null>(null);
  const n = ids.length;
  const exportBundle = async (): Promise<void> => {
    setPending(true);
    setResult(null);
    try {
      setResult(await call('exportRunBundle', ids, { checkpoints }));
    } catch (err) {
      setResult({ ok: false, message: (err as Error).message });
    } finally {
      setPending(false);
    }
  };
  return (
    <div className="runs-action-bar" data-testid="runs-action-bar">
      <div className="form-actions">
        <span className="small">
          {n} run{n === 1 ? '' : 's'} selected
        </span>
        <a className="button" data-testid="compare-selected" href={compareViewToHash({ ...defaultCompareView(), runs: ids.slice(0, 500) })}>
          Compare
        </a>
        <BulkTag ids={ids} onChanged={onChanged} />
        <ArchiveDelete runs={runs} onChanged={onChanged} />
        <button
          type="button"
          className="primary"
          data-testid="export-bundle"
          disabled={pending || n === 0}
          onClick={() => void exportBundle()}
        >
          {pending ? 'Exporting…' : `Export ${n} run${n === 1 ? '' : 's'} as a bundle`}
        </button>
        <label
          className="inline-control small"
          title="Model checkpoints can be gigabytes per run; the export then takes long and the bundle is large. Off: rows, configs, logs and results only."
        >
          <input
            type="checkbox"
            data-testid="export-checkpoints"
            checked={checkpoints}
            onChange={(e) => setCheckpoints(e.target.checked)}
          />{' '}
          include checkpoints
        </label>
        <button type="button" className="small-button" onClick={onClear}>
          clear selection
        </button>
      </div>
      {result?.ok ? (
        <div className="small runs-export-note" data-testid="export-bundle-result" data-ok="true" data-file={result.file}>
          wrote <span className="mono">{result.file}</span> ({result.runs} run{result.runs === 1 ? '' : 's'}, {result.files} files,{' '}
          {formatBytes(result.bytes)}); import it on another machine in Settings → Data.
          {result.warnings.length ? (
            <ul className="runs-export-warnings" data-testid="export-bundle-warnings">
              {result.warnings.map((w, i) => (
                <li key={i}>{w}</li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}
      {result && !result.ok ? (
        <div data-testid="export-bundle-result" data-ok="false">
          <ErrorNote>Export failed: {result.message}</ErrorNote>
        </div>
      ) : null}
    </div>
  );
}

/** Add or remove one tag on the selected runs (runs already so are left alone). */
function BulkTag({ ids, onChanged }: { ids: string[]; onChanged: () => void }): ReactElement {
  const [tag, setTag] = useState('');
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const parsed = runTag.safeParse(tag);
  const apply = async (add: boolean): Promise<void> => {
    if (!parsed.success) return;
    try {
      const r = await call('tagRuns', ids, add ? { add: [parsed.data], remove: [] } : { add: [], remove: [parsed.data] });
      setNote({ ok: r.ok, text: r.message });
      if (r.ok) setTag('');
      onChanged();
    } catch (e) {
      setNote({ ok: false, text: (e as Error).message });
    }
  };
  return (
    <span className="bulk-tag">
      <input
        type="text"
        className="tag-input"
        placeholder="tag"
        value={tag}
        onChange={(e) => {
          setTag(e.target.value);
          setNote(null);
        }}
        data-testid="bulk-tag-input"
        aria-invalid={tag !== '' && !parsed.success}
        title={tag !== '' && !parsed.success ? parsed.error.issues[0]?.message : undefined}
      />
      <button type="button" className="small-button" disabled={!parsed.success} onClick={() => void apply(true)} data-testid="bulk-tag-add">
        add tag
      </button>
      <button
        type="button"
        className="small-button"
        disabled={!parsed.success}
        onClick={() => void apply(false)}
        data-testid="bulk-tag-remove"
      >
        remove tag
      </button>
      {note ? (
        <span className={`small ${note.ok ? 'muted' : 'error-text'}`} data-testid="bulk-tag-note">
          {note.text}
        </span>
      ) : null}
    </span>
  );
}
