/**
 * The database side of run bundles (core/bundle.ts): which tables hold a run's rows, dumping
 * them, and inserting them into another database.
 *
 * The tables are found from the schema, not listed by hand, so a table a later migration adds
 * with a foreign key to runs travels too: every table with a foreign key to runs(id), except
 * the derived ones, which the triggers on samples (migration 004) rebuild as the samples are
 * inserted. A surrogate key (an INTEGER PRIMARY KEY: samples.id, logs.id, …) is not carried:
 * the importing database assigns its own, since the bundle's ids may be taken there. Nothing
 * in a bundle refers to those ids (ratings, which do, stay with their database).
 */
import type { Statement } from 'better-sqlite3';
import type { DB } from './open';

/** Kept by triggers on samples or by the ingest of samples; rebuilt on import, never copied. */
export const DERIVED_TABLES: ReadonlySet<string> = new Set([
  'question_outcomes',
  'question_summary',
  'question_counts',
  'outcome_bulk_delete',
]);

export interface RunTable {
  name: string;
  /** Columns carried in a bundle: stored, not generated, not the surrogate key. */
  columns: string[];
  /** The INTEGER PRIMARY KEY column the importing database assigns anew (null: none). */
  surrogate: string | null;
  /** The column holding the run id. */
  runColumn: string;
  /** ORDER BY clause giving the insertion order (ids ascending: the triggers keep the first sample's question text). */
  order: string;
}

interface XInfo {
  name: string;
  type: string;
  pk: number;
  hidden: number;
}

function xinfo(db: DB, table: string): XInfo[] {
  return db.prepare('SELECT name, type, pk, hidden FROM pragma_table_xinfo(?)').all(table) as XInfo[];
}

function quote(id: string): string {
  return `"${id.replace(/"/g, '""')}"`;
}

/** A table's rowid alias (a lone INTEGER PRIMARY KEY in a rowid table), if any. */
function rowidAlias(db: DB, table: string, cols: XInfo[], withoutRowid: boolean): string | null {
  const pk = cols.filter((c) => c.pk > 0);
  if (withoutRowid || pk.length !== 1 || pk[0]!.type.toUpperCase() !== 'INTEGER') return null;
  return pk[0]!.name;
}

function isWithoutRowid(db: DB, table: string): boolean {
  const sql =
    (db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) as { sql: string } | undefined)?.sql ?? '';
  return /WITHOUT\s+ROWID\s*;?\s*$/i.test(sql);
}

/** The tables whose rows belong to a run (runs first), from this database's schema. */
export function runTables(db: DB): RunTable[] {
  const names = (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]
  ).map((r) => r.name);
  const out: RunTable[] = [];
  for (const name of ['runs', ...names.filter((n) => n !== 'runs')]) {
    if (DERIVED_TABLES.has(name)) continue;
    let runColumn: string;
    if (name === 'runs') runColumn = 'id';
    else {
      const fks = db.prepare('SELECT "table" AS target, "from" AS col FROM pragma_foreign_key_list(?)').all(name) as {
        target: string;
        col: string;
      }[];
      const fk = fks.find((f) => f.target === 'runs');
      if (!fk) continue;
      runColumn = fk.col;
    }
    const cols = xinfo(db, name);
    const withoutRowid = isWithoutRowid(db, name);
    const surrogate = name === 'runs' ? null : rowidAlias(db, name, cols, withoutRowid);
    out.push({
      name,
      columns: cols.filter((c) => c.hidden === 0 && c.name !== surrogate).map((c) => c.name),
      surrogate,
      runColumn,
      order: withoutRowid ? '' : 'ORDER BY rowid',
    });
  }
  return out;
}

export type Row = Record<string, unknown>;

/** A run's rows of one table, in insertion order; INTEGERs as BigInt (exact beyond 2^53; encodeRow writes them). */
export function runRows(db: DB, t: RunTable, runId: string): IterableIterator<Row> {
  const cols = t.columns.map(quote).join(', ');
  return db
    .prepare(`SELECT ${cols} FROM ${quote(t.name)} WHERE ${quote(t.runColumn)} = ? ${t.order}`)
    .safeIntegers(true)
    .iterate(runId) as IterableIterator<Row>;
}

