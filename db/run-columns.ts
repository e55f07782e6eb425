/**
 * The runs table's chosen columns (issue 17, as W&B's runs table): any config key and any
 * metric's final value, for every run. A metric's final value is its last point in (step, seq)
 * order: one index seek per run and metric; metric names are found with a skip scan over the
 * (run_id, name, …) primary key, one seek per name, never a scan of the points.
 */
import { flattenConfig } from '../shared/config-paths';
import type { RunColumnValue } from '../shared/contract';
import type { DB } from './open';

export const CONFIG_COLUMN = 'config:';
export const METRIC_COLUMN = 'metric:';

/** Config keys (dotted) and metric names of every run, each sorted. */
export function runColumnChoices(db: DB): { config: string[]; metrics: string[] } {
  const config = new Set<string>();
  for (const { config_json } of db.prepare('SELECT config_json FROM runs').all() as { config_json: string }[]) {
    try {
      for (const k of Object.keys(flattenConfig(JSON.parse(config_json)))) config.add(k);
    } catch {
      // a damaged config has no keys to offer
    }
  }
  const names = db.prepare(
    `WITH RECURSIVE n(name) AS (
       SELECT min(name) FROM metrics WHERE run_id = @run
       UNION ALL
       SELECT (SELECT min(name) FROM metrics WHERE run_id = @run AND name > n.name) FROM n WHERE n.name IS NOT NULL
     ) SELECT name FROM n WHERE name IS NOT NULL`,
  );
  const metrics = new Set<string>();
  for (const { id } of db.prepare('SELECT id FROM runs').all() as { id: string }[])
    for (const { name } of names.all({ run: id }) as { name: string }[]) metrics.add(name);
  return { config: [...config].sort(), metrics: [...metrics].sort() };
}

/** The chosen columns' values ('config:lr', 'metric:eval/accuracy') of every run: {runId: {column: value}}. */
export function runColumnValues(db: DB, columns: readonly string[]): Record<string, Record<string, RunColumnValue>> {
  const out: Record<string, Record<string, RunColumnValue>> = {};
  const configKeys = columns.filter((c) => c.startsWith(CONFIG_COLUMN));
  const metricNames = columns.filter((c) => c.startsWith(METRIC_COLUMN));
  const last = db.prepare('SELECT value FROM metrics WHERE run_id = ? AND name = ? ORDER BY step DESC, seq DESC LIMIT 1').pluck();
  for (const { id, config_json } of db.prepare('SELECT id, config_json FROM runs').all() as { id: string; config_json: string }[]) {
    const row: Record<string, RunColumnValue> = {};
    if (configKeys.length) {
      let flat: Record<string, unknown> = Object.create(null);
      try {
        flat = flattenConfig(JSON.parse(config_json));
      } catch {
        // a damaged config shows no values
      }
      for (const c of configKeys) {
        const k = c.slice(CONFIG_COLUMN.length);
        row[c] = Object.hasOwn(flat, k) ? scalar(flat[k]) : null;
      }
    }
    for (const c of metricNames) row[c] = (last.get(id, c.slice(METRIC_COLUMN.length)) as number | undefined) ?? null;
    out[id] = row;
  }
  return out;
}

/** A config value as the table shows it: scalars as they are, anything else as its JSON. */
function scalar(v: unknown): RunColumnValue {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  return JSON.stringify(v);
}
