/**
 * Settings → Data: where the database is, whether it passed its integrity check, run
 * directories it does not know (with "Reindex", which puts them back), backups (with a
 * "Back up now" button), exported run bundles, and importing a bundle by path. Every action
 * has a command line equivalent, named at the bottom.
 */
import { useEffect, useState, type FormEvent, type ReactElement } from 'react';
import type { CommandResults, DataFile, DatabaseHealth } from '../../../shared/contract';
import { call, getTransport } from '../transport';
import { useLive } from '../hooks';
import { formatBytes, formatTime } from '../format';
import { ErrorNote, Panel } from './common';

/** How many backups and bundles are listed (the directories may hold many more). */
const LATEST = 5;

type BackupResult = CommandResults['backupNow'];
type ImportResult = CommandResults['importRunBundle'];
type ReindexResult = CommandResults['reindexRuns'];

export function DataPanel(): ReactElement {
  const info = useLive(() => call('getDataInfo'), []);
  // The integrity check may still be running when the page opens: follow its event.
  const [pushedHealth, setPushedHealth] = useState<DatabaseHealth | null>(null);
  useEffect(() => getTransport().on('databaseHealth', (h) => setPushedHealth(h)), []);
  const health = pushedHealth ?? info.data?.health ?? null;

  const [backingUp, setBackingUp] = useState(false);
  const [backup, setBackup] = useState<BackupResult | null>(null);
  const backupNow = async (): Promise<void> => {
    setBackingUp(true);
    setBackup(null);
    try {
      setBackup(await call('backupNow'));
    } catch (err) {
      setBackup({ ok: false, message: (err as Error).message });
    } finally {
      setBackingUp(false);
      info.reload();
    }
  };

  const [reindexing, setReindexing] = useState(false);
  const [reindexed, setReindexed] = useState<ReindexResult | null>(null);
  const reindex = async (): Promise<void> => {
    setReindexing(true);
    setReindexed(null);
    try {
      setReindexed(await call('reindexRuns'));
    } catch (err) {
      setReindexed({ ok: false, message: (err as Error).message });
    } finally {
      setReindexing(false);
      info.reload();
    }
  };

  const [bundlePath, setBundlePath] = useState('');
  const [importing, setImporting] = useState(false);
  const [imported, setImported] = useState<ImportResult | null>(null);
  const importBundle = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setImporting(true);
    setImported(null);
    try {
      setImported(await call('importRunBundle', bundlePath.trim()));
    } catch (err) {
      setImported({ ok: false, message: (err as Error).message });
    } finally {
      setImporting(false);
      info.reload();
    }
  };

  const d = info.data;
  return (
    <Panel title="Data" testId="data-panel">
      {info.error ? <ErrorNote>Could not read the data directory: {info.error}</ErrorNote> : null}
      <dl className="kv">
        <dt>database</dt>
        <dd className="mono" data-testid="data-db-file">
          {d?.database.file ?? '—'}
        </dd>
        <dt>size</dt>
        <dd data-testid="data-db-size">
          {d ? (
            <>
              {formatBytes(d.database.bytes)}
              {d.database.walBytes ? <span className="muted"> + {formatBytes(d.database.walBytes)} write-ahead log</span> : null}
            </>
          ) : (
            '—'
          )}
        </dd>
        <dt>integrity</dt>
        <dd data-testid="data-health" data-state={health?.state ?? ''}>
          {health ? <HealthLine health={health} /> : '—'}
        </dd>
        <dt>run directories</dt>
        <dd data-testid="data-unindexed" data-count={d?.unindexedRuns.total ?? ''}>
          {!d ? (
            '—'
          ) : d.unindexedRuns.total === 0 ? (
            <span className="muted">every run directory is in the database</span>
          ) : (
            <span className="data-damaged">
              {d.unindexedRuns.total} run director{d.unindexedRuns.total === 1 ? 'y is' : 'ies are'} not in the database (
              <span className="mono">
                {d.unindexedRuns.ids.slice(0, 3).join(', ')}
                {d.unindexedRuns.total > 3 ? ', …' : ''}
              </span>
              ): the database was emptied, replaced or restored from an older backup.
            </span>
          )}
        </dd>
      </dl>
      <div className="form-actions">
        <button
          type="button"
          data-testid="reindex"
          disabled={reindexing || !d || d.unindexedRuns.total === 0}
          onClick={() => void reindex()}
          title="Put every run directory the database does not know back into it, through the normal ingest of its config and events"
        >
          {reindexing ? 'Reindexing…' : 'Reindex'}
        </button>
        {reindexed?.ok ? (
          <span className="small" data-testid="reindex-result" data-added={reindexed.added.length} data-skipped={reindexed.skipped.length}>
            put back {reindexed.added.length} run{reindexed.added.length === 1 ? '' : 's'} ({reindexed.events} events
            {reindexed.running.length ? `, ${reindexed.running.length} still running` : ''}
            {reindexed.groupsAdded.length ? `, ${reindexed.groupsAdded.length} group${reindexed.groupsAdded.length === 1 ? '' : 's'}` : ''})
            {reindexed.skipped.map((x) => `; skipped ${x.id}: ${x.reason}`).join('')}
          </span>
        ) : null}
      </div>
      {reindexed && !reindexed.ok ? <ErrorNote>Reindex failed: {reindexed.message}</ErrorNote> : null}

      <h3 className="data-subhead">Backups</h3>
      <div className="form-actions">
        <button type="button" data-testid="backup-now" disabled={backingUp} onClick={() => void backupNow()}>
          {backingUp ? 'Backing up…' : 'Back up now'}
        </button>
        {backup?.ok ? (
          <span className="small" data-testid="backup-result" data-file={backup.file}>
            wrote <span className="mono">{backup.file}</span> ({formatBytes(backup.bytes)}, {backup.seconds.toFixed(1)} s)
          </span>
        ) : null}
      </div>
      {backup && !backup.ok ? <ErrorNote>Backup failed: {backup.message}</ErrorNote> : null}
      <FileList files={d?.backups} empty="no backups yet" testId="backups-list" />

      <h3 className="data-subhead">Run bundles</h3>
      <div className="muted small">
        Export runs from the Runs page (tick them, then “Export as a bundle”). A bundle holds the runs’ rows and files; copy it to another
        machine and import it there.
      </div>
      <FileList files={d?.bundles} empty="no bundles exported yet" testId="bundles-list" onUse={(f) => setBundlePath(f)} />
      <form className="settings-form data-import" onSubmit={(e) => void importBundle(e)}>
        <label className="field">
          <span className="field-label">Import a run bundle (absolute path on the machine STaR Lab runs on)</span>
          <input
            className="mono"
            data-testid="bundle-path"
            value={bundlePath}
            onChange={(e) => setBundlePath(e.target.value)}
            placeholder="/path/to/runs-….tar"
            spellCheck={false}
          />
        </label>
        <div className="form-actions">
          <button type="submit" data-testid="bundle-import" disabled={importing || !bundlePath.trim()}>
            {importing ? 'Importing…' : 'Import'}
          </button>
          {imported?.ok ? <ImportSummary result={imported} /> : null}
        </div>
        {imported && !imported.ok ? (
          <div data-testid="bundle-import-result" data-ok="false">
            <ErrorNote>{imported.message}</ErrorNote>
          </div>
        ) : null}
      </form>

      <div className="muted small data-cli">
        Command line: <code>starlab backup FILE</code>, <code>starlab bundle export|import</code>, <code>starlab check</code>,{' '}
        <code>starlab reindex</code>
      </div>
    </Panel>
  );
}