export function groupRows(db: DB, ids: string[]): Row[] {
  const cols = xinfo(db, 'experiment_groups')
    .filter((c) => c.hidden === 0)
    .map((c) => quote(c.name))
    .join(', ');
  const get = db.prepare(`SELECT ${cols} FROM experiment_groups WHERE id = ?`).safeIntegers(true);
  return ids.flatMap((id): Row[] => {
    const row = get.get(id) as Row | undefined;
    return row ? [row] : [];
  });
}

/**
 * Bundle rows hold JSON values. What JSON cannot hold exactly is written as an object:
 * BLOBs as {"$base64": "..."} (event_spans.hashes), INTEGERs beyond ±2^53 (read as BigInt)
 * as {"$int": "<decimal>"}, and infinite REALs as {"$real": "Infinity" | "-Infinity"} (JSON
 * would write null; SQLite itself stores NaN as NULL, "NaN" is decoded all the same).
 */
export function encodeRow(row: Row): Row {
  for (const [k, v] of Object.entries(row)) {
    if (Buffer.isBuffer(v)) row[k] = { $base64: v.toString('base64') };
    else if (typeof v === 'bigint') row[k] = v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : { $int: v.toString() };
    else if (typeof v === 'number' && !Number.isFinite(v)) row[k] = { $real: String(v) };
  }
  return row;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const REALS: Record<string, number> = { Infinity: Infinity, '-Infinity': -Infinity, NaN: NaN };

function decodeValue(v: unknown, where: string): unknown {
  if (v === null || typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'object' && !Array.isArray(v)) {
    const o = v as { $base64?: unknown; $int?: unknown; $real?: unknown };
    if (typeof o.$base64 === 'string') return Buffer.from(o.$base64, 'base64');
    if (typeof o.$int === 'string') {
      const n = /^-?[0-9]{1,19}$/.test(o.$int) ? BigInt(o.$int) : null;
      if (n === null || n < INT64_MIN || n > INT64_MAX)
        throw new Error(`${where}: {"$int": ${JSON.stringify(o.$int)}} is not a 64-bit integer`);
      return n;
    }
    if (typeof o.$real === 'string') {
      const r = Object.hasOwn(REALS, o.$real) ? REALS[o.$real] : undefined;
      if (r === undefined) throw new Error(`${where}: {"$real": ${JSON.stringify(o.$real)}} is not "Infinity", "-Infinity" or "NaN"`);
      return r;
    }
  }
  throw new Error(`${where}: a value of type ${typeof v} cannot be stored`);
}

/**
 * An inserter into `table` for bundle rows: the columns are matched by name, those the bundle
 * lacks take their defaults (a bundle from an older schema), a column this database does not
 * have is an error, and a surrogate key in the row is dropped.
 */
export function rowInserter(db: DB, table: string): (row: Row, where: string) => void {
  const cols = xinfo(db, table);
  if (!cols.length) throw new Error(`this database has no table ${table}`);
  const writable = new Set(cols.filter((c) => c.hidden === 0).map((c) => c.name));
  const surrogate = rowidAlias(db, table, cols, isWithoutRowid(db, table));
  const stmts = new Map<string, Statement<unknown[]>>();
  return (row, where) => {
    const keys = Object.keys(row).filter((k) => k !== surrogate);
    for (const k of keys) if (!writable.has(k)) throw new Error(`${where}: column "${k}" does not exist in this database's table ${table}`);
    const sig = keys.join('\0');
    let stmt = stmts.get(sig);
    if (!stmt) {
      stmt = db.prepare(`INSERT INTO ${quote(table)} (${keys.map(quote).join(', ')}) VALUES (${keys.map(() => '?').join(', ')})`);
      stmts.set(sig, stmt);
    }
    stmt.run(...keys.map((k) => decodeValue(row[k], where)));
  };
}
