/**
 * Quiet-STaR thoughts (core/thoughts.ts) from a hand-made run directory: eval and train rows
 * mapped to ThoughtRow, the default (last) iteration, the row limit, malformed lines skipped
 * and counted, paths that leave the run directory (.., absolute, symlinks) refused, FIFOs and
 * other non-regular files refused without blocking, reading that stops at the row limit, and
 * the fallback from an unreadable latest iteration.
 */
import { spawn, spawnSync } from 'node:child_process';
import type * as NodeFs from 'node:fs';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { readThoughts, resolveInside } from '../../core/thoughts';
import { type DB, openDatabase } from '../../db/open';
import { insertRun } from '../../db/queries';
import { cleanupTempDirs, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

// Count the bytes core/thoughts.ts reads (a pass-through wrapper around the real readSync).
const io = vi.hoisted(() => ({ bytes: 0 }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof NodeFs>();
  const readSync = (...a: Parameters<typeof fs.readSync>) => {
    const n = (fs.readSync as (...x: unknown[]) => number)(...a);
    io.bytes += n;
    return n;
  };
  return { ...fs, default: { ...fs, readSync }, readSync };
});

const RUN = 'quiet-run';

const evalRow = (qid: string, correct: boolean) => ({
  question_id: qid,
  question: `What is ${qid}?`,
  gold: '7',
  completion: '7',
  correct,
  base_completion: '6',
  base_correct: false,
  tokens: [
    { token: '7', thought: '<|startthought|>3+4<|endthought|>', w: 0.25 },
    { token: '\n', thought: '<|startthought|>ok<|endthought|>', w: 0 },
  ],
});

function write(file: string, lines: string[]): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
}

function setup(): { db: DB; runDir: string; outside: string } {
  const root = tempDir();
  const runDir = join(root, 'run');
  const outside = join(root, 'secret');
  mkdirSync(runDir);
  write(join(outside, 'thoughts.jsonl'), [JSON.stringify(evalRow('stolen', true))]);
  write(join(runDir, 'artifacts/eval_0/thoughts.jsonl'), [JSON.stringify(evalRow('a0', false))]);
  write(join(runDir, 'artifacts/eval_1/thoughts.jsonl'), [
    JSON.stringify(evalRow('a1', true)),
    '{"question_id": "broken", "tokens": [',
    JSON.stringify({ question_id: 'no-tokens' }),
    '',
    JSON.stringify(evalRow('b1', false)),
    JSON.stringify(evalRow('c1', true)),
  ]);
  write(join(runDir, 'artifacts/train_1/thoughts.jsonl'), [
    JSON.stringify({
      step: 3,
      text: '1+2',
      tokens: [
        { token: '1', thought: '<|startthought|>x<|endthought|>', reward: 0.5, w: 0.1 },
        { token: '+', thought: '<|startthought|>y<|endthought|>', reward: -0.25, w: 0.2 },
        { token: '2', thought: '<|startthought|>z<|endthought|>', reward: null, w: null },
      ],
    }),
  ]);
  const db = openDatabase(':memory:');
  insertRun(db, {
    id: RUN,
    variant: 'quiet-star',
    dataset: 'addition',
    preset: 'tiny',
    seed: 0,
    model: 'm',
    config_json: '{}',
    config_hash: 'h',
    status: 'completed',
    created_at: 1,
    run_dir: runDir,
  });
  const art = db.prepare('INSERT INTO artifacts (run_id, seq, name, kind, path, size, iteration, t) VALUES (?, ?, ?, ?, ?, NULL, ?, 0)');
  let seq = 0;
  art.run(RUN, seq++, 'warmup.jsonl', 'jsonl', 'artifacts/warmup.jsonl', 0);
  art.run(RUN, seq++, 'thoughts.jsonl', 'jsonl', 'artifacts/eval_0/thoughts.jsonl', 0);
  art.run(RUN, seq++, 'thoughts.jsonl', 'jsonl', 'artifacts/train_1/thoughts.jsonl', 1);
  art.run(RUN, seq++, 'thoughts.jsonl', 'jsonl', 'artifacts/eval_1/thoughts.jsonl', 1);
  return { db, runDir, outside };
}

