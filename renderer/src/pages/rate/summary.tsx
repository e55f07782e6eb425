/** The rating summary: per pair of sources the wins and win rate, per task its progress; CSV export. */
import { useState, type ReactElement } from 'react';
import type { ExportFile } from '../../../../shared/contract';
import type { RatingSummaryRow, RatingTaskSummary } from '../../../../shared/analysis';
import { call } from '../../transport';
import { navigate } from '../../hooks';
import { formatTime } from '../../format';
import { saveFiles } from '../../save-files';
import { ErrorNote, ProgressBar } from '../../components/common';
import { formatShare, formatWinRate, summaryScope, type SummaryScope } from '../../rating-keys';
import { message } from './common';

export function SummaryTable({ rows, taskLabels }: { rows: RatingSummaryRow[]; taskLabels?: string[] }): ReactElement {
  return (
    <div className="rate-summary-wrap">
      <table className="table compact runs-table rate-summary" data-testid="rating-summary">
        <thead>
          <tr>
            {taskLabels ? <th>task</th> : null}
            <th>source A</th>
            <th>source B</th>
            <th>split</th>
            <th className="num">n</th>
            <th className="num">A wins</th>
            <th className="num">B wins</th>
            <th className="num">both</th>
            <th className="num">neither</th>
            <th className="num" title="A's wins over the decided pairs (both/neither left out), with its Wilson 95% interval">
              win rate A [95% CI]
            </th>
            <th className="num" title="share of A's rated rationales flagged 'right answer, flawed reasoning'">
              flagged A
            </th>
            <th className="num" title="share of B's rated rationales flagged 'right answer, flawed reasoning'">
              flagged B
            </th>
            <th>raters</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={`${r.a}\u0000${r.b}\u0000${r.split}\u0000${i}`} data-testid="rating-summary-row">
              {taskLabels ? <td>{taskLabels[i] ?? ''}</td> : null}
              <td className="source" title={r.a}>
                {r.a}
              </td>
              <td className="source" title={r.b}>
                {r.b}
              </td>
              <td>{r.split}</td>
              <td className="num">{r.n}</td>
              <td className="num">{r.winsA}</td>
              <td className="num">{r.winsB}</td>
              <td className="num">{r.both}</td>
              <td className="num">{r.neither}</td>
              <td className="num" data-testid="rating-win-rate">
                {formatWinRate(r)}
              </td>
              <td className="num">{formatShare(r.flaggedShareA)}</td>
              <td className="num">{formatShare(r.flaggedShareB)}</td>
              <td>{r.raters.join(', ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The CSV files of these tasks (one each), or of every rating ('all'); a task that fails names itself. */
async function exportFiles(scope: number[] | 'all'): Promise<ExportFile[]> {
  if (scope === 'all') {
    const r = await call('exportRatings');
    if (!r.ok) throw new Error(r.message);
    return r.files;
  }
  const results = await Promise.all(scope.map(async (id) => ({ id, r: await call('exportRatings', id) })));
  const files: ExportFile[] = [];
  for (const { id, r } of results) {
    if (!r.ok) throw new Error(`task ${id}: ${r.message}`);
    files.push(...r.files);
  }
  return files;
}

/**
 * "Export CSV", unblinded, saved through the dialog or downloaded: one task's ratings, the
 * given tasks' (one file each), or every rating ('all').
 */
export function ExportRatings({ scope, disabled }: { scope: number | number[] | 'all'; disabled?: boolean }): ReactElement {
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const go = async (): Promise<void> => {
    setBusy(true);
    setNote(null);
    setError(null);
    try {
      const files = await exportFiles(typeof scope === 'number' ? [scope] : scope);
      if (!files.length) setError('Export failed: the service returned no file.');
      else
        setNote(
          await saveFiles(
            files,
            typeof scope === 'number' ? `starlab-ratings-${scope}` : scope === 'all' ? 'starlab-ratings' : 'starlab-ratings-finished',
          ),
        );
    } catch (err) {
      setError(`Export failed: ${message(err)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <div className="rate-export-row">
        <button type="button" data-testid="rating-export" disabled={busy || disabled} onClick={() => void go()}>
          {busy ? 'Exporting…' : 'Export CSV'}
        </button>
        {note ? (
          <span className="muted small" data-testid="rating-export-message">
            {note}
          </span>
        ) : null}
      </div>
      {error ? <ErrorNote>{error}</ErrorNote> : null}
    </>
  );
}

// ---------------------------------------------------------------- /rate

export interface SummaryData {
  scope: SummaryScope;
  rows: RatingSummaryRow[];
  /** Per-task summaries: the task of each row. */
  taskLabels?: string[];
}

export function taskLabel(t: Pick<RatingTaskSummary, 'id' | 'name'>): string {
  return `${t.name} (#${t.id})`;
}

async function perTaskSummary(tasks: RatingTaskSummary[], scope: Extract<SummaryScope, { kind: 'finished' }>): Promise<SummaryData> {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const parts = await Promise.all(scope.taskIds.map((id) => call('ratingSummary', id)));
  const rows: RatingSummaryRow[] = [];
  const taskLabels: string[] = [];
  parts.forEach((part, i) => {
    const id = scope.taskIds[i]!;
    const t = byId.get(id);
    for (const row of part) {
      rows.push(row);
      taskLabels.push(t ? taskLabel(t) : `#${id}`);
    }
  });
  return { scope, rows, taskLabels };
}

/**
 * The /rate summary within its blinding scope (see summaryScope): the summary over every task
 * when all are finished or `reveal`, else one per finished task.
 */
export async function loadSummary(reveal: boolean): Promise<SummaryData> {
  const tasks = await call('listRatingTasks');
  const scope = summaryScope(tasks, reveal);
  if (scope.kind === 'finished') return perTaskSummary(tasks, scope);
  const rows = await call('ratingSummary');
  if (reveal) return { scope, rows };
  // A task created and rated between the two calls would be in the merged rows: check again.
  const again = await call('listRatingTasks');
  const now = summaryScope(again, false);
  return now.kind === 'finished' ? perTaskSummary(again, now) : { scope, rows };
}

export function SummaryView({
  view,
  reveal,
  onReveal,
}: {
  view: SummaryData;
  reveal: boolean;
  onReveal: (v: boolean) => void;
}): ReactElement {
  const { scope, rows } = view;
  const pending = scope.kind === 'finished' ? scope.hidden : scope.unfinished;
  return (
    <>
      {pending > 0 ? (
        <div
          className={`small ${scope.kind === 'finished' ? 'muted' : 'warning-note'}`}
          style={{ marginBottom: 8 }}
          data-testid="rating-hidden-note"
        >
          {scope.kind === 'finished'
            ? `${pending} task${pending === 1 ? '' : 's'} still being rated ${pending === 1 ? 'is' : 'are'} hidden until finished (a rater could see the counts move); rows are per finished task. `
            : `Includes ${pending} task${pending === 1 ? '' : 's'} still being rated: keep it from ${pending === 1 ? 'its rater' : 'their raters'}. `}
          <label className="check">
            <input type="checkbox" checked={reveal} onChange={(e) => onReveal(e.target.checked)} data-testid="rating-reveal-unfinished" />
            <span>reveal unfinished</span>
          </label>
        </div>
      ) : null}
      {!rows.length ? (
        <div className="muted">
          {scope.kind === 'finished' && !scope.taskIds.length ? 'No finished rating task yet.' : 'No ratings yet.'}
        </div>
      ) : null}
      {rows.length ? <SummaryTable rows={rows} taskLabels={view.taskLabels} /> : null}
      <ExportRatings scope={scope.kind === 'all' ? 'all' : scope.taskIds} disabled={!rows.length} />
    </>
  );
}

export function TaskTable({ rows }: { rows: RatingTaskSummary[] }): ReactElement {
  return (
    <table className="table compact rate-tasks">
      <thead>
        <tr>
          <th>name</th>
          <th>rater</th>
          <th>split</th>
          <th className="progress-col">rated</th>
          <th>created</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        {rows.map((t) => {
          const complete = t.items > 0 && t.rated >= t.items;
          return (
            <tr key={t.id} data-testid="rating-task" data-task-id={t.id} className="clickable" onClick={() => navigate(`/rate/${t.id}`)}>
              <td>{t.name}</td>
              <td>{t.rater}</td>
              <td>{t.split}</td>
              <td className="progress-col">
                <div className="rate-task-progress">
                  <span className="num" data-testid="rating-task-progress">
                    {t.rated} / {t.items}
                  </span>
                  <ProgressBar done={t.rated} total={t.items} />
                </div>
              </td>
              <td className="muted">{formatTime(t.createdAt)}</td>
              <td className="actions">
                <a href={`#/rate/${t.id}`} onClick={(e) => e.stopPropagation()} data-testid="rating-continue">
                  {complete ? 'review' : t.rated ? 'continue' : 'start'}
                </a>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

// ---------------------------------------------------------------- /rate/<id>
