/**
 * Quiet-STaR's sampled thoughts, read from the run's artifacts:
 *   artifacts/eval_<n>/thoughts.jsonl   per evaluated question, the greedy thought before each
 *                                       generated token and its mixing weight (variants/quiet_star.py)
 *   artifacts/train_<n>/thoughts.jsonl  per recorded training step, the thought sampled after
 *                                       each token of a document window, its reward and weight
 * The `artifacts` table holds each file's path relative to the run directory (EventWriter.artifact
 * via RunOutput._artifact). Paths come from a child process's output, so they are resolved
 * defensively: the real file must lie inside the real run directory.
 */
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { ThoughtRow, ThoughtsResult, ThoughtToken } from '../shared/analysis';
import type { DB } from '../db/open';

export const MAX_THOUGHT_BYTES = 32 * 1024 * 1024;
const DEFAULT_LIMIT = 50;
const PATH_RE = /(?:^|[\\/])(eval|train)_(\d+)[\\/]thoughts\.jsonl$/;

type Source = 'eval' | 'train';
/** ThoughtsResult plus a note on what was skipped (malformed lines, a cut file). */
export type ThoughtsReply = ThoughtsResult;

/** Iteration → relative (or absolute) path of the thoughts file of one source. */
function thoughtFiles(db: DB, runId: string, runDir: string, source: Source): Map<number, string> {
  const files = new Map<number, string>();
  const rows = db.prepare("SELECT path, iteration FROM artifacts WHERE run_id = ? AND name = 'thoughts.jsonl' ORDER BY seq").all(runId) as {
    path: string;
    iteration: number | null;
  }[];
  for (const r of rows) {
    const m = PATH_RE.exec(r.path);
    if (!m || m[1] !== source) continue;
    files.set(r.iteration ?? Number(m[2]), r.path); // a resumed run re-announces: the latest wins
  }
  if (files.size > 0) return files;
  // Not ingested (yet): look in the run directory itself.
  try {
    for (const d of readdirSync(join(runDir, 'artifacts'))) {
      const m = /^(eval|train)_(\d+)$/.exec(d);
      if (m && m[1] === source) files.set(Number(m[2]), `artifacts/${d}/thoughts.jsonl`);
    }
  } catch {
    /* no artifacts folder */
  }
  return files;
}

/** The real path of `p` (relative to runDir, or absolute), or why it is refused. */
export function resolveInside(runDir: string, p: string): { ok: true; path: string } | { ok: false; message: string } {
  let root: string;
  try {
    root = realpathSync(runDir);
  } catch {
    return { ok: false, message: `run directory ${runDir} does not exist` };
  }
  const target = isAbsolute(p) ? p : resolve(root, p);
  let real: string;
  try {
    real = realpathSync(target); // follows symlinks, so a link pointing out is caught below
  } catch {
    return { ok: false, message: `thoughts file ${p} is missing from the run directory` };
  }
  const rel = relative(root, real);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    return { ok: false, message: `refusing to read ${p}: it resolves outside the run directory` };
  return { ok: true, path: real };
}

const CHUNK = 64 * 1024;

/**
 * Calls `onLine` with each line of a regular file (without its '\n') until it returns false, EOF,
 * or `cap` bytes have been read. A line cut by the cap is dropped and reported as `cut`.
 * Refuses anything but a regular file: opening a FIFO would block until a writer came. The
 * stat check gives a clear message; O_NONBLOCK (where the platform has it) and the fstat after
 * opening close the race with a file swapped in between.
 */