describe('readThoughts', () => {
  it('reads the last evaluation by default, skipping malformed lines and saying how many', () => {
    const { db, runDir } = setup();
    const r = readThoughts(db, RUN, runDir, { source: 'eval' });
    if (!r.ok) throw new Error(r.message);
    expect(r.iterations).toEqual([0, 1]);
    expect(r.iteration).toBe(1);
    expect(r.rows.map((x) => x.questionId)).toEqual(['a1', 'b1', 'c1']);
    expect(r.message).toBe('2 malformed lines skipped');
    expect(r.rows[0]).toEqual({
      questionId: 'a1',
      question: 'What is a1?',
      gold: '7',
      correct: true,
      step: null,
      text: null,
      completion: '7',
      baseCompletion: '6',
      baseCorrect: false,
      tokens: [
        { token: '7', thought: '<|startthought|>3+4<|endthought|>', w: 0.25, reward: null },
        { token: '\n', thought: '<|startthought|>ok<|endthought|>', w: 0, reward: null },
      ],
    });
    const first = readThoughts(db, RUN, runDir, { source: 'eval', iteration: 0 });
    expect(first.ok && [first.rows.map((x) => x.questionId), 'message' in first]).toEqual([['a0'], false]);
  });

  it('stops at the row limit', () => {
    const { db, runDir } = setup();
    const r = readThoughts(db, RUN, runDir, { source: 'eval', limit: 1 });
    expect(r.ok && r.rows.map((x) => x.questionId)).toEqual(['a1']);
  });

  it('reads at most maxBytes, dropping the line cut in the middle', () => {
    const { db, runDir } = setup();
    const a1 = JSON.stringify(evalRow('a1', true)).length + 1;
    const r = readThoughts(db, RUN, runDir, { source: 'eval', maxBytes: a1 + 10 });
    if (!r.ok) throw new Error(r.message);
    expect(r.rows.map((x) => x.questionId)).toEqual(['a1']);
    expect(r.message).toBe(`only the first ${a1 + 10} bytes of artifacts/eval_1/thoughts.jsonl read`);
  });

  it('maps training rows with their step and rewards', () => {
    const { db, runDir } = setup();
    const r = readThoughts(db, RUN, runDir, { source: 'train' });
    if (!r.ok) throw new Error(r.message);
    expect(r.iterations).toEqual([1]);
    expect(r.rows).toEqual([
      {
        questionId: null,
        question: null,
        gold: null,
        correct: null,
        step: 3,
        text: '1+2',
        completion: null,
        baseCompletion: null,
        baseCorrect: null,
        tokens: [
          { token: '1', thought: '<|startthought|>x<|endthought|>', reward: 0.5, w: 0.1 },
          { token: '+', thought: '<|startthought|>y<|endthought|>', reward: -0.25, w: 0.2 },
          { token: '2', thought: '<|startthought|>z<|endthought|>', reward: null, w: null },
        ],
      },
    ]);
  });

  it('finds the files in the run directory when no artifact was ingested yet', () => {
    const { runDir } = setup();
    const db = openDatabase(':memory:');
    const r = readThoughts(db, RUN, runDir, { source: 'train' });
    expect(r.ok && [r.iterations, r.rows[0]!.step]).toEqual([[1], 3]);
  });

  it('says clearly what is missing', () => {
    const { db, runDir } = setup();
    expect(readThoughts(db, 'other', runDir + '-none', { source: 'eval' })).toEqual({
      ok: false,
      message: 'run other has no Quiet-STaR evaluation thoughts',
    });
    expect(readThoughts(db, RUN, runDir, { source: 'train', iteration: 2 })).toEqual({
      ok: false,
      message: 'run quiet-run has no train thoughts at iteration 2 (iterations: 1)',
    });
  });

  it('refuses paths that leave the run directory', () => {
    const { db, runDir, outside } = setup();
    const art = db.prepare(
      "INSERT INTO artifacts (run_id, seq, name, kind, path, size, iteration, t) VALUES (?, ?, 'thoughts.jsonl', 'jsonl', ?, NULL, ?, 0)",
    );
    // a relative path climbing out with ..
    art.run(RUN, 10, '../secret/eval_5/thoughts.jsonl', 5);
    write(join(outside, 'eval_5/thoughts.jsonl'), [JSON.stringify(evalRow('stolen', true))]);
    const trav = readThoughts(db, RUN, runDir, { source: 'eval', iteration: 5 });
    expect(trav).toEqual({ ok: false, message: 'refusing to read ../secret/eval_5/thoughts.jsonl: it resolves outside the run directory' });
    // an absolute path outside
    art.run(RUN, 11, join(outside, 'eval_6/thoughts.jsonl'), 6);
    write(join(outside, 'eval_6/thoughts.jsonl'), [JSON.stringify(evalRow('stolen', true))]);
    expect(readThoughts(db, RUN, runDir, { source: 'eval', iteration: 6 }).ok).toBe(false);
    // a symlink inside the run directory pointing out of it
    mkdirSync(join(runDir, 'artifacts/eval_7'), { recursive: true });
    symlinkSync(join(outside, 'thoughts.jsonl'), join(runDir, 'artifacts/eval_7/thoughts.jsonl'));
    art.run(RUN, 12, 'artifacts/eval_7/thoughts.jsonl', 7);
    const link = readThoughts(db, RUN, runDir, { source: 'eval', iteration: 7 });
    expect(link.ok).toBe(false);
    if (!link.ok) expect(link.message).toMatch(/outside the run directory/);
    // an announced file that is gone
    art.run(RUN, 13, 'artifacts/eval_8/thoughts.jsonl', 8);
    expect(readThoughts(db, RUN, runDir, { source: 'eval', iteration: 8 })).toEqual({
      ok: false,
      message: 'thoughts file artifacts/eval_8/thoughts.jsonl is missing from the run directory',
    });
    // an absolute path inside the run directory is fine
    expect(resolveInside(runDir, join(runDir, 'artifacts/eval_0/thoughts.jsonl')).ok).toBe(true);
    expect(resolveInside(runDir, '.').ok).toBe(false);
  });

  it('refuses a FIFO or a directory instead of blocking on it', { timeout: 5000 }, (ctx) => {
    const { db, runDir } = setup();
    const art = db.prepare(
      "INSERT INTO artifacts (run_id, seq, name, kind, path, size, iteration, t) VALUES (?, ?, 'thoughts.jsonl', 'jsonl', ?, NULL, ?, 0)",
    );
    mkdirSync(join(runDir, 'artifacts/eval_4/thoughts.jsonl'), { recursive: true });
    art.run(RUN, 20, 'artifacts/eval_4/thoughts.jsonl', 4);
    expect(readThoughts(db, RUN, runDir, { source: 'eval', iteration: 4 })).toEqual({
      ok: false,
      message: 'cannot read artifacts/eval_4/thoughts.jsonl: not a regular file',
    });
    if (process.platform === 'win32') return ctx.skip(); // no FIFOs there
    mkdirSync(join(runDir, 'artifacts/eval_9'), { recursive: true });
    const made = spawnSync('mkfifo', [join(runDir, 'artifacts/eval_9/thoughts.jsonl')]);
    expect(made.status, `mkfifo (coreutils) failed: ${made.error?.message ?? made.stderr}`).toBe(0);
    art.run(RUN, 21, 'artifacts/eval_9/thoughts.jsonl', 9);
    // Opening a FIFO with no writer blocks the (synchronous) reader. So that a regression fails
    // rather than hangs, a child opens the writing end after 2 s, which would unblock it.
    const writer = spawn('timeout', ['10', 'sh', '-c', 'sleep 2; : > "$1"', 'sh', join(runDir, 'artifacts/eval_9/thoughts.jsonl')], {
      stdio: 'ignore',
    });
    try {
      expect(readThoughts(db, RUN, runDir, { source: 'eval', iteration: 9 })).toEqual({
        ok: false,
        message: 'cannot read artifacts/eval_9/thoughts.jsonl: not a regular file',
      });
    } finally {
      writer.kill();
    }
    // as the latest iteration, it is passed over for the newest readable one (eval_4, a directory, too)
    const r = readThoughts(db, RUN, runDir, { source: 'eval' });
    if (!r.ok) throw new Error(r.message);
    expect([r.iteration, r.iterations, r.rows.map((x) => x.questionId)]).toEqual([1, [0, 1, 4, 9], ['a1', 'b1', 'c1']]);
    expect(r.message).toBe(
      'showing iteration 1: could not read iteration 9 (cannot read artifacts/eval_9/thoughts.jsonl: not a regular file); ' +
        'iteration 4 (cannot read artifacts/eval_4/thoughts.jsonl: not a regular file); 2 malformed lines skipped',
    );
  });

  it('stops reading once `limit` rows are parsed, and splits lines across read chunks', () => {
    const { db, runDir } = setup();
    // ~2,000 rows of ~330 bytes (≈ 650 KiB) with multi-byte characters, so rows and characters straddle 64 KiB chunks
    const rows = Array.from({ length: 2000 }, (_, i) => ({ ...evalRow(`q${i}`, i % 2 === 0), question: `é思${'ü'.repeat(i % 37)} #${i}` }));
    write(
      join(runDir, 'artifacts/eval_1/thoughts.jsonl'),
      rows.map((r) => JSON.stringify(r)),
    );
    io.bytes = 0;
    const few = readThoughts(db, RUN, runDir, { source: 'eval', limit: 3 });
    expect(few.ok && few.rows.map((x) => x.questionId)).toEqual(['q0', 'q1', 'q2']);
    expect(few.ok && 'message' in few).toBe(false); // not reported as cut: the limit stopped it
    expect(io.bytes).toBeLessThanOrEqual(64 * 1024); // one chunk, not the whole file
    io.bytes = 0;
    const all = readThoughts(db, RUN, runDir, { source: 'eval', limit: 5000 });
    if (!all.ok) throw new Error(all.message);
    expect(all.rows).toHaveLength(2000);
    expect(all.rows.map((x) => x.question)).toEqual(rows.map((r) => r.question));
    expect(io.bytes).toBeGreaterThan(600 * 1024);
    // the byte cap still holds when the limit is not reached
    const two = Buffer.byteLength(JSON.stringify(rows[0])) + Buffer.byteLength(JSON.stringify(rows[1])) + 2;
    const capped = readThoughts(db, RUN, runDir, { source: 'eval', limit: 5000, maxBytes: two + 5 });
    expect(capped.ok && [capped.rows.length, capped.message]).toEqual([
      2,
      `only the first ${two + 5} bytes of artifacts/eval_1/thoughts.jsonl read`,
    ]);
    // a cap that ends exactly at a newline cuts nothing when the file ends there too
    write(
      join(runDir, 'artifacts/eval_1/thoughts.jsonl'),
      rows.slice(0, 2).map((r) => JSON.stringify(r)),
    );
    const exact = readThoughts(db, RUN, runDir, { source: 'eval', maxBytes: two });
    expect(exact.ok && [exact.rows.length, 'message' in exact]).toEqual([2, false]);
  });

  it('falls back from an unreadable latest iteration to the newest readable one', () => {
    const { db, runDir, outside } = setup();
    const art = db.prepare(
      "INSERT INTO artifacts (run_id, seq, name, kind, path, size, iteration, t) VALUES (?, ?, 'thoughts.jsonl', 'jsonl', ?, NULL, ?, 0)",
    );
    art.run(RUN, 30, 'artifacts/eval_2/thoughts.jsonl', 2); // announced, never written
    write(join(outside, 'eval_3/thoughts.jsonl'), [JSON.stringify(evalRow('stolen', true))]);
    art.run(RUN, 31, '../secret/eval_3/thoughts.jsonl', 3); // a bad row pointing out
    const r = readThoughts(db, RUN, runDir, { source: 'eval' });
    if (!r.ok) throw new Error(r.message);
    expect([r.iterations, r.iteration, r.rows.map((x) => x.questionId)]).toEqual([[0, 1, 2, 3], 1, ['a1', 'b1', 'c1']]);
    expect(r.message).toBe(
      'showing iteration 1: could not read iteration 3 (refusing to read ../secret/eval_3/thoughts.jsonl: it resolves outside the run directory); ' +
        'iteration 2 (thoughts file artifacts/eval_2/thoughts.jsonl is missing from the run directory); 2 malformed lines skipped',
    );
    // an explicit iteration never falls back
    expect(readThoughts(db, RUN, runDir, { source: 'eval', iteration: 2 })).toEqual({
      ok: false,
      message: 'thoughts file artifacts/eval_2/thoughts.jsonl is missing from the run directory',
    });
    // the same for training thoughts
    art.run(RUN, 32, 'artifacts/train_5/thoughts.jsonl', 5);
    const t = readThoughts(db, RUN, runDir, { source: 'train' });
    expect(t.ok && [t.iterations, t.iteration, t.rows[0]!.step, t.message]).toEqual([
      [1, 5],
      1,
      3,
      'showing iteration 1: could not read iteration 5 (thoughts file artifacts/train_5/thoughts.jsonl is missing from the run directory)',
    ]);
    // nothing readable at all: every reason is given
    const none = openDatabase(':memory:');
    const a2 = none.prepare(
      "INSERT INTO artifacts (run_id, seq, name, kind, path, size, iteration, t) VALUES (?, ?, 'thoughts.jsonl', 'jsonl', ?, NULL, ?, 0)",
    );
    insertRun(none, {
      id: RUN,
      variant: 'quiet-star',
      dataset: 'addition',
      preset: 'tiny',
      seed: 0,
      model: 'm',
      config_json: '{}',
      config_hash: 'h',
      status: 'completed',
      created_at: 1,
      run_dir: runDir,
    });
    a2.run(RUN, 0, 'artifacts/eval_7/thoughts.jsonl', 7);
    a2.run(RUN, 1, 'artifacts/eval_8/thoughts.jsonl', 8);
    expect(readThoughts(none, RUN, runDir, { source: 'eval' })).toEqual({
      ok: false,
      message:
        'no eval thoughts file of run quiet-run is readable: iteration 8 (thoughts file artifacts/eval_8/thoughts.jsonl is missing from the run directory); ' +
        'iteration 7 (thoughts file artifacts/eval_7/thoughts.jsonl is missing from the run directory)',
    });
  });
});
