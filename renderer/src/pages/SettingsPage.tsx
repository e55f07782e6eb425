import { useEffect, useState, type FormEvent, type ReactElement } from 'react';
import { call } from '../transport';
import { useLive } from '../hooks';
import { ErrorNote, Panel } from '../components/common';
import { DataPanel } from '../components/DataPanel';
import { parseGpuSlots, parseMaxConcurrent } from '../ablation-form';
import type { PythonCheckResult, Settings } from '../../../shared/contract';

export function SettingsPage(): ReactElement {
  const settings = useLive(() => call('getSettings'), []);
  const [python, setPythonRaw] = useState('');
  const [pythonDirty, setPythonDirty] = useState(false); // an unsaved edit: keep it when settings (re)load
  const [pythonError, setPythonError] = useState<string | null>(null); // why the interpreter was refused (nothing saved)
  const setPython = (v: string): void => (setPythonRaw(v), setPythonDirty(true), setPythonError(null));
  const [pythonPending, setPythonPending] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (settings.data && !pythonDirty) setPythonRaw(settings.data.pythonPath);
  }, [settings.data, pythonDirty]);

  const save = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setMessage(null);
    setError(null);
    setPythonError(null);
    setPythonPending(true);
    try {
      // the interpreter is checked (run once, importing torch) before it is saved
      const r = await call('setPythonPath', python.trim());
      if (!r.ok) {
        setPythonError(r.errors.map((x) => x.message).join('; '));
        return;
      }
      setPythonRaw(r.settings.pythonPath);
      setPythonDirty(false);
      setMessage('Saved.');
      settings.reload();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setPythonPending(false);
    }
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Settings</h1>
      </div>
      {settings.error ? <ErrorNote>{settings.error}</ErrorNote> : null}
      <Panel title="Environment">
        <form className="settings-form" onSubmit={(e) => void save(e)}>
          <label className="field">
            <span className="field-label">Python interpreter used for new runs</span>
            <input
              className="mono"
              data-testid="python-path"
              value={python}
              onChange={(e) => setPython(e.target.value)}
              spellCheck={false}
            />
            {pythonError ? (
              <div className="field-error" data-testid="python-path-error">
                {pythonError}
              </div>
            ) : null}
          </label>
          <div className="form-actions">
            <button
              type="submit"
              data-testid="python-save"
              disabled={pythonPending || !python.trim() || python === settings.data?.pythonPath}
              title="An absolute path to an executable interpreter; it is checked (torch, transformers, peft) before it is saved"
            >
              {pythonPending ? 'Checking…' : 'Save'}
            </button>
            {message ? <span className="muted small">{message}</span> : null}
          </div>
          {error ? <ErrorNote>{error}</ErrorNote> : null}
        </form>
        <PythonCheck path={python.trim()} />
        <dl className="kv">
          <dt>data directory</dt>
          <dd className="mono" data-testid="data-dir">
            {settings.data?.dataDir ?? '—'}
          </dd>
          <dt>stop grace period</dt>
          <dd>{settings.data ? `${settings.data.stopGraceMs / 1000} s` : '—'}</dd>
        </dl>
      </Panel>
      <QueuePanel settings={settings.data} onSaved={settings.reload} />
      <DataPanel />
      <DatasetsPanel />
    </div>
  );
}

/** "Python 3.11.2 (/usr/bin/python3), torch 2.4.0, transformers 4.46.0, peft 0.13.0" */
export function describePythonCheck(r: Extract<PythonCheckResult, { ok: true }>): string {
  const modules = Object.entries(r.modules).map(([name, version]) => `${name} ${version}`);
  return [`Python ${r.version} (${r.executable})`, ...modules].join(', ');
}

/**
 * The interpreter preflight on demand: the path in the box (saved or not; empty: the
 * interpreter new runs use now). Only on click: importing torch takes seconds the first time.
 */
