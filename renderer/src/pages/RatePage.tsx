/**
 * Blind rating of rationales (issue 5), as in the STaR paper's human evaluation.
 *   /rate       rating tasks, a form to create one, the summary per pair of sources, CSV export
 *   /rate/<id>  the blind rater: two rationales for one question as "Left"/"Right", keyboard-driven
 * The rater screen shows nothing of where a rationale comes from (run, variant, iteration) until
 * every pair is rated; only then does the task's summary row appear. The /rate summary and
 * export likewise cover only finished tasks unless the user reveals the ones still being rated.
 */
import { useCallback, useEffect, useRef, useState, type ReactElement, type ReactNode } from 'react';
import type { RunSummary } from '../../../shared/contract';
import type { FieldError } from '../../../shared/experiment-config';
import type { ExportFile } from '../../../shared/contract';
import type { RatingChoice, RatingItem, RatingSummaryRow, RatingTaskSummary } from '../../../shared/analysis';
import { call } from '../transport';
import { navigate, useLive } from '../hooks';
import { formatTime } from '../format';
import { saveFiles } from '../save-files';
import { ErrorNote, Panel, ProgressBar } from '../components/common';
import {
  KEY_HINTS,
  afterSave,
  arriveAt,
  finishRating,
  formatShare,
  formatWinRate,
  initialRaterState,
  isTypingTarget,
  keyToAction,
  parseRatingTaskForm,
  reduceRating,
  summaryScope,
  type RaterState,
  type RatingAction,
  type RatingTaskForm,
  type SummaryScope,
} from '../rating-keys';
import '../rate.css';

const RATER_KEY = 'starlab.rater';

function loadRater(): string {
  try {
    return window.localStorage.getItem(RATER_KEY) ?? '';
  } catch {
    return '';
  }
}

