/** /rate: the rating tasks, the form that creates one, and the summary. */
import { runName } from '../../../../shared/run-name';
import { useEffect, useState, type ReactElement } from 'react';
import type { RunSummary } from '../../../../shared/contract';
import type { FieldError } from '../../../../shared/experiment-config';
import { call } from '../../transport';
import { useLive } from '../../hooks';
import { ErrorNote, Panel } from '../../components/common';
import { parseRatingTaskForm, type RatingTaskForm } from '../../rating-keys';
import { SummaryView, TaskTable, loadSummary } from './summary';
import { loadRater, storeRater, message } from './common';

export function runLabel(r: RunSummary): string {
  return `${runName(r)} · ${r.id}`;
}

export function FieldErrors({ errors, field }: { errors: FieldError[]; field: string }): ReactElement | null {
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

export function SourcePicker(props: {
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
        <select
          value={run}
          onChange={(e) => props.onRun(e.target.value)}
          data-testid={`rating-source-${side}-run`}
          aria-label={`source ${side.toUpperCase()} run`}
        >
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

export function todayName(): string {
  const d = new Date();
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `ratings ${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export function RateHome(): ReactElement {
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

  // Preselect two different runs once the list is in, completed ones first (a running run's
  // rationales are still changing; the researcher usually changes the choice anyway).
  const runList = runs.data ?? [];
  useEffect(() => {
    const all = runs.data;
    if (!all?.length) return;
    const done = all.filter((r) => r.status === 'completed');
    const list = done.length ? done : all;
    setForm((f) => (f.aRun || f.bRun ? f : { ...f, aRun: list[0]!.id, bRun: (list[1] ?? list[0]!).id }));
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
            <input
              type="text"
              value={form.rater}
              onChange={(e) => set('rater', e.target.value)}
              data-testid="rating-rater"
              maxLength={100}
              placeholder="your name"
            />
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
              <input
                type="checkbox"
                checked={form.onlyCorrect}
                onChange={(e) => set('onlyCorrect', e.target.checked)}
                data-testid="rating-only-correct"
              />
              <span>
                only questions both sources answered correctly <span className="muted">(judge the reasoning, not the answer)</span>
              </span>
            </label>
          </div>
          <label className="field">
            <span className="field-label">
              Number of pairs <span className="muted">at most 2000, drawn at random</span>
            </span>
            <input
              type="number"
              min={1}
              max={2000}
              step={1}
              value={form.limit}
              onChange={(e) => set('limit', e.target.value)}
              data-testid="rating-limit"
            />
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
