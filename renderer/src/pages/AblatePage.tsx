import { useEffect, useMemo, useState, type FormEvent, type ReactElement } from 'react';
import type { Catalog } from '../../../shared/contract';
import type { FieldError } from '../../../shared/experiment-config';
import { countRuns, formatEstimate, parseAblationForm, type AblationFormState } from '../ablation-form';
import { ExecutorFields } from '../components/ExecutorFields';
import { parseExecutorForm, rememberedExecutor, rememberExecutor, type ExecutorFormState } from '../executor-form';
import { ablationOverridesExample, ablationSweepsExample } from '../form-examples';
import { call } from '../transport';
import { navigate, useCheckAsYouType, useLive, useRunsChanged } from '../hooks';
import { ErrorNote, Panel } from '../components/common';

const OWN_FIELDS = ['name', 'variants', 'datasets', 'seeds', 'preset'];

function FieldErrors({ errors }: { errors: FieldError[] }): ReactElement | null {
  if (!errors.length) return null;
  return (
    <>
      {errors.map((e, i) => (
        <div key={i} className="field-error" data-testid={`ablate-error-${e.field}`}>
          {OWN_FIELDS.includes(e.field) || e.field === 'overrides' || e.field === 'grid' ? null : (
            <>
              <code>{e.field.replace(/^(overrides|grid)\./, '')}</code>:{' '}
            </>
          )}
          {e.message}
        </div>
      ))}
    </>
  );
}

function toggle(list: string[], id: string, on: boolean, order: string[]): string[] {
  const set = new Set(list);
  if (on) set.add(id);
  else set.delete(id);
  return order.filter((x) => set.has(x));
}