function storeRater(name: string): void {
  try {
    if (name && window.localStorage.getItem(RATER_KEY) !== name) window.localStorage.setItem(RATER_KEY, name);
  } catch {
    // storage unavailable (private mode): the name is simply not remembered
  }
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export function RatePage({ path }: { path: string }): ReactElement {
  const task = /^\/rate\/(\d{1,9})\/?$/.exec(path);
  if (task) return <Rater key={task[1]} taskId={Number(task[1])} />;
  if (/^\/rate\/?(\?.*)?$/.test(path)) return <RateHome />;
  return (
    <div className="page" data-testid="rate-page">
      <ErrorNote>
        "{path}" is not a rating page: a task's address is #/rate/&lt;number&gt;. <a href="#/rate">All rating tasks</a>
      </ErrorNote>
    </div>
  );
}

// ---------------------------------------------------------------- shared pieces

function Key({ children }: { children: ReactNode }): ReactElement {
  return <kbd className="rate-key">{children}</kbd>;
}

/** The summary rows; `taskLabels` (one per row) adds a leading task column for per-task summaries. */
function SummaryTable({ rows, taskLabels }: { rows: RatingSummaryRow[]; taskLabels?: string[] }): ReactElement {
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
            <th className="num" title="share of A's rated rationales flagged 'right answer, flawed reasoning'">flagged A</th>
            <th className="num" title="share of B's rated rationales flagged 'right answer, flawed reasoning'">flagged B</th>
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
function ExportRatings({ scope, disabled }: { scope: number | number[] | 'all'; disabled?: boolean }): ReactElement {
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
      else setNote(await saveFiles(files, typeof scope === 'number' ? `starlab-ratings-${scope}` : scope === 'all' ? 'starlab-ratings' : 'starlab-ratings-finished'));
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

function runLabel(r: RunSummary): string {
  return `${r.variant} · ${r.dataset} · seed ${r.seed} · ${r.id}`;
}

function FieldErrors({ errors, field }: { errors: FieldError[]; field: string }): ReactElement | null {
  const mine = errors.filter((e) => e.field === field);
  if (!mine.length) return null;
  return (
    <>
      {mine.map((e, i) => (
        <div key={i} className="field-error" data-testid={`rating-error-${field}`}>
          {e.message}
        </div>
      ))}
    </>
  );
}

function SourcePicker(props: {
  side: 'a' | 'b';
  runs: RunSummary[];
  run: string;
  iteration: string;
  onRun: (id: string) => void;
  onIteration: (text: string) => void;
  errors: FieldError[];
}): ReactElement {
  const { side, runs, run, iteration } = props;
  return (
    <div className="field">
      <span className="field-label">
        Source {side.toUpperCase()} <span className="muted">run · iteration (a number, or "latest" per question)</span>
      </span>
      <div className="rate-source">
        <select value={run} onChange={(e) => props.onRun(e.target.value)} data-testid={`rating-source-${side}-run`} aria-label={`source ${side.toUpperCase()} run`}>
          {run === '' ? <option value="">choose a run…</option> : null}
          {runs.map((r) => (
            <option key={r.id} value={r.id}>
              {runLabel(r)}
            </option>
          ))}
        </select>
        <input
          className="rate-iteration"
          type="text"
          value={iteration}
          placeholder="latest"
          onChange={(e) => props.onIteration(e.target.value)}
          data-testid={`rating-source-${side}-iteration`}
          aria-label={`source ${side.toUpperCase()} iteration`}
        />
      </div>
      <FieldErrors errors={props.errors} field={side} />
    </div>
  );
}

function todayName(): string {
  const d = new Date();
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `ratings ${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function RateHome(): ReactElement {
  const runs = useLive(() => call('listRuns'), []);
  const tasks = useLive(() => call('listRatingTasks'), []);
  const [reveal, setReveal] = useState(false);
  const summary = useLive(() => loadSummary(reveal), [reveal]);
  const [form, setForm] = useState<RatingTaskForm>(() => ({
    name: todayName(),
    rater: loadRater(),
    aRun: '',
    aIteration: 'latest',
    bRun: '',
    bIteration: 'latest',
    split: 'train',
    onlyCorrect: true,
    limit: '50',
  }));
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [createError, setCreateError] = useState<string | null>(null);
  const [created, setCreated] = useState<{ id: number; items: number; name: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const set = <K extends keyof RatingTaskForm>(k: K, v: RatingTaskForm[K]): void => setForm((f) => ({ ...f, [k]: v }));

  // Preselect two different runs once the list is in (the researcher usually changes them).
  const runList = runs.data ?? [];
  useEffect(() => {
    if (!runList.length) return;
    setForm((f) => (f.aRun || f.bRun ? f : { ...f, aRun: runList[0]!.id, bRun: (runList[1] ?? runList[0]!).id }));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [runs.data]);

  const create = async (): Promise<void> => {
    setCreateError(null);
    setCreated(null);
    const { args, errors: errs } = parseRatingTaskForm(form);
    setErrors(errs);
    if (!args) return;
    setBusy(true);
    try {
      const r = await call('createRatingTask', args);
      if (!r.ok) {
        setCreateError(r.message);
        return;
      }
      storeRater(args.rater);
      setCreated({ id: r.id, items: r.items, name: args.name });
      tasks.reload();
      summary.reload();
    } catch (err) {
      setCreateError(message(err));
    } finally {
      setBusy(false);
    }
  };

  const taskRows = tasks.data ?? [];
  const view = summary.data;
  return (
    <div className="page" data-testid="rate-page">
      <div className="page-head">
        <h1>Rate rationales</h1>
        <span className="muted small">blind, side by side, as the STaR paper's human evaluation</span>
      </div>
      <div className="launch-grid rate-home-grid">
        <form
          className="launch-form"
          data-testid="rating-task-form"
          onSubmit={(e) => {
            e.preventDefault();
            void create();
          }}
        >
          <label className="field">
            <span className="field-label">Name</span>
            <input type="text" value={form.name} onChange={(e) => set('name', e.target.value)} data-testid="rating-name" maxLength={200} />
            <FieldErrors errors={errors} field="name" />
          </label>
          <label className="field">
            <span className="field-label">
              Rater <span className="muted">stored with every rating</span>
            </span>
            <input type="text" value={form.rater} onChange={(e) => set('rater', e.target.value)} data-testid="rating-rater" maxLength={100} placeholder="your name" />
            <FieldErrors errors={errors} field="rater" />
          </label>
          {runs.error ? <ErrorNote>Could not load the runs: {runs.error}</ErrorNote> : null}
          {!runs.loading && !runs.error && !runList.length ? (
            <div className="warning-note">
              No runs yet: <a href="#/launch">launch one</a> first.
            </div>
          ) : null}
          <SourcePicker
            side="a"
            runs={runList}
            run={form.aRun}
            iteration={form.aIteration}
            onRun={(v) => set('aRun', v)}
            onIteration={(v) => set('aIteration', v)}
            errors={errors}
          />
          <SourcePicker
            side="b"
            runs={runList}
            run={form.bRun}
            iteration={form.bIteration}
            onRun={(v) => set('bRun', v)}
            onIteration={(v) => set('bIteration', v)}
            errors={errors}
          />
          <label className="field">
            <span className="field-label">Split</span>
            <select value={form.split} onChange={(e) => set('split', e.target.value as RatingTaskForm['split'])} data-testid="rating-split">
              <option value="train">train</option>
              <option value="eval">eval</option>
            </select>
          </label>
          <div className="field">
            <label className="check">
              <input type="checkbox" checked={form.onlyCorrect} onChange={(e) => set('onlyCorrect', e.target.checked)} data-testid="rating-only-correct" />
              <span>
                only questions both sources answered correctly <span className="muted">(judge the reasoning, not the answer)</span>
              </span>
            </label>
          </div>
          <label className="field">
            <span className="field-label">
              Number of pairs <span className="muted">at most 2000, drawn at random</span>
            </span>
            <input type="number" min={1} max={2000} step={1} value={form.limit} onChange={(e) => set('limit', e.target.value)} data-testid="rating-limit" />
            <FieldErrors errors={errors} field="limit" />
          </label>
          <div className="form-actions">
            <button type="submit" className="primary" disabled={busy} data-testid="rating-create">
              {busy ? 'Creating…' : 'Create rating task'}
            </button>
          </div>
          {createError ? (
            <div className="rate-create-error" data-testid="rating-create-error">
              <ErrorNote>Could not create the task: {createError}</ErrorNote>
            </div>
          ) : null}
          {created ? (
            <div className="rate-created" data-testid="rating-created">
              Created "{created.name}" with {created.items} pair{created.items === 1 ? '' : 's'}.{' '}
              <a href={`#/rate/${created.id}`} data-testid="rating-start">
                Start rating →
              </a>
            </div>
          ) : null}
        </form>
        <div className="stack">
          <Panel title="Rating tasks">
            {tasks.error ? <ErrorNote>Could not load the rating tasks: {tasks.error}</ErrorNote> : null}
            {tasks.loading && !tasks.data ? <div className="muted">Loading…</div> : null}
            {tasks.data && !taskRows.length ? <div className="muted">No rating task yet: create one with the form.</div> : null}
            {taskRows.length ? <TaskTable rows={taskRows} /> : null}
          </Panel>
        </div>
      </div>
      <Panel title="Summary per pair of sources">
        {summary.error ? <ErrorNote>Could not load the summary: {summary.error}</ErrorNote> : null}
        {summary.loading && !summary.data ? <div className="muted">Loading…</div> : null}
        {view ? <SummaryView view={view} reveal={reveal} onReveal={setReveal} /> : null}
      </Panel>
    </div>
  );
}