function PythonCheck({ path }: { path: string }): ReactElement {
  const [pending, setPending] = useState(false);
  const [result, setResult] = useState<PythonCheckResult | null>(null);
  // a verdict is about the path it checked: editing the box drops it (an old green OK must not
  // stand beside a path nobody checked)
  const [checked, setChecked] = useState(path);
  if (checked !== path) {
    setChecked(path);
    setResult(null);
  }
  const check = async (): Promise<void> => {
    setPending(true);
    setResult(null);
    try {
      setResult(await call('checkPython', ...(path ? [path] : [])));
    } catch (err) {
      setResult({ ok: false, python: '', message: (err as Error).message });
    } finally {
      setPending(false);
    }
  };
  return (
    <div className="python-check">
      <div className="form-actions">
        <button
          type="button"
          data-testid="python-check"
          disabled={pending}
          onClick={() => void check()}
          title="Run the interpreter in the box (empty: the one new runs use) and import torch, transformers and peft"
        >
          Check interpreter
        </button>
        {pending ? <span className="muted small">checking…</span> : null}
        {result?.ok ? (
          <span className="small python-check-ok" data-testid="python-check-result" data-ok="true">
            {describePythonCheck(result)}
          </span>
        ) : null}
      </div>
      {result && !result.ok ? (
        <div data-testid="python-check-result" data-ok="false" className="python-check-error">
          {result.message}
        </div>
      ) : null}
    </div>
  );
}