export function AblatePage(): ReactElement {
  const catalog = useLive(() => call('catalog'), []);
  const [form, setForm] = useState<AblationFormState>({
    name: '',
    variants: [],
    datasets: [],
    seeds: '0,1,2',
    preset: '',
    overrides: '',
    sweeps: '',
  });
  const [submitErrors, setSubmitErrors] = useState<FieldError[] | null>(null);
  const [submitFailure, setSubmitFailure] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [executor, setExecutor] = useState<ExecutorFormState>(() => rememberedExecutor());

  useEffect(() => {
    const c = catalog.data;
    if (!c) return;
    setForm((f) => ({ ...f, preset: f.preset || (c.presets.includes('tiny') ? 'tiny' : (c.presets[0] ?? '')) }));
  }, [catalog.data]);

  const parsed = useMemo(() => {
    const p = parseAblationForm(form);
    const x = parseExecutorForm(executor);
    return { spec: x.spec ? { ...p.spec, executor: x.spec } : p.spec, local: [...p.local, ...x.errors] };
  }, [form, executor]);
  // Plan as the user edits (debounced), and again when runs end (the estimate learns from them);
  // only specs without local errors go to the service.
  const [runsSeen, setRunsSeen] = useState(0);
  useRunsChanged(() => setRunsSeen((n) => n + 1), 2000);
  const planInput = useMemo(() => ({ ...parsed, runsSeen }), [parsed, runsSeen]);
  const {
    result: plan,
    checking: planning,
    error: checkError,
    stale,
  } = useCheckAsYouType(planInput, (p) => (p.local.length || !p.spec.preset ? null : call('planAblation', p.spec)));
  const failure = submitFailure ?? checkError;
  // errors wait until the user has touched the form: an empty form is not a mistake yet
  const [touched, setTouched] = useState(false);
  const remote = submitErrors ?? (plan && !plan.ok && !stale ? plan.errors : []);
  const errors = touched ? [...parsed.local, ...remote] : [];
  const gridKeys = new Set(Object.keys(parsed.spec.grid ?? {}));
  const bare = (f: string): string => f.replace(/^(overrides|grid)\./, '');
  const errorsFor = (field: string): FieldError[] => errors.filter((e) => e.field === field);
  const sweepErrors = errors.filter(
    (e) => e.field === 'grid' || e.field.startsWith('grid.') || (!OWN_FIELDS.includes(e.field) && gridKeys.has(bare(e.field))),
  );
  const overrideErrors = errors.filter((e) => !OWN_FIELDS.includes(e.field) && !sweepErrors.includes(e) && !e.field.startsWith('executor'));

  const count = countRuns(parsed.spec);
  const okPlan = plan?.ok && !stale && !planning ? plan : null;
  const canSubmit = !!okPlan && !parsed.local.length && !submitErrors?.length && !submitting;

  const update = (patch: Partial<AblationFormState>): void => {
    setTouched(true);
    setSubmitErrors(null);
    setSubmitFailure(null);
    setForm((f) => ({ ...f, ...patch }));
  };

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setTouched(true);
    if (submitting || parsed.local.length) return;
    setSubmitFailure(null);
    setSubmitting(true);
    try {
      const r = await call('createAblation', parsed.spec);
      if (r.ok) {
        rememberExecutor(executor);
        navigate(`/groups/${r.id}`);
      } else setSubmitErrors(r.errors);
    } catch (err) {
      setSubmitFailure((err as Error).message);
    } finally {
      setSubmitting(false);
    }
  };

  const c: Catalog | undefined = catalog.data;
  const variantOrder = c?.variants.map((v) => v.id) ?? [];
  const datasetOrder = c?.datasets.map((d) => d.id) ?? [];

  return (
    <div className="page">
      <div className="page-head">
        <h1>New ablation</h1>
        <span className="muted small">variants × datasets × seeds × every combination of the sweeps, queued as one group</span>
      </div>
      {catalog.error ? <ErrorNote>Could not load the catalog: {catalog.error}</ErrorNote> : null}
      <div className="launch-grid">
        <form className="launch-form" data-testid="ablate-form" onSubmit={(e) => void submit(e)} noValidate>
          <label className="field">
            <span className="field-label">
              Name <span className="muted">optional</span>
            </span>
            <input
              data-testid="ablate-name"
              value={form.name}
              placeholder="e.g. rationalization ablation"
              onChange={(e) => update({ name: e.target.value })}
            />
            <FieldErrors errors={errorsFor('name')} />
          </label>
          <fieldset className="field checks">
            <legend className="field-label">Variants</legend>
            {c?.variants.map((v) => (
              <label key={v.id} className="check">
                <input
                  type="checkbox"
                  data-testid={`ablate-variant-${v.id}`}
                  checked={form.variants.includes(v.id)}
                  onChange={(e) => update({ variants: toggle(form.variants, v.id, e.target.checked, variantOrder) })}
                />
                {v.label}
              </label>
            ))}
            <FieldErrors errors={errorsFor('variants')} />
          </fieldset>
          <fieldset className="field checks">
            <legend className="field-label">Datasets</legend>
            {c?.datasets.map((d) => (
              <label key={d.id} className="check">
                <input
                  type="checkbox"
                  data-testid={`ablate-dataset-${d.id}`}
                  checked={form.datasets.includes(d.id)}
                  onChange={(e) => update({ datasets: toggle(form.datasets, d.id, e.target.checked, datasetOrder) })}
                />
                {d.label}
              </label>
            ))}
            <FieldErrors errors={errorsFor('datasets')} />
          </fieldset>
          <label className="field">
            <span className="field-label">
              Seeds{' '}
              <span className="muted">
                e.g. <code>0,1,2</code> or <code>0-4</code>
              </span>
            </span>
            <input data-testid="ablate-seeds" inputMode="numeric" value={form.seeds} onChange={(e) => update({ seeds: e.target.value })} />
            <FieldErrors errors={errorsFor('seeds')} />
          </label>
          <label className="field">
            <span className="field-label">Preset</span>
            <select data-testid="ablate-preset" value={form.preset} onChange={(e) => update({ preset: e.target.value })}>
              {c?.presets.map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
            <FieldErrors errors={errorsFor('preset')} />
          </label>
          <label className="field">
            <span className="field-label">
              Common overrides{' '}
              <span className="muted">
                one <code>key=value</code> per line, applied to every run
              </span>
            </span>
            <textarea
              data-testid="ablate-overrides"
              rows={4}
              spellCheck={false}
              placeholder={ablationOverridesExample(form.variants)}
              value={form.overrides}
              onChange={(e) => update({ overrides: e.target.value })}
              className={overrideErrors.length ? 'invalid' : undefined}
            />
            <FieldErrors errors={overrideErrors} />
          </label>
          <label className="field">
            <span className="field-label">
              Sweeps{' '}
              <span className="muted">
                one <code>key=v1,v2</code> per line; every combination multiplies the runs
              </span>
            </span>
            <textarea
              data-testid="ablate-sweeps"
              rows={4}
              spellCheck={false}
              placeholder={ablationSweepsExample(form.variants)}
              value={form.sweeps}
              onChange={(e) => update({ sweeps: e.target.value })}
              className={sweepErrors.length ? 'invalid' : undefined}
            />
            <FieldErrors errors={sweepErrors} />
          </label>
          <ExecutorFields
            value={executor}
            onChange={(v) => {
              setTouched(true);
              setSubmitErrors(null);
              setExecutor(v);
            }}
            errors={errors}
          />
          <div className="form-actions">
            <button type="submit" className="primary" data-testid="ablate-submit" disabled={!canSubmit}>
              {submitting ? 'Queueing…' : `Queue ${count} run${count === 1 ? '' : 's'}`}
            </button>
            <span className="muted small" data-testid="ablate-state">
              {planning || stale
                ? 'checking…'
                : okPlan
                  ? 'plan is valid'
                  : errors.length
                    ? `${errors.length} error${errors.length === 1 ? '' : 's'}`
                    : ''}
            </span>
          </div>
          {failure ? <ErrorNote>{failure}</ErrorNote> : null}
        </form>
        <Panel title="Plan" testId="ablate-plan">
          <div className="plan-summary">
            <span className="plan-count" data-testid="ablate-plan-count">
              {count}
            </span>{' '}
            run{count === 1 ? '' : 's'}
            <span className="muted small" data-testid="ablate-estimate">
              {okPlan ? ` · ${formatEstimate(okPlan.estimatedSeconds, { known: okPlan.estimatedFrom, of: okPlan.runs.length })}` : ''}
            </span>
          </div>
          {okPlan ? (
            <ol className="plan-list" data-testid="ablate-plan-list">
              {okPlan.runs.map((r, i) => (
                <li key={i} className="mono small">
                  {r.label}
                </li>
              ))}
            </ol>
          ) : (
            <div className="muted small">{planning || stale ? 'checking…' : errors.length ? 'Fix the errors to see the runs.' : ''}</div>
          )}
        </Panel>
      </div>
    </div>
  );
}
