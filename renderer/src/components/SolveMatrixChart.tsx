/**
 * Questions × iterations, one coloured cell per question and iteration (solved / right only
 * through the hint / wrong / no sample), a page of rows at a time. Each row is one element
 * whose cells are painted as a hard-stop CSS gradient, so a page of 500 rows is ~1000 DOM
 * nodes whatever the number of iterations; the per-iteration counts sit above as stacked bars.
 */
import { memo, useCallback, useEffect, useMemo, useState, type ReactElement } from 'react';
import { SOLVE_SORTS, type SolveMatrix, type SolveMatrixRow, type SolveSort } from '../../../shared/analysis';
import { useElementWidth } from '../hooks';
import { isSelectedQuestion } from '../traces-query';
import { Panel } from './common';

/** The charts' colour-blind-safe Okabe–Ito palette (shared/export/style.ts): solved, right only via the hint, wrong; no sample grey. */
export const SOLVE_COLORS: Record<'S' | 'H' | 'W' | '.', string> = {
  S: '#009E73', // bluish green
  H: '#E69F00', // orange
  W: '#D55E00', // vermillion
  '.': '#eceef1',
};

const CELL_NAMES: Record<string, string> = { S: 'solved', H: 'right only via hint', W: 'wrong', '.': 'no sample' };

const SORT_LABELS: Record<SolveSort, string> = {
  question: 'question',
  'first-solved': 'first solved',
  'solved-count': 'solved count',
  difficulty: 'difficulty',
};

const LABEL_W = 150;
const ROW_H = 12;
const MIN_CELL = 3;
/** With few iterations the cells widen until the rows fill the panel, up to this. */
const MAX_CELL = 160;

function cellColor(c: string): string {
  return SOLVE_COLORS[c as keyof typeof SOLVE_COLORS] ?? SOLVE_COLORS['.'];
}

/** The row's cells as a left-to-right gradient with hard stops (runs of one outcome merged). */
export function cellsBackground(cells: string, cellW: number): string {
  const stops: string[] = [];
  let start = 0;
  for (let i = 1; i <= cells.length; i++) {
    if (i < cells.length && cells[i] === cells[start]) continue;
    stops.push(`${cellColor(cells[start]!)} ${start * cellW}px ${i * cellW}px`);
    start = i;
  }
  if (stops.length === 0) return SOLVE_COLORS['.'];
  const grid = cellW >= 6 ? `repeating-linear-gradient(to right, transparent 0 ${cellW - 1}px, #fff ${cellW - 1}px ${cellW}px), ` : '';
  // a single stop is not a valid gradient: repeat it
  return `${grid}linear-gradient(to right, ${stops.length === 1 ? `${stops[0]}, ${stops[0]}` : stops.join(', ')})`;
}

export interface SolveMatrixChartProps {
  matrix: SolveMatrix | undefined;
  loading: boolean;
  /** `matrix` answers earlier arguments (a new page/sort/filter is loading): shown dimmed. */
  stale?: boolean;
  error: string | null;
  sort: SolveSort;
  descending: boolean;
  /** 0-based page of `pageSize` rows. */
  page: number;
  pageSize: number;
  onSort: (sort: SolveSort, descending: boolean) => void;
  onPage: (page: number) => void;
  /** The question open in the compare panel (highlighted), and its split (null: either). */
  selected: string | null;
  selectedSplit: string | null;
  onSelect: (row: SolveMatrixRow) => void;
}

interface Hover {
  row: SolveMatrixRow;
  col: number;
}

const Rows = memo(function Rows({
  rows,
  cellW,
  selected,
  selectedSplit,
  onSelect,
  onHover,
}: {
  rows: SolveMatrixRow[];
  cellW: number;
  selected: string | null;
  selectedSplit: string | null;
  onSelect: (row: SolveMatrixRow) => void;
  onHover: (h: Hover | null) => void;
}): ReactElement {
  return (
    <>
      {rows.map((r) => (
        <div
          key={`${r.split}/${r.questionId}`}
          className={`sm-row${isSelectedQuestion(selected, selectedSplit, r) ? ' selected' : ''}`}
          data-testid="solve-matrix-row"
          data-question-id={r.questionId}
          data-cells={r.cells}
          onClick={() => onSelect(r)}
        >
          <span className="sm-label mono" title={r.question ? `${r.questionId}: ${r.question}` : r.questionId}>
            {r.questionId}
          </span>
          <span
            className="sm-cells"
            style={{ width: r.cells.length * cellW, background: cellsBackground(r.cells, cellW) }}
            onMouseMove={(e) => {
              const x = e.clientX - e.currentTarget.getBoundingClientRect().left;
              onHover({ row: r, col: Math.min(r.cells.length - 1, Math.max(0, Math.floor(x / cellW))) });
            }}
            onMouseLeave={() => onHover(null)}
          />
        </div>
      ))}
    </>
  );
});

