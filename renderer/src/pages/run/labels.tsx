/** A run's name, tags and notes on its page: shown under the header, edited in place (editRun). */
import { useState, type ReactElement } from 'react';
import { runLabelsPatch, type RunDetail } from '../../../../shared/contract';
import { runName } from '../../../../shared/run-name';
import { call } from '../../transport';

const splitTags = (text: string): string[] =>
  text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

export function RunLabels({ run, onChanged }: { run: RunDetail; onChanged: () => void }): ReactElement {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState('');
  const [tags, setTags] = useState('');
  const [notes, setNotes] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const defaultName = runName({ ...run, name: null });

  const open = (): void => {
    setName(run.name ?? '');
    setTags(run.tags.join(', '));
    setNotes(run.notes ?? '');
    setError(null);
    setEditing(true);
  };
  const patch = runLabelsPatch.safeParse({ name: name.trim() ? name : null, tags: splitTags(tags), notes: notes.trim() ? notes : null });
  const problem = patch.success ? null : patch.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  const save = async (): Promise<void> => {
    if (!patch.success) return;
    setSaving(true);
    try {
      const r = await call('editRun', run.id, patch.data);
      if (r.ok) {
        setEditing(false);
        onChanged();
      } else setError(r.message);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setSaving(false);
    }
  };

  if (!editing)
    return (
      <div className="run-labels" data-testid="run-labels">
        {run.tags.map((t) => (
          <span key={t} className="tag-chip" data-testid="run-tag">
            {t}
          </span>
        ))}
        {run.notes ? (
          <span className="run-notes" data-testid="run-notes">
            {run.notes}
          </span>
        ) : null}
        <button type="button" className="small-button" onClick={open} data-testid="edit-labels">
          {run.tags.length || run.notes || run.name ? 'edit name, tags, notes' : 'name, tag or note this run'}
        </button>
      </div>
    );
  return (
    <form
      className="run-labels-form"
      data-testid="labels-form"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <label>
        name
        <input type="text" value={name} placeholder={defaultName} onChange={(e) => setName(e.target.value)} data-testid="labels-name" />
      </label>
      <label>
        tags
        <input type="text" value={tags} placeholder="comma-separated" onChange={(e) => setTags(e.target.value)} data-testid="labels-tags" />
      </label>
      <label className="wide">
        notes
        <textarea value={notes} rows={3} onChange={(e) => setNotes(e.target.value)} data-testid="labels-notes" />
      </label>
      {problem ? (
        <div className="error-text small" data-testid="labels-problem">
          {problem}
        </div>
      ) : null}
      {error ? <div className="error-text small">{error}</div> : null}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={!patch.success || saving} data-testid="labels-save">
          {saving ? 'Saving…' : 'Save'}
        </button>
        <button type="button" onClick={() => setEditing(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
