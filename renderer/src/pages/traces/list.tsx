/** The traces page's results list: one page of trace rows with its pager, each rationale collapsible. */
import { promptNote, readableQuestion } from '../../task-display';
import { useState, type ReactElement } from 'react';
import type { CommandResults, TraceRow } from '../../../../shared/contract';
import { Panel } from '../../components/common';
import type { KeptLive } from '../../components/TraceCompare';
import { isSelectedQuestion, pageCount } from '../../traces-query';

/** Rationales longer than this start collapsed. */
const COLLAPSE_CHARS = 240;

function Rationale({ text, expanded, onToggle }: { text: string; expanded: boolean; onToggle: () => void }): ReactElement {
  const long = text.length > COLLAPSE_CHARS || text.split('\n').length > 4;
  if (!long) return <div className="trace-rationale mono">{text}</div>;
  return (
    <div className={`trace-rationale mono${expanded ? '' : ' collapsed'}`}>
      {expanded ? text : `${text.slice(0, COLLAPSE_CHARS).split('\n').slice(0, 4).join('\n')}…`}{' '}
      <button
        type="button"
        className="linkish trace-more"
        data-testid="trace-toggle"
        onClick={(e) => {
          e.stopPropagation();
          onToggle();
        }}
      >
        {expanded ? 'less' : `more (${text.length} chars)`}
      </button>
    </div>
  );
}

function TraceTableRow({
  row,
  selected,
  expanded,
  onToggle,
  onSelect,
}: {
  row: TraceRow;
  selected: boolean;
  expanded: boolean;
  onToggle: () => void;
  onSelect: () => void;
}): ReactElement {
  return (
    <tr
      className={`clickable${selected ? ' selected' : ''}`}
      data-testid="trace-row"
      data-question-id={row.questionId}
      data-iteration={row.iteration}
      data-kind={row.kind}
      data-correct={row.correct ? '1' : '0'}
      onClick={onSelect}
    >
      <td className="trace-q">
        <div className="mono">{row.questionId}</div>
        <div className="muted small ellipsis" title={promptNote(row.question) ?? row.question}>
          {readableQuestion(row.question)}
        </div>
      </td>
      <td className="num">{row.iteration}</td>
      <td>
        {row.kind}
        {row.split === 'eval' ? <span className="muted"> (eval)</span> : null}
      </td>
      <td>
        {row.hintUsed ? (
          <span className="trace-hint" data-testid="trace-hint">
            hint
          </span>
        ) : null}
      </td>
      <td className="num mono">
        <span className={row.correct ? 'trace-ok' : 'trace-wrong'}>{row.answer ?? '—'}</span>
        <span className="muted"> / {row.gold}</span>
      </td>
      <td className={row.correct ? 'trace-ok' : 'trace-wrong'} data-testid="trace-correct">
        {row.correct ? '✓' : '✗'}
      </td>
      <td className="trace-rationale-cell">
        <Rationale text={row.text} expanded={expanded} onToggle={onToggle} />
      </td>
    </tr>
  );
}

export interface TraceListProps {
  /** The current page of traces (kept on show, dimmed, while the next arguments load). */
  list: KeptLive<CommandResults['getTraces']>;
  page: number;
  pageSize: number;
  /** The question open in the compare panel: its rows are marked. */
  question: string | null;
  qsplit: string | null;
  onPage: (page: number) => void;
  onSelect: (questionId: string, split: string) => void;
}

export function TraceList({ list, page, pageSize, question, qsplit, onPage, onSelect }: TraceListProps): ReactElement {
  const [expanded, setExpanded] = useState<ReadonlySet<number>>(new Set());
  const toggle = (rowId: number): void =>
    setExpanded((s) => {
      const next = new Set(s);
      if (!next.delete(rowId)) next.add(rowId);
      return next;
    });

  const total = list.data?.total ?? 0;
  // a search matching very many rows is counted up to a cap: total is then a lower bound
  const capped = list.data?.totalCapped === true;
  const rows = list.data?.rows ?? [];
  const pages = pageCount(total, pageSize);
  const listStale = list.data !== undefined && !list.current;
  const listLoading = !list.current && list.error === null;

  return (
    <Panel
      title="Traces"
      testId="traces-list"
      actions={
        <>
          <span data-testid="traces-total" data-total={total} data-current={list.current ? '1' : '0'}>
            {list.data === undefined && listLoading
              ? 'loading…'
              : capped
                ? `${total.toLocaleString('en-US')}+ traces`
                : `${total} trace${total === 1 ? '' : 's'}`}
          </span>
          <button type="button" className="small-button" data-testid="traces-prev" disabled={page === 0} onClick={() => onPage(page - 1)}>
            ‹ prev
          </button>
          <span className="muted" data-testid="traces-page-of">
            page {Math.min(page + 1, pages)} of {pages}
            {capped ? '+' : ''}
          </span>
          <button
            type="button"
            className="small-button"
            data-testid="traces-next"
            disabled={page + 1 >= pages && !(capped && rows.length === pageSize)}
            onClick={() => onPage(page + 1)}
          >
            next ›
          </button>
        </>
      }
    >
      {list.error ? <div className="field-error">{list.error}</div> : null}
      {rows.length ? (
        <div className={`traces-scroll${listStale ? ' traces-stale' : ''}`} aria-busy={listStale ? true : undefined}>
          <table className="table compact traces-table">
            <thead>
              <tr>
                <th>question</th>
                <th className="num">it</th>
                <th>kind</th>
                <th>hint</th>
                <th className="num">answer / gold</th>
                <th>ok</th>
                <th>rationale</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <TraceTableRow
                  key={r.id}
                  row={r}
                  selected={isSelectedQuestion(question, qsplit, r)}
                  expanded={expanded.has(r.id)}
                  onToggle={() => toggle(r.id)}
                  onSelect={() => onSelect(r.questionId, r.split)}
                />
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <div className="muted small traces-empty">
          {listLoading ? 'loading…' : page > 0 && total > 0 ? 'No traces on this page.' : 'No traces match these filters.'}
        </div>
      )}
    </Panel>
  );
}
