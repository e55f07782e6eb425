import { useEffect, useMemo, useState, type FormEvent, type ReactElement } from 'react';
import type { Catalog } from '../../../shared/contract';
import type { FieldError } from '../../../shared/experiment-config';
import { parseForm, type FormState } from '../launch-form';
import { launchOverridesExample } from '../form-examples';
import { call } from '../transport';
import { navigate, useCheckAsYouType, useLive } from '../hooks';
import { ErrorNote, Panel } from '../components/common';
import { ConfigTable } from '../components/ConfigTable';
import { ExecutorFields } from '../components/ExecutorFields';
import { parseExecutorForm, rememberedExecutor, rememberExecutor, type ExecutorFormState } from '../executor-form';

const OWN_FIELDS = ['variant', 'dataset', 'preset', 'seed'] as const;

function ErrorsFor({ errors, field }: { errors: FieldError[]; field: string }): ReactElement | null {
  const mine = errors.filter((e) => e.field === field);
  if (!mine.length) return null;
  return (
    <>
      {mine.map((e, i) => (
        <div key={i} className="field-error" data-testid={`field-error-${e.field}`}>
          {e.message}
        </div>
      ))}
    </>
  );
}

export function LaunchPage(): ReactElement {
  const catalog = useLive(() => call('catalog'), []);
  const [form, setForm] = useState<FormState>({ variant: '', dataset: '', preset: '', seed: '0', overrides: '' });
  const [submitErrors, setSubmitErrors] = useState<FieldError[] | null>(null);
  const [submitFailure, setSubmitFailure] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const [executor, setExecutor] = useState<ExecutorFormState>(() => rememberedExecutor());

  // Choose defaults once the catalog is there.
  useEffect(() => {
    const c = catalog.data;
    if (!c) return;
    setForm((f) => {
      const variant = f.variant || c.variants[0]?.id || '';
      const dataset = f.dataset || c.datasets[0]?.id || '';
      const preset = f.preset || c.presets.find((p) => c.defaults[variant]?.[dataset]?.[p]) || c.presets[0] || '';
      return { ...f, variant, dataset, preset };
    });
  }, [catalog.data]);

  const parsed = useMemo(() => {
    const p = parseForm(form);
    const x = parseExecutorForm(executor);
    return { ...p, spec: x.spec ? { ...p.spec, executor: x.spec } : p.spec, local: [...p.local, ...x.errors] };
  }, [form, executor]);
  // Validate as the user edits (debounced; nothing to validate before the catalog picked a variant).
  const {
    result: validation,
    checking: validating,
    error: checkError,
    stale,
  } = useCheckAsYouType(parsed, (p) => (p.spec.variant ? call('validateLaunch', p.spec) : null));
  const failure = submitFailure ?? checkError;
  const remoteErrors = submitErrors ?? (validation && !validation.ok ? validation.errors : []);
  const errors = [...parsed.local, ...remoteErrors];
  const overrideErrors = errors.filter((e) => !(OWN_FIELDS as readonly string[]).includes(e.field) && !e.field.startsWith('executor'));

  const update = (patch: Partial<FormState>): void => {
    setSubmitErrors(null);
    setSubmitFailure(null);
    setForm((f) => ({ ...f, ...patch }));
  };

  /** Append `key=value` to the overrides unless the key is already there. */
  const addOverride = (key: string, value: unknown): void => {
    if (parsed.lines.has(key)) return;
    const line = `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
    update({ overrides: form.overrides.trim() ? `${form.overrides.replace(/\n+$/, '')}\n${line}` : line });
  };

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    if (submitting) return;
    setSubmitFailure(null);
    if (parsed.local.length) {
      setSubmitErrors([]);
      return;
    }
    setSubmitting(true);
    try {
      const check = await call('validateLaunch', parsed.spec);
      if (!check.ok) {
        setSubmitErrors(check.errors);
        return;
      }
      const r = await call('launchRun', parsed.spec);
      if (r.ok) {
        rememberExecutor(executor);
        navigate(`/runs/${r.id}`);
      } else setSubmitErrors(r.errors);
    } catch (err) {
      setSubmitFailure((err as Error).message);
    } finally {
      setSubmitting(false);
    }
  };

  const c: Catalog | undefined = catalog.data;
  const presetDefaults = c?.defaults[form.variant]?.[form.dataset]?.[form.preset];
  const valid = !stale && !parsed.local.length && validation?.ok === true && !submitErrors?.length;
  // known to be invalid: an error found here, or the service's answer for what is in the form now
  const invalid = parsed.local.length > 0 || (!validating && !stale && errors.length > 0);

  return (
    <div className="page">
      <div className="page-head">
        <h1>New run</h1>
      </div>
      {catalog.error ? <ErrorNote>Could not load the catalog: {catalog.error}</ErrorNote> : null}
      <div className="launch-grid">
        <form className="launch-form" data-testid="launch-form" onSubmit={(e) => void submit(e)} noValidate>
          <label className="field">
            <span className="field-label">Variant</span>
            <select data-testid="field-variant" value={form.variant} onChange={(e) => update({ variant: e.target.value })}>
              {c?.variants.map((v) => (
                <option key={v.id} value={v.id}>
                  {v.label}
                </option>
              ))}
            </select>
            <ErrorsFor errors={errors} field="variant" />
          </label>
          <label className="field">
            <span className="field-label">Dataset</span>
            <select data-testid="field-dataset" value={form.dataset} onChange={(e) => update({ dataset: e.target.value })}>
              {c?.datasets.map((d) => (
                <option key={d.id} value={d.id}>
                  {d.label}
                </option>
              ))}
            </select>
            <ErrorsFor errors={errors} field="dataset" />
          </label>
          <label className="field">
            <span className="field-label">Preset</span>
            <select data-testid="field-preset" value={form.preset} onChange={(e) => update({ preset: e.target.value })}>
              {c?.presets.map((p) => (
                <option key={p} value={p} disabled={!c.defaults[form.variant]?.[form.dataset]?.[p]}>
                  {p}
                </option>
              ))}
            </select>
            <ErrorsFor errors={errors} field="preset" />
          </label>
          <label className="field">
            <span className="field-label">Seed</span>
            <input data-testid="field-seed" inputMode="numeric" value={form.seed} onChange={(e) => update({ seed: e.target.value })} />
            <ErrorsFor errors={errors} field="seed" />
          </label>
          <label className="field">
            <span className="field-label">
              Overrides{' '}
              <span className="muted">
                one <code>key=value</code> per line, e.g. <code>loop.iterations=3</code>
              </span>
            </span>
            <textarea
              data-testid="field-overrides"
              rows={7}
              spellCheck={false}
              placeholder={launchOverridesExample(form.variant)}
              value={form.overrides}
              onChange={(e) => update({ overrides: e.target.value })}
              className={overrideErrors.length ? 'invalid' : undefined}
            />
            {overrideErrors.map((e, i) => {
              const key = e.field.startsWith('overrides.') ? e.field.slice('overrides.'.length) : e.field;
              const line = parsed.lines.get(key);
              return (
                <div key={i} className="field-error" data-testid={`field-error-${e.field}`}>
                  {e.field !== 'overrides' ? <code>{key}</code> : null}
                  {line !== undefined && !e.message.startsWith('line ') ? <span className="muted"> (line {line})</span> : null}
                  {e.field !== 'overrides' ? ': ' : null}
                  {e.message}
                </div>
              );
            })}
          </label>
          <ExecutorFields
            value={executor}
            onChange={(v) => {
              setSubmitErrors(null);
              setExecutor(v);
            }}
            errors={errors}
          />
          <div className="form-actions">
            {/* disabled while the config is known to be invalid: the errors say why, beside their fields */}
            <button
              type="submit"
              className="primary"
              data-testid="launch-submit"
              disabled={submitting || !c || invalid}
              title={invalid ? 'fix the errors shown first' : undefined}
            >
              {submitting ? 'Launching…' : 'Launch'}
            </button>
            <span className="muted small" data-testid="launch-state">
              {validating || stale
                ? 'checking…'
                : valid
                  ? 'config is valid'
                  : errors.length
                    ? `${errors.length} error${errors.length === 1 ? '' : 's'}`
                    : ''}
            </span>
          </div>
          {valid && validation?.ok && validation.warnings?.length ? (
            <div className="field-warning" data-testid="launch-warnings">
              {validation.warnings.map((w, i) => (
                <div key={i} data-testid={`field-warning-${w.field}`}>
                  <strong>warning</strong> {w.message}
                </div>
              ))}
            </div>
          ) : null}
          {failure ? <ErrorNote>{failure}</ErrorNote> : null}
        </form>
        <Panel title={valid ? 'Resolved config' : 'Preset defaults'} testId="config-preview">
          <div className="muted small config-hint">
            {valid
              ? 'Changed from the preset: highlighted. '
              : presetDefaults
                ? "The launch is not valid yet; these are the preset's values. "
                : ''}
            Click a key to add it to the overrides.
          </div>
          {valid && validation?.ok ? (
            <ConfigTable
              config={validation.config as unknown as Record<string, unknown>}
              base={presetDefaults}
              onPick={addOverride}
              testId="config-preview-table"
            />
          ) : presetDefaults ? (
            <ConfigTable config={presetDefaults} onPick={addOverride} testId="config-preview-table" />
          ) : null}
        </Panel>
      </div>
    </div>
  );
}