/** Where GSM8K and CommonsenseQA are found, and importing a user's JSONL or CSV files. */
function DatasetsPanel(): ReactElement {
  const datasets = useLive(() => call('listDatasets'), []);
  const [dataset, setDataset] = useState<'gsm8k' | 'commonsenseqa'>('gsm8k');
  const [train, setTrain] = useState('');
  const [evalPath, setEvalPath] = useState('');
  const [pending, setPending] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; message: string } | null>(null);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setPending(true);
    setResult(null);
    try {
      const r = await call('importDataset', { dataset, train: train.trim(), eval: evalPath.trim() });
      setResult(r);
      if (r.ok) datasets.reload();
    } catch (err) {
      setResult({ ok: false, message: (err as Error).message });
    } finally {
      setPending(false);
    }
  };

  return (
    <Panel title="Datasets">
      <table className="table compact" data-testid="datasets-table">
        <thead>
          <tr>
            <th>dataset</th>
            <th>found in</th>
          </tr>
        </thead>
        <tbody>
          {(datasets.data ?? []).map((d) => (
            <tr key={d.id} data-testid={`dataset-row-${d.id}`} data-found={d.dir ? 'yes' : 'no'}>
              <td>{d.label}</td>
              <td className="mono small" title={`searched: ${d.searched.join(', ')}`}>
                {d.dir ?? <span className="muted">not found locally (a run would try the Hugging Face hub)</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="settings-form" onSubmit={(e) => void submit(e)} data-testid="import-form">
        <div className="muted small">
          Import JSONL or CSV files (GSM8K: <code>train.jsonl</code> + <code>test.jsonl</code>; CommonsenseQA:{' '}
          <code>train_rand_split.jsonl</code> + <code>dev_rand_split.jsonl</code>; CSV/TSV with a header row: GSM8K <code>question</code>,{' '}
          <code>answer</code>; CommonsenseQA <code>id</code>, <code>question</code>, <code>answerKey</code>, <code>A</code>…<code>E</code>{' '}
          or <code>choices</code>). Every line is checked; the files are copied (CSV converted to JSONL) into the data directory.
        </div>
        <label className="field">
          <span className="field-label">Dataset</span>
          <select data-testid="import-dataset" value={dataset} onChange={(e) => setDataset(e.target.value as 'gsm8k' | 'commonsenseqa')}>
            <option value="gsm8k">GSM8K</option>
            <option value="commonsenseqa">CommonsenseQA</option>
          </select>
        </label>
        <label className="field">
          <span className="field-label">Training split (path on this machine)</span>
          <input className="mono" data-testid="import-train" value={train} onChange={(e) => setTrain(e.target.value)} spellCheck={false} />
        </label>
        <label className="field">
          <span className="field-label">Evaluation split (GSM8K test, CommonsenseQA dev)</span>
          <input
            className="mono"
            data-testid="import-eval"
            value={evalPath}
            onChange={(e) => setEvalPath(e.target.value)}
            spellCheck={false}
          />
        </label>
        <div className="form-actions">
          <button type="submit" data-testid="import-submit" disabled={pending || !train.trim() || !evalPath.trim()}>
            {pending ? 'Importing…' : 'Import'}
          </button>
          {result?.ok ? (
            <span className="muted small" data-testid="import-result">
              {result.message}
            </span>
          ) : null}
        </div>
        {result && !result.ok ? <ErrorNote>{result.message}</ErrorNote> : null}
      </form>
    </Panel>
  );
}

/** How many queued runs start at once, and the GPUs they are spread over. */
function QueuePanel({ settings, onSaved }: { settings: Settings | undefined; onSaved: () => void }): ReactElement {
  const [max, setMaxRaw] = useState('');
  const [gpus, setGpusRaw] = useState('');
  // edited and not saved yet: settings arriving (or reloading) later must not overwrite the user's input
  const [dirty, setDirty] = useState(false);
  const setMax = (v: string): void => (setMaxRaw(v), setDirty(true));
  const setGpus = (v: string): void => (setGpusRaw(v), setDirty(true));
  const [pending, setPending] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!settings || dirty) return;
    setMaxRaw(String(settings.maxConcurrent ?? 0));
    setGpusRaw((settings.gpuSlots ?? []).join(' '));
  }, [settings, dirty]);

  const m = parseMaxConcurrent(max);
  const g = parseGpuSlots(gpus);
  const changed = !!settings && (m.value !== settings.maxConcurrent || g.slots.join(' ') !== (settings.gpuSlots ?? []).join(' '));

  const save = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    if (m.error || g.error) return;
    setPending(true);
    setMessage(null);
    setError(null);
    try {
      const s = await call('setQueueSettings', { maxConcurrent: m.value, gpuSlots: g.slots });
      setMaxRaw(String(s.maxConcurrent));
      setGpusRaw(s.gpuSlots.join(' '));
      setDirty(false);
      setMessage('Saved.');
      onSaved();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setPending(false);
    }
  };

  return (
    <Panel title="Queue" testId="queue-panel">
      <form className="settings-form" onSubmit={(e) => void save(e)} data-testid="queue-form">
        <div className="muted small">
          Queued runs (ablations) start while the app is open, at most this many at once. With GPU slots, each started run gets a free slot
          as its <code>CUDA_VISIBLE_DEVICES</code>.
        </div>
        <label className="field">
          <span className="field-label">
            Runs at once <span className="muted">0: no limit</span>
          </span>
          <input data-testid="queue-max" type="number" min={0} max={1024} step={1} value={max} onChange={(e) => setMax(e.target.value)} />
          {m.error ? (
            <div className="field-error" data-testid="queue-max-error">
              {m.error}
            </div>
          ) : null}
        </label>
        <label className="field">
          <span className="field-label">
            GPU slots{' '}
            <span className="muted">
              space-separated <code>CUDA_VISIBLE_DEVICES</code> values, e.g. <code>0 1</code> or <code>0,1 2,3</code>; empty: none
            </span>
          </span>
          <input className="mono" data-testid="queue-gpus" value={gpus} onChange={(e) => setGpus(e.target.value)} spellCheck={false} />
          {g.error ? (
            <div className="field-error" data-testid="queue-gpus-error">
              {g.error}
            </div>
          ) : null}
        </label>
        <div className="form-actions">
          <button type="submit" data-testid="queue-save" disabled={pending || !settings || !!m.error || !!g.error || !changed}>
            {pending ? 'Saving…' : 'Save'}
          </button>
          {message ? (
            <span className="muted small" data-testid="queue-saved">
              {message}
            </span>
          ) : null}
        </div>
        {error ? <ErrorNote>{error}</ErrorNote> : null}
      </form>
    </Panel>
  );
}
