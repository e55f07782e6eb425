/** The runs table's Archive / Unarchive and Delete for the ticked runs; Delete asks first. */
import { useState, type ReactElement } from 'react';
import { ACTIVE_STATUSES, type RunSummary } from '../../../../shared/contract';
import { call } from '../../transport';

export function ArchiveDelete({ runs, onChanged }: { runs: RunSummary[]; onChanged: () => void }): ReactElement {
  const [asking, setAsking] = useState(false);
  const [pending, setPending] = useState(false);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const ids = runs.map((r) => r.id);
  const n = ids.length;
  const active = runs.filter((r) => ACTIVE_STATUSES.includes(r.status)).length;
  const allArchived = runs.every((r) => r.archived);
  const act = async (f: () => Promise<{ ok: boolean; message: string }>): Promise<void> => {
    setPending(true);
    setNote(null);
    try {
      const r = await f();
      setNote({ ok: r.ok, text: r.message });
    } catch (err) {
      setNote({ ok: false, text: (err as Error).message });
    } finally {
      setPending(false);
      onChanged();
    }
  };
  return (
    <span className="bulk-lifecycle">
      <button
        type="button"
        disabled={pending}
        data-testid="bulk-archive"
        onClick={() => void act(() => call('archiveRuns', ids, !allArchived))}
      >
        {allArchived ? 'Unarchive' : 'Archive'}
      </button>
      {asking ? (
        <span className="stop-confirm" data-testid="bulk-delete-confirm-box">
          Delete {n} run{n === 1 ? '' : 's'}? Their rows leave the database; their directories move to the data directory’s trash folder.
          {active ? ` ${active} still going will be kept: stop them first.` : ''}
          <button
            type="button"
            className="danger"
            data-testid="bulk-delete-confirm"
            autoFocus
            onClick={() => {
              setAsking(false);
              void act(() => call('deleteRuns', ids));
            }}
          >
            Delete {n} run{n === 1 ? '' : 's'}
          </button>
          <button type="button" data-testid="bulk-delete-cancel" onClick={() => setAsking(false)}>
            Cancel
          </button>
        </span>
      ) : (
        <button type="button" className="danger" disabled={pending} data-testid="bulk-delete" onClick={() => setAsking(true)}>
          Delete…
        </button>
      )}
      {note ? (
        <span className={`small ${note.ok ? 'muted' : 'error-text'}`} data-testid="bulk-lifecycle-note">
          {note.text}
        </span>
      ) : null}
    </span>
  );
}