function HealthLine({ health }: { health: DatabaseHealth }): ReactElement {
  const when = health.checkedAt !== null ? ` at ${formatTime(health.checkedAt)}` : '';
  const took = health.seconds !== null ? ` (${health.seconds.toFixed(1)} s)` : '';
  switch (health.state) {
    case 'ok':
      return (
        <span>
          <span className="data-ok">ok</span>
          <span className="muted">
            {' '}
            checked{when}
            {took}
          </span>
        </span>
      );
    case 'checking':
      return <span className="muted">checking…</span>;
    case 'unchecked':
      return <span className="muted">not checked{health.message ? `: ${health.message}` : ''}</span>;
    case 'damaged':
      return (
        <span className="data-damaged">
          <strong>damaged</strong>
          {when}: {health.message ?? health.problems.join('; ')}
        </span>
      );
  }
}

function ImportSummary({ result }: { result: Extract<ImportResult, { ok: true }> }): ReactElement {
  const n = result.imported.length;
  const m = result.skipped.length;
  const present = result.skipped.filter((s) => s.reason === 'already present').length;
  const other = result.skipped.filter((s) => s.reason !== 'already present');
  return (
    <span className="small" data-testid="bundle-import-result" data-ok="true" data-imported={n} data-skipped={m}>
      imported {n} run{n === 1 ? '' : 's'}
      {n ? ' (' : ''}
      {result.imported.map((id, i) => (
        <span key={id}>
          {i ? ', ' : ''}
          <a className="mono" href={`#/runs/${encodeURIComponent(id)}`}>
            {id}
          </a>
        </span>
      ))}
      {n ? ')' : ''}
      {present ? `, skipped ${present} already present` : ''}
      {other.map((s) => `, skipped ${s.id}: ${s.reason}`).join('')}
      {n ? (
        <span className="muted">
          {' '}
          ({result.rows} rows, {result.files} files, {formatBytes(result.bytes)})
        </span>
      ) : null}
    </span>
  );
}

function FileList({
  files,
  empty,
  testId,
  onUse,
}: {
  files: DataFile[] | undefined;
  empty: string;
  testId: string;
  onUse?: (file: string) => void;
}): ReactElement {
  if (!files) return <div className="muted small">—</div>;
  if (!files.length)
    return (
      <div className="muted small" data-testid={testId} data-count={0}>
        {empty}
      </div>
    );
  const shown = files.slice(0, LATEST);
  return (
    <table className="table compact fit data-files" data-testid={testId} data-count={files.length}>
      <tbody>
        {shown.map((f) => (
          <tr key={f.file}>
            <td className="mono small data-file-path" title={f.file}>
              {f.file}
            </td>
            <td className="num small">{formatBytes(f.bytes)}</td>
            <td className="small muted">{formatTime(f.modifiedAt)}</td>
            {onUse ? (
              <td className="actions">
                <button type="button" className="small-button" title="Put this path into the import field" onClick={() => onUse(f.file)}>
                  use
                </button>
              </td>
            ) : null}
          </tr>
        ))}
        {files.length > shown.length ? (
          <tr>
            <td colSpan={onUse ? 4 : 3} className="muted small">
              and {files.length - shown.length} older
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}
