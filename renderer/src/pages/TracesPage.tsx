/**
 * A run's rationale traces: the filtered trace list, the solve matrix (questions × iterations)
 * and a compare panel for one question. The filters live in the URL query (traces-query.ts),
 * written with history.replaceState so typing does not add a history entry per keystroke.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type ReactElement } from 'react';
import type { SolveMatrixRow } from '../../../shared/analysis';
import { call } from '../transport';
import { useDebounced, useLive, useRunsChanged } from '../hooks';
import { ErrorNote, Panel, StatusBadge } from '../components/common';
import { SolveMatrixChart } from '../components/SolveMatrixChart';
import { TraceCompare, useKeptLive, type CompareSelection } from '../components/TraceCompare';
import {
  FILTER_OPTIONS,
  clampPage,
  MAX_SEARCH,
  formatTracesQuery,
  matrixArgs,
  parseTracesQuery,
  queryOfHash,
  traceArgs,
  tracesHash,
  updateTracesState,
  type FilterOption,
  type Split,
  type TracesState,
} from '../traces-query';
import { TraceList } from './traces/list';
import '../traces.css';

const PAGE = 50;
const MATRIX_PAGE = 200;
const SEARCH_DEBOUNCE_MS = 250;
const FILTER_LABELS: Record<FilterOption, string> = {
  all: 'all traces',
  'newly-solved': 'newly solved',
  forgotten: 'forgotten',
  'never-solved': 'never solved',
  'rationalized-only': 'rationalized only',
};

export function TracesPage({ id, query }: { id: string; query: string }): ReactElement {
  const initial = useMemo(() => parseTracesQuery(query), [query]);
  const [state, setState] = useState<TracesState>(initial.state);
  const [queryErrors, setQueryErrors] = useState<string[]>(initial.errors);
  const update = useCallback(
    (patch: Partial<TracesState>) =>
      setState((s) => {
        const next = updateTracesState(s, patch);
        // nothing changed: keep the object, so nothing reloads
        return (Object.keys(next) as (keyof TracesState)[]).every((k) => next[k] === s[k]) ? s : next;
      }),
    [],
  );

  // ---- search: typed text now, the query after a pause
  const [searchText, setSearchText] = useState(state.search);
  const searchDeb = useDebounced(searchText, SEARCH_DEBOUNCE_MS);
  useEffect(() => {
    update({ search: searchDeb });
  }, [searchDeb, update]);
  const [diffText, setDiffText] = useState(state.difficulty === null ? '' : String(state.difficulty));
  const diffInvalid = diffText.trim() !== '' && !/^-?\d{1,9}$/.test(diffText.trim());

  // ---- state -> URL (replace, not push); URL -> state when someone else changes the hash
  const written = useRef<string | null>(null);
  useEffect(() => {
    const h = tracesHash(id, state);
    if (window.location.hash !== h) window.history.replaceState(window.history.state, '', h);
    written.current = queryOfHash(window.location.hash, id);
  }, [id, state]);
  useEffect(() => {
    const onHash = (): void => {
      const q = queryOfHash(window.location.hash, id);
      if (q === null || q === written.current) return;
      const parsed = parseTracesQuery(q);
      written.current = q;
      setState(parsed.state);
      setQueryErrors(parsed.errors);
      setSearchText(parsed.state.search);
      setDiffText(parsed.state.difficulty === null ? '' : String(parsed.state.difficulty));
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, [id]);

  // ---- data
  const runs = useLive(() => call('listRuns'), []);
  const run = runs.data?.find((r) => r.id === id);
  const tArgs = traceArgs(state, PAGE);
  const mArgs = matrixArgs(state, MATRIX_PAGE);
  // Both keep showing their last answer (dimmed) while new arguments load.
  const list = useKeptLive(() => call('getTraces', id, tArgs), JSON.stringify([id, tArgs]));
  const matrix = useKeptLive(() => call('getSolveMatrix', id, mArgs), JSON.stringify([id, mArgs]));
  useRunsChanged((ids) => {
    runs.reload(); // the compare picker offers new runs too
    if (ids !== 'all' && !ids.includes(id)) return;
    // this run changed (a live run wrote samples): reload, paced (LIVE_RELOAD_MS, one at a time)
    list.refresh();
    matrix.refresh();
  }, 2000);

  // iterations for the select: the last known ones stay while a new matrix loads
  const iterations = matrix.data?.iterations ?? [];
  const iterationOptions = [...new Set([...iterations, ...(state.iteration !== null ? [state.iteration] : [])])].sort((x, y) => x - y);

  // pages past the end (?page=99, a total that shrank on a live run): go to the last page
  // once the answer for the current arguments is in
  const listTotal = list.current ? list.data?.total : undefined;
  const matrixTotal = matrix.current ? matrix.data?.total : undefined;
  useEffect(() => {
    const patch: Partial<TracesState> = {};
    if (listTotal !== undefined && clampPage(state.page, listTotal, PAGE) !== state.page)
      patch.page = clampPage(state.page, listTotal, PAGE);
    if (matrixTotal !== undefined && clampPage(state.mpage, matrixTotal, MATRIX_PAGE) !== state.mpage)
      patch.mpage = clampPage(state.mpage, matrixTotal, MATRIX_PAGE);
    if (Object.keys(patch).length) update(patch);
  }, [listTotal, matrixTotal, state.page, state.mpage, update]);

  const selectQuestion = useCallback(
    (questionId: string, split: string) => {
      update({ question: questionId, qsplit: split === 'train' || split === 'eval' ? split : null });
    },
    [update],
  );
  const onMatrixSelect = useCallback((r: SolveMatrixRow) => selectQuestion(r.questionId, r.split), [selectQuestion]);
  const onCompareChange = useCallback((patch: Partial<CompareSelection>) => update(patch), [update]);

  // a question picked in the matrix opens the compare panel below the fold: bring it into view
  const compareRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = compareRef.current;
    if (!el || state.question === null) return;
    const top = el.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight - 80) el.scrollIntoView({ block: 'start', behavior: 'smooth' });
  }, [state.question]);

  const noRun = runs.data !== undefined && !run;

  return (
    <div className="traces-page" data-testid="traces-page" data-query={formatTracesQuery(state)}>
      <div className="page-head">
        <a href={`#/runs/${id}`} data-testid="traces-back">
          ← run
        </a>
        <h1>
          Traces <span className="mono">{id}</span>
        </h1>
        {run ? (
          <>
            <StatusBadge status={run.status} />
            <span className="muted">
              {run.variant} · {run.dataset} · {run.preset} · seed {run.seed}
            </span>
          </>
        ) : null}
      </div>
      {noRun ? <ErrorNote>No run "{id}".</ErrorNote> : null}
      {runs.error ? <ErrorNote>{runs.error}</ErrorNote> : null}
      {queryErrors.length ? (
        <div className="warning-note" data-testid="traces-query-errors">
          Ignored in the link: {queryErrors.join('; ')}.
        </div>
      ) : null}

      <div className="compare-controls traces-controls">
        <label>
          show
          <select data-testid="traces-filter" value={state.filter} onChange={(e) => update({ filter: e.target.value as FilterOption })}>
            {FILTER_OPTIONS.map((f) => (
              <option key={f} value={f}>
                {FILTER_LABELS[f]}
              </option>
            ))}
          </select>
        </label>
        <label>
          iteration
          <select
            data-testid="traces-iteration"
            value={state.iteration === null ? '' : String(state.iteration)}
            onChange={(e) => update({ iteration: e.target.value === '' ? null : Number(e.target.value) })}
          >
            <option value="">all</option>
            {iterationOptions.map((i) => (
              <option key={i} value={i}>
                {i}
              </option>
            ))}
          </select>
        </label>
        <label>
          split
          <select
            data-testid="traces-split"
            value={state.split ?? ''}
            onChange={(e) => update({ split: (e.target.value || null) as Split | null })}
          >
            <option value="">train + eval</option>
            <option value="train">train</option>
            <option value="eval">eval</option>
          </select>
        </label>
        <label>
          difficulty
          <input
            type="text"
            inputMode="numeric"
            className={`traces-difficulty${diffInvalid ? ' invalid' : ''}`}
            data-testid="traces-difficulty"
            placeholder="any"
            value={diffText}
            onChange={(e) => {
              const t = e.target.value;
              setDiffText(t);
              if (t.trim() === '') update({ difficulty: null });
              else if (/^-?\d{1,9}$/.test(t.trim())) update({ difficulty: Number(t.trim()) });
            }}
          />
        </label>
        {diffInvalid ? <span className="field-error">difficulty must be a whole number</span> : null}
        <label className="traces-search">
          search
          <input
            type="text"
            data-testid="traces-search"
            placeholder="question or rationale text"
            title="The trace list matches the question or the rationale; the solve matrix matches the question text"
            maxLength={MAX_SEARCH}
            value={searchText}
            onChange={(e) => setSearchText(e.target.value)}
          />
        </label>
      </div>

      <SolveMatrixChart
        matrix={matrix.data}
        loading={!matrix.current && matrix.error === null}
        stale={matrix.data !== undefined && !matrix.current}
        error={matrix.error}
        sort={state.sort}
        descending={state.descending}
        page={state.mpage}
        pageSize={MATRIX_PAGE}
        onSort={(sort, descending) => update({ sort, descending })}
        onPage={(mpage) => update({ mpage })}
        selected={state.question}
        selectedSplit={state.qsplit}
        onSelect={onMatrixSelect}
      />

      <div className={`traces-grid${state.question !== null ? ' with-compare' : ''}`}>
        <TraceList
          list={list}
          page={state.page}
          pageSize={PAGE}
          question={state.question}
          qsplit={state.qsplit}
          onPage={(page) => update({ page })}
          onSelect={selectQuestion}
        />

        {state.question !== null ? (
          <div className="traces-compare-col" ref={compareRef}>
            <Panel title="Compare rationales" testId="traces-compare-panel">
              <TraceCompare
                key={`${state.qsplit ?? ''}/${state.question}`}
                runId={id}
                runs={runs.data ?? []}
                questionId={state.question}
                split={state.qsplit}
                a={state.a}
                b={state.b}
                vs={state.vs}
                vsample={state.vsample}
                onChange={onCompareChange}
                onClose={() => update({ question: null })}
              />
            </Panel>
          </div>
        ) : null}
      </div>
    </div>
  );
}