interface SummaryData {
  scope: SummaryScope;
  rows: RatingSummaryRow[];
  /** Per-task summaries: the task of each row. */
  taskLabels?: string[];
}

function taskLabel(t: Pick<RatingTaskSummary, 'id' | 'name'>): string {
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
async function loadSummary(reveal: boolean): Promise<SummaryData> {
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

function SummaryView({ view, reveal, onReveal }: { view: SummaryData; reveal: boolean; onReveal: (v: boolean) => void }): ReactElement {
  const { scope, rows } = view;
  const pending = scope.kind === 'finished' ? scope.hidden : scope.unfinished;
  return (
    <>
      {pending > 0 ? (
        <div className={`small ${scope.kind === 'finished' ? 'muted' : 'warning-note'}`} style={{ marginBottom: 8 }} data-testid="rating-hidden-note">
          {scope.kind === 'finished'
            ? `${pending} task${pending === 1 ? '' : 's'} still being rated ${pending === 1 ? 'is' : 'are'} hidden until finished (a rater could see the counts move); rows are per finished task. `
            : `Includes ${pending} task${pending === 1 ? '' : 's'} still being rated: keep it from ${pending === 1 ? 'its rater' : 'their raters'}. `}
          <label className="check">
            <input type="checkbox" checked={reveal} onChange={(e) => onReveal(e.target.checked)} data-testid="rating-reveal-unfinished" />
            <span>reveal unfinished</span>
          </label>
        </div>
      ) : null}
      {!rows.length ? <div className="muted">{scope.kind === 'finished' && !scope.taskIds.length ? 'No finished rating task yet.' : 'No ratings yet.'}</div> : null}
      {rows.length ? <SummaryTable rows={rows} taskLabels={view.taskLabels} /> : null}
      <ExportRatings scope={scope.kind === 'all' ? 'all' : scope.taskIds} disabled={!rows.length} />
    </>
  );
}

function TaskTable({ rows }: { rows: RatingTaskSummary[] }): ReactElement {
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

const CHOICE_WORDS: Record<RatingChoice, string> = {
  left: 'left better',
  right: 'right better',
  both: 'both good',
  neither: 'neither good',
};

type Phase = { kind: 'loading' } | { kind: 'missing' } | { kind: 'empty' } | { kind: 'ready' };

function Rater({ taskId }: { taskId: number }): ReactElement {
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const [item, setItem] = useState<RatingItem | null>(null);
  const [rs, setRs] = useState<RaterState | null>(null);
  const [rated, setRated] = useState(0);
  const [rater, setRater] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);

  // The keydown listener reads the latest values through this ref (no stale closures).
  const live = useRef({ rs, item, rater, busy });
  live.current = { rs, item, rater, busy };

  useEffect(() => {
    let alive = true;
    void (async () => {
      try {
        // The task's rater is the default name; getRatingItem without a position: first unrated pair.
        const [tasks, first] = await Promise.all([call('listRatingTasks'), call('getRatingItem', taskId)]);
        if (!alive) return;
        const task = tasks.find((t) => t.id === taskId);
        setRater(task?.rater ?? loadRater());
        if (!first) {
          setPhase({ kind: task ? 'empty' : 'missing' });
          return;
        }
        setItem(first);
        setRated(first.rated);
        setRs(initialRaterState(first, first.rated >= first.total));
        setPhase({ kind: 'ready' });
      } catch (err) {
        if (alive) setLoadError(message(err));
      }
    })();
    return () => {
      alive = false;
    };
  }, [taskId]);

  const fetchItem = async (position?: number): Promise<RatingItem> => {
    const it = position === undefined ? await call('getRatingItem', taskId) : await call('getRatingItem', taskId, position);
    if (!it) throw new Error(position === undefined ? 'the next pair could not be loaded' : `pair ${position + 1} could not be loaded`);
    return it;
  };

  /** Load a pair and show it (`remember`: a forward move, so `back` can return). */
  const goTo = async (base: RaterState, position: number | undefined, remember: boolean): Promise<void> => {
    const it = await fetchItem(position);
    setItem(it);
    setRated(it.rated);
    setRs(arriveAt(base, it, remember));
  };

  const dispatch = useCallback(
    async (action: RatingAction): Promise<void> => {
      const cur = live.current;
      // One request at a time: keys pressed while saving are dropped rather than applied to the wrong pair.
      if (cur.busy || !cur.rs || !cur.item) return;
      const { state: next, effect } = reduceRating(cur.rs, action, cur.item.total);
      if (effect.kind === 'none') {
        setRs(next);
        return;
      }
      const before = cur.rs;
      const total = cur.item.total;
      live.current.busy = true;
      setBusy(true);
      setError(null);
      setRs(next);
      let saved = false;
      try {
        if (effect.kind === 'save') {
          const name = cur.rater.trim();
          if (!name) throw new Error("Enter the rater's name (top right) before rating.");
          const r = await call('rateItem', {
            taskId,
            position: next.position,
            rater: name,
            choice: effect.choice,
            flagLeft: effect.flagLeft,
            flagRight: effect.flagRight,
          });
          if (!r.ok) throw new Error(r.message);
          saved = true;
          storeRater(name);
          setRated(r.rated);
          // Keep the loaded item in step with what is stored (a later flag toggle re-saves from it).
          setItem((it) => (it && it.position === next.position ? { ...it, choice: effect.choice, flagLeft: effect.flagLeft, flagRight: effect.flagRight, rated: r.rated } : it));
          if (effect.advance) {
            const where = afterSave(r.rated, total, next.position, before.choice === null);
            if (where === 'finish') setRs(finishRating(next));
            else await goTo(next, where === 'next-position' ? next.position + 1 : undefined, true);
          }
        } else {
          await goTo(next, effect.position, effect.remember);
        }
      } catch (err) {
        // A failed save leaves the pair as it was; a failed move after a save keeps the saved choice.
        if (!saved) setRs(before);
        setError(saved ? `Saved, but ${message(err)}` : `Not saved: ${message(err)}`);
      } finally {
        live.current.busy = false;
        setBusy(false);
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [taskId],
  );

  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      const t = e.target instanceof HTMLElement ? e.target : null;
      const action = keyToAction({
        key: e.key,
        typing: e.isComposing || isTypingTarget(t ? { tagName: t.tagName, type: (t as HTMLInputElement).type, isContentEditable: t.isContentEditable } : null),
        ctrlKey: e.ctrlKey,
        metaKey: e.metaKey,
        altKey: e.altKey,
        shiftKey: e.shiftKey,
        repeat: e.repeat,
      });
      if (!action) return;
      e.preventDefault();
      void dispatch(action);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [dispatch]);

  const reviewFromStart = async (): Promise<void> => {
    const cur = live.current;
    if (cur.busy || !cur.rs) return;
    live.current.busy = true;
    setBusy(true);
    setError(null);
    try {
      await goTo(cur.rs, 0, false);
    } catch (err) {
      setError(message(err));
    } finally {
      live.current.busy = false;
      setBusy(false);
    }
  };

  const head = (total: number | null): ReactElement => (
    <div className="page-head">
      <a href="#/rate" className="muted">
        Rate
      </a>
      <span className="muted">/</span>
      <h1>Blind rating · task {taskId}</h1>
      {total !== null ? (
        <div className="rate-head-progress">
          <span className="rate-progress" data-testid="rating-progress">
            {rated} / {total} rated
          </span>
          <ProgressBar done={rated} total={total} />
        </div>
      ) : null}
      <span className="muted small rate-status" aria-live="polite">
        {busy ? 'saving…' : ''}
      </span>
      <div className="spacer" />
      <label className="inline-control small rate-rater-name">
        rater
        <input
          type="text"
          value={rater}
          maxLength={100}
          placeholder="your name"
          onChange={(e) => setRater(e.target.value)}
          // Enter/Escape hand the keys back to rating.
          onKeyDown={(e) => {
            if (e.key === 'Enter' || e.key === 'Escape') e.currentTarget.blur();
          }}
          data-testid="rater-name"
        />
      </label>
    </div>
  );

  if (loadError) {
    return (
      <div className="page" data-testid="rater">
        {head(null)}
        <ErrorNote>Could not open rating task {taskId}: {loadError}</ErrorNote>
      </div>
    );
  }
  if (phase.kind === 'loading' || !item || !rs) {
    return (
      <div className="page" data-testid="rater">
        {head(null)}
        {phase.kind === 'missing' ? (
          <div className="empty" data-testid="rating-missing">
            No rating task {taskId}. <a href="#/rate">All rating tasks</a>
          </div>
        ) : phase.kind === 'empty' ? (
          <div className="empty" data-testid="rating-empty">
            Rating task {taskId} has no pairs. <a href="#/rate">All rating tasks</a>
          </div>
        ) : (
          <div className="muted">Loading…</div>
        )}
      </div>
    );
  }

  const total = item.total;
  return (
    <div className="page" data-testid="rater" aria-busy={busy}>
      {head(total)}
      {error ? <ErrorNote>{error}</ErrorNote> : null}
      {rs.done ? (
        <RatingDone taskId={taskId} total={total} busy={busy} onBack={() => void dispatch({ type: 'back' })} onReview={() => void reviewFromStart()} />
      ) : (
        <PairView item={item} rs={rs} dispatch={(a) => void dispatch(a)} />
      )}
      <div className="muted small rate-help">
        Keys: <Key>← 1</Key> left better, <Key>→ 2</Key> right better, <Key>↑ 3 b</Key> both good, <Key>↓ 4 n</Key> neither, <Key>f</Key>/<Key>j</Key> flag left/right
        "right answer, flawed reasoning", <Key>⌫ u</Key> back, <Key>[</Key>/<Key>]</Key> previous/next without rating. Choosing saves and moves to the next unrated pair.
      </div>
    </div>
  );
}

function PairView({ item, rs, dispatch }: { item: RatingItem; rs: RaterState; dispatch: (a: RatingAction) => void }): ReactElement {
  const choiceButton = (choice: RatingChoice, label: string, hint: string): ReactElement => (
    <button
      type="button"
      className={`rate-choice${rs.choice === choice ? ' chosen' : ''}`}
      aria-pressed={rs.choice === choice}
      data-testid={`rating-choose-${choice}`}
      onClick={() => dispatch({ type: 'choose', choice })}
    >
      {label}
      <Key>{hint}</Key>
    </button>
  );
  return (
    // Keyed by position: a new pair starts scrolled to its top.
    <div key={item.position}>
      <section className="panel">
        <div className="panel-body">
          <div className="muted small">
            pair {item.position + 1} of {item.total} ·{' '}
            <span data-testid="rating-current-choice">{rs.choice ? `rated: ${CHOICE_WORDS[rs.choice]}` : 'not rated yet'}</span>
          </div>
          <div className="rate-question-text" data-testid="rating-question">
            {item.question}
          </div>
          <div className="rate-gold">
            <span className="meta-label">gold answer</span>
            <span className="mono" data-testid="rating-gold">
              {item.gold}
            </span>
          </div>
        </div>
      </section>
      <div className="rate-pair">
        <RationaleCard side="left" item={item} rs={rs} dispatch={dispatch} choose={choiceButton('left', 'Left better', KEY_HINTS.left)} />
        <RationaleCard side="right" item={item} rs={rs} dispatch={dispatch} choose={choiceButton('right', 'Right better', KEY_HINTS.right)} />
      </div>
      <div className="rate-actions">
        {choiceButton('both', 'Both good', KEY_HINTS.both)}
        {choiceButton('neither', 'Neither', KEY_HINTS.neither)}
        <div className="spacer" />
        <button type="button" data-testid="rating-back" onClick={() => dispatch({ type: 'back' })}>
          Back
          <Key>{KEY_HINTS.back}</Key>
        </button>
        <button type="button" data-testid="rating-prev" disabled={item.position === 0} onClick={() => dispatch({ type: 'prev' })}>
          Previous
          <Key>{KEY_HINTS.prev}</Key>
        </button>
        <button type="button" data-testid="rating-next" disabled={item.position >= item.total - 1} onClick={() => dispatch({ type: 'next' })}>
          Next
          <Key>{KEY_HINTS.next}</Key>
        </button>
      </div>
    </div>
  );
}

function RationaleCard(props: { side: 'left' | 'right'; item: RatingItem; rs: RaterState; dispatch: (a: RatingAction) => void; choose: ReactElement }): ReactElement {
  const { side, item, rs, dispatch } = props;
  const r = item[side];
  const flagged = side === 'left' ? rs.flagLeft : rs.flagRight;
  const chosen = rs.choice === side || rs.choice === 'both';
  const rejected = rs.choice !== null && !chosen;
  const title = side === 'left' ? 'Left' : 'Right';
  return (
    <section className={`panel rate-card${chosen ? ' chosen' : ''}${rejected ? ' rejected' : ''}`} data-testid={`rating-${side}`}>
      <header className="panel-head">
        <h2>{title}</h2>
      </header>
      <div className="panel-body">
        <div className="rate-rationale" data-testid={`rating-${side}-text`}>
          {r.text || <span className="muted">(empty rationale)</span>}
        </div>
        <div className="rate-answer">
          <span className="meta-label">answer</span>{' '}
          <span className="mono" data-testid={`rating-${side}-answer`}>
            {r.answer ?? <span className="muted">none extracted</span>}
          </span>
        </div>
        <div className="rate-card-foot">
          {props.choose}
          <button
            type="button"
            className={`rate-flag${flagged ? ' on' : ''}`}
            aria-pressed={flagged}
            data-testid={`rating-flag-${side}`}
            onClick={() => dispatch({ type: 'toggleFlag', side })}
          >
            {flagged ? '⚑ ' : ''}right answer, flawed reasoning
            <Key>{side === 'left' ? KEY_HINTS.flagLeft : KEY_HINTS.flagRight}</Key>
          </button>
        </div>
      </div>
    </section>
  );
}

function RatingDone(props: { taskId: number; total: number; busy: boolean; onBack: () => void; onReview: () => void }): ReactElement {
  // Mounted only once every pair is rated, so the unblinded summary is never on screen while rating.
  const summary = useLive(() => call('ratingSummary', props.taskId), [props.taskId]);
  const rows = summary.data ?? [];
  return (
    <div className="rate-done" data-testid="rating-done">
      <h2>All {props.total} pairs rated.</h2>
      <div className="muted small rate-done-note">
        The sources are revealed below. <Key>⌫ u</Key> goes back to the last pair rated.
      </div>
      {summary.error ? <ErrorNote>Could not load the summary: {summary.error}</ErrorNote> : null}
      {summary.loading && !summary.data ? <div className="muted">Loading…</div> : null}
      {rows.length ? <SummaryTable rows={rows} /> : null}
      <ExportRatings scope={props.taskId} />
      <div className="rate-actions">
        <button type="button" disabled={props.busy} onClick={props.onBack} data-testid="rating-back">
          Back to the last pair
          <Key>{KEY_HINTS.back}</Key>
        </button>
        <button type="button" disabled={props.busy} onClick={props.onReview} data-testid="rating-review">
          Review from the first pair
        </button>
        <a href="#/rate">All rating tasks</a>
      </div>
    </div>
  );
}