export function SolveMatrixChart(p: SolveMatrixChartProps): ReactElement {
  const [ref, width] = useElementWidth<HTMLDivElement>();
  const [hover, setHover] = useState<Hover | null>(null);
  const m = p.matrix;
  // hover holds a row of the matrix on show: another page/sort/filter or a live reload drops it
  useEffect(() => setHover(null), [m]);
  // mousemove fires per pixel: re-render only when the cell under the pointer changes
  const onHover = useCallback(
    (h: Hover | null) => setHover((prev) => (prev === h || (prev && h && prev.row === h.row && prev.col === h.col) ? prev : h)),
    [],
  );
  const n = m?.iterations.length ?? 0;
  const cellW = n ? Math.max(MIN_CELL, Math.min(MAX_CELL, Math.floor((Math.max(width, 300) - LABEL_W - 24) / n))) : MAX_CELL;
  const total = m?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / p.pageSize));
  const rows = useMemo(() => m?.rows ?? [], [m]);
  const labelEvery = Math.max(1, Math.ceil(18 / cellW));

  const hoverText = hover
    ? `${hover.row.questionId} · iteration ${m?.iterations[hover.col] ?? '?'}: ${CELL_NAMES[hover.row.cells[hover.col] ?? '.'] ?? 'unknown'}` +
      ` · solved ${hover.row.solvedCount}×` +
      (hover.row.firstSolved !== null ? `, first at ${hover.row.firstSolved}` : ', never') +
      (hover.row.difficulty !== null ? ` · difficulty ${hover.row.difficulty}` : '') +
      (hover.row.question ? ` · ${hover.row.question.replace(/\s+/g, ' ').slice(0, 160)}` : '')
    : null;

  const actions = (
    <>
      <label className="inline-control">
        sort
        <select data-testid="solve-matrix-sort" value={p.sort} onChange={(e) => p.onSort(e.target.value as SolveSort, p.descending)}>
          {SOLVE_SORTS.map((s) => (
            <option key={s} value={s}>
              {SORT_LABELS[s]}
            </option>
          ))}
        </select>
      </label>
      <button
        type="button"
        className="small-button"
        data-testid="solve-matrix-desc"
        aria-pressed={p.descending}
        title="sort direction"
        onClick={() => p.onSort(p.sort, !p.descending)}
      >
        {p.descending ? '↓ descending' : '↑ ascending'}
      </button>
      <span className="muted" data-testid="solve-matrix-total">
        {total} question{total === 1 ? '' : 's'}
      </span>
      <button type="button" className="small-button" disabled={p.page === 0} onClick={() => p.onPage(p.page - 1)}>
        ‹
      </button>
      <span className="muted">
        {p.page + 1} / {pages}
      </span>
      <button type="button" className="small-button" disabled={p.page + 1 >= pages} onClick={() => p.onPage(p.page + 1)}>
        ›
      </button>
    </>
  );

  return (
    <Panel title="Solve matrix" actions={actions} testId="solve-matrix">
      <div
        ref={ref}
        className={`sm${p.stale ? ' traces-stale' : ''}`}
        data-iterations={n}
        data-rows={rows.length}
        aria-busy={p.stale ? true : undefined}
        data-current={p.stale || p.loading ? '0' : '1'}
      >
        <div className="sm-legend" data-testid="solve-matrix-legend">
          {(['S', 'H', 'W', '.'] as const).map((c) => (
            <span key={c} className="sm-legend-item">
              <span className="sm-swatch" style={{ background: SOLVE_COLORS[c] }} />
              {CELL_NAMES[c]}
            </span>
          ))}
          <span className="spacer" />
          <span className="muted small sm-hover">{hoverText ?? 'click a row to compare its rationales'}</span>
        </div>
        {p.error ? <div className="field-error">{p.error}</div> : null}
        {m && n > 0 ? (
          <>
            <div className="sm-head" data-testid="solve-matrix-counts">
              <span className="sm-label muted small">{total ? 'share of questions' : ''}</span>
              <span className="sm-bars">
                {m.iterations.map((it, i) => {
                  const c = m.counts[i] ?? { solved: 0, hinted: 0, wrong: 0 };
                  const pct = (k: number): string => `${total ? (100 * k) / total : 0}%`;
                  return (
                    <span
                      key={it}
                      className="sm-bar"
                      style={{ width: cellW }}
                      title={`iteration ${it}: ${c.solved} solved, ${c.hinted} via hint, ${c.wrong} wrong of ${total}`}
                      data-iteration={it}
                    >
                      <span style={{ height: pct(c.wrong), background: SOLVE_COLORS.W }} />
                      <span style={{ height: pct(c.hinted), background: SOLVE_COLORS.H }} />
                      <span style={{ height: pct(c.solved), background: SOLVE_COLORS.S }} />
                    </span>
                  );
                })}
              </span>
            </div>
            <div className="sm-axis">
              <span className="sm-label muted small">iteration</span>
              <span className="sm-bars">
                {m.iterations.map((it, i) => (
                  <span key={it} className="sm-tick" style={{ width: cellW }}>
                    {i % labelEvery === 0 ? it : ''}
                  </span>
                ))}
              </span>
            </div>
            <div className="sm-body" style={{ ['--sm-row-h' as string]: `${ROW_H}px` }}>
              <Rows
                rows={rows}
                cellW={cellW}
                selected={p.selected}
                selectedSplit={p.selectedSplit}
                onSelect={p.onSelect}
                onHover={onHover}
              />
            </div>
          </>
        ) : (
          <div className="muted small sm-empty">{p.loading ? 'loading…' : 'no samples match'}</div>
        )}
      </div>
    </Panel>
  );
}
