/**
 * The runs table's chosen columns (issue 17, as W&B's runs table): any config key and any
 * metric's final value, picked from what the runs have, remembered in this browser.
 */
import { useState, type ReactElement } from 'react';
import { MAX_RUN_COLUMNS, RUN_COLUMN_PATTERN, type RunColumnValue } from '../../../../shared/contract';
import { call } from '../../transport';
import { useLive, useRunsChanged } from '../../hooks';
import { formatNumber } from '../../format';

const STORAGE_KEY = 'starlab.runs.columns';

/** The columns this browser chose last, or none. */
export function storedColumns(storage: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage): string[] {
  try {
    const v = JSON.parse(storage?.getItem(STORAGE_KEY) ?? '[]') as unknown;
    return Array.isArray(v)
      ? v.filter((c): c is string => typeof c === 'string' && RUN_COLUMN_PATTERN.test(c)).slice(0, MAX_RUN_COLUMNS)
      : [];
  } catch {
    return [];
  }
}

/** The header of a chosen column: the key, and "final" for a metric. */
export function columnLabel(column: string): string {
  return column.startsWith('metric:') ? `${column.slice(7)} (final)` : column.slice(7);
}

/** A cell: a config value exactly as configured, a metric's value to 4 significant digits. */
export function formatColumnValue(column: string, v: RunColumnValue | undefined): string {
  if (v === undefined || v === null) return '—';
  return typeof v === 'number' && column.startsWith('metric:') ? formatNumber(v) : String(v);
}

/** The chosen columns, their setter (remembered), and every run's values for them (live). */
export function useRunColumns(): {
  columns: string[];
  setColumns: (c: string[]) => void;
  values: Record<string, Record<string, RunColumnValue>>;
  error: string | null;
} {
  const [columns, set] = useState<string[]>(() => storedColumns());
  const setColumns = (c: string[]): void => {
    set(c);
    try {
      globalThis.localStorage?.setItem(STORAGE_KEY, JSON.stringify(c));
    } catch {
      // a browser that keeps nothing: the choice lasts for this page
    }
  };
  const live = useLive(() => (columns.length ? call('runColumns', columns) : Promise.resolve({})), [columns.join('\n')]);
  useRunsChanged(() => live.reload(), 2000);
  return { columns, setColumns, values: live.data ?? {}, error: live.error };
}

/** "Columns": tick config keys and metrics to show them as columns. */
export function ColumnPicker({ columns, onChange }: { columns: string[]; onChange: (c: string[]) => void }): ReactElement {
  const [open, setOpen] = useState(false);
  const [filter, setFilter] = useState('');
  const choices = useLive(() => (open ? call('runColumnChoices') : Promise.resolve(null)), [open]);
  const chosen = new Set(columns);
  const toggle = (c: string, on: boolean): void =>
    onChange(on ? [...columns, c].slice(0, MAX_RUN_COLUMNS) : columns.filter((x) => x !== c));
  const f = filter.trim().toLowerCase();
  const list = (title: string, prefix: 'config:' | 'metric:', keys: string[]): ReactElement => {
    const shown = keys.filter((k) => !f || k.toLowerCase().includes(f));
    return (
      <div className="columns-group">
        <div className="small muted">
          {title} ({shown.length})
        </div>
        {shown.map((k) => (
          <label key={k} className="columns-choice small">
            <input
              type="checkbox"
              data-testid={`column-choice-${prefix}${k}`}
              checked={chosen.has(prefix + k)}
              disabled={!chosen.has(prefix + k) && columns.length >= MAX_RUN_COLUMNS}
              onChange={(e) => toggle(prefix + k, e.target.checked)}
            />{' '}
            <span className="mono">{k}</span>
          </label>
        ))}
      </div>
    );
  };
  return (
    <span className="columns-picker">
      <button type="button" className="small-button" data-testid="runs-columns" aria-expanded={open} onClick={() => setOpen(!open)}>
        Columns{columns.length ? ` (${columns.length})` : ''}
      </button>
      {open ? (
        <div className="columns-panel" data-testid="runs-columns-panel">
          <div className="form-actions">
            <input type="search" placeholder="filter keys and metrics" value={filter} onChange={(e) => setFilter(e.target.value)} />
            <button type="button" className="small-button" disabled={!columns.length} onClick={() => onChange([])}>
              Clear
            </button>
            <button type="button" className="small-button" onClick={() => setOpen(false)}>
              Done
            </button>
          </div>
          {choices.error ? <div className="error-text small">Could not load the columns: {choices.error}</div> : null}
          {choices.data ? (
            <div className="columns-lists">
              {list('Config', 'config:', choices.data.config)}
              {list('Final metrics', 'metric:', choices.data.metrics)}
            </div>
          ) : (
            <div className="small muted">Loading…</div>
          )}
        </div>
      ) : null}
    </span>
  );
}