function readLines(path: string, cap: number, onLine: (line: string) => boolean): { cut: boolean } {
  if (!statSync(path).isFile()) throw new Error('not a regular file');
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    if (!fstatSync(fd).isFile()) throw new Error('not a regular file');
    const buf = Buffer.alloc(Math.min(CHUNK, Math.max(cap, 1)));
    let pending: Buffer[] = []; // the current line's bytes so far (it may span chunks)
    const flush = () => pending.length > 0 && onLine(Buffer.concat(pending).toString('utf8'));
    let pos = 0;
    for (;;) {
      if (pos >= cap) {
        // The cap is reached: a line is cut only if the file goes on.
        const more = readSync(fd, Buffer.alloc(1), 0, 1, pos) > 0;
        if (!more) flush();
        return { cut: more };
      }
      const got = readSync(fd, buf, 0, Math.min(buf.length, cap - pos), pos);
      if (got === 0) {
        flush(); // EOF: the last line has no '\n'
        return { cut: false };
      }
      pos += got;
      const chunk = buf.subarray(0, got);
      let start = 0;
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
        const line = pending.length
          ? Buffer.concat([...pending, chunk.subarray(start, nl)]).toString('utf8')
          : chunk.toString('utf8', start, nl);
        pending = [];
        start = nl + 1;
        if (!onLine(line)) return { cut: false };
      }
      if (start < got) pending.push(Buffer.from(chunk.subarray(start))); // a copy: buf is reused
    }
  } finally {
    closeSync(fd);
  }
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** A line's object as a ThoughtRow, or null when it is not one (no tokens array). */
export function toThoughtRow(v: unknown, source: Source): ThoughtRow | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (!Array.isArray(o['tokens'])) return null;
  const tokens: ThoughtToken[] = [];
  for (const t of o['tokens'] as unknown[]) {
    if (t === null || typeof t !== 'object') return null;
    const tk = t as Record<string, unknown>;
    const token = str(tk['token']);
    if (token === null) return null;
    tokens.push({ token, thought: str(tk['thought']) ?? '', w: num(tk['w']), reward: source === 'train' ? num(tk['reward']) : null });
  }
  const qid = o['question_id'];
  return {
    questionId: typeof qid === 'string' || typeof qid === 'number' ? String(qid) : null,
    question: str(o['question']),
    gold: o['gold'] === undefined || o['gold'] === null ? null : String(o['gold']),
    correct: typeof o['correct'] === 'boolean' ? o['correct'] : null,
    step: source === 'train' ? num(o['step']) : null,
    text: str(o['text']),
    completion: str(o['completion']),
    baseCompletion: str(o['base_completion']),
    baseCorrect: typeof o['base_correct'] === 'boolean' ? o['base_correct'] : null,
    tokens,
  };
}

type Parsed = { rows: ThoughtRow[]; notes: string[] };

/** Up to `limit` rows of one thoughts file, or why it cannot be read. */
function parseFile(
  runDir: string,
  rel: string,
  source: Source,
  limit: number,
  maxBytes: number,
): ({ ok: true } & Parsed) | { ok: false; message: string } {
  const where = resolveInside(runDir, rel);
  if (!where.ok) return where;
  const rows: ThoughtRow[] = [];
  let malformed = 0;
  let file: { cut: boolean };
  try {
    file = readLines(where.path, maxBytes, (line) => {
      if (rows.length >= limit) return false;
      if (line.trim() === '') return true;
      let row: ThoughtRow | null = null;
      try {
        row = toThoughtRow(JSON.parse(line), source);
      } catch {
        row = null;
      }
      if (row) rows.push(row);
      else malformed++;
      return rows.length < limit;
    });
  } catch (e) {
    return { ok: false, message: `cannot read ${rel}: ${(e as Error).message}` };
  }
  const notes: string[] = [];
  if (malformed) notes.push(`${malformed} malformed line${malformed === 1 ? '' : 's'} skipped`);
  if (file.cut) notes.push(`only the first ${maxBytes} bytes of ${rel} read`);
  return { ok: true, rows, notes };
}

/**
 * The thoughts of one source at one iteration (default: the last one written): at most `limit`
 * rows (default 50), reading no further than needed and never past `maxBytes` (default
 * MAX_THOUGHT_BYTES); malformed lines are skipped and counted in `message`. Without an explicit
 * iteration, an unreadable latest file (a bad artifact row, a missing file) gives way to the
 * next readable one, newest first, and `message` says so.
 */
export function readThoughts(
  db: DB,
  runId: string,
  runDir: string,
  o: { source: Source; iteration?: number; limit?: number; maxBytes?: number },
): ThoughtsReply {
  const files = thoughtFiles(db, runId, runDir, o.source);
  const iterations = [...files.keys()].sort((a, b) => a - b);
  if (iterations.length === 0)
    return { ok: false, message: `run ${runId} has no Quiet-STaR ${o.source === 'eval' ? 'evaluation' : 'training'} thoughts` };
  if (o.iteration !== undefined && !files.has(o.iteration))
    return {
      ok: false,
      message: `run ${runId} has no ${o.source} thoughts at iteration ${o.iteration} (iterations: ${iterations.join(', ')})`,
    };
  const limit = o.limit ?? DEFAULT_LIMIT;
  const maxBytes = o.maxBytes ?? MAX_THOUGHT_BYTES;
  const tries = o.iteration !== undefined ? [o.iteration] : [...iterations].reverse();
  const skipped: string[] = [];
  let first: { ok: false; message: string } | undefined;
  for (const iteration of tries) {
    const r = parseFile(runDir, files.get(iteration)!, o.source, limit, maxBytes);
    if (!r.ok) {
      first ??= r;
      skipped.push(`iteration ${iteration} (${r.message})`);
      continue;
    }
    const notes = skipped.length ? [`showing iteration ${iteration}: could not read ${skipped.join('; ')}`, ...r.notes] : r.notes;
    return { ok: true, source: o.source, iterations, iteration, rows: r.rows, ...(notes.length ? { message: notes.join('; ') } : {}) };
  }
  if (tries.length === 1) return first!;
  return { ok: false, message: `no ${o.source} thoughts file of run ${runId} is readable: ${skipped.join('; ')}` };
}
