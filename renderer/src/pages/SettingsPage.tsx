import { useEffect, useState, type FormEvent, type ReactElement } from 'react';
import { call } from '../transport';
import { useLive } from '../hooks';
import { ErrorNote, Panel } from '../components/common';

export function SettingsPage(): ReactElement {
  const settings = useLive(() => call('getSettings'), []);
  const [python, setPython] = useState('');
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (settings.data) setPython(settings.data.pythonPath);
  }, [settings.data]);

  const save = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setMessage(null);
    setError(null);
    try {
      const s = await call('setPythonPath', python.trim());
      setPython(s.pythonPath);
      setMessage('Saved.');
      settings.reload();
    } catch (err) {
      setError((err as Error).message);
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
            <input className="mono" data-testid="python-path" value={python} onChange={(e) => setPython(e.target.value)} spellCheck={false} />
          </label>
          <div className="form-actions">
            <button type="submit" disabled={!python.trim() || python === settings.data?.pythonPath}>
              Save
            </button>
            {message ? <span className="muted small">{message}</span> : null}
          </div>
          {error ? <ErrorNote>{error}</ErrorNote> : null}
        </form>
        <dl className="kv">
          <dt>data directory</dt>
          <dd className="mono" data-testid="data-dir">
            {settings.data?.dataDir ?? '—'}
          </dd>
          <dt>stop grace period</dt>
          <dd>{settings.data ? `${settings.data.stopGraceMs / 1000} s` : '—'}</dd>
        </dl>
      </Panel>
    </div>
  );
}
