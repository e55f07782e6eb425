/**
 * Per-question outcomes (db/outcomes.ts, migration 004): kept by triggers on samples for every
 * writer (ingest without double counting on re-ingest, plain SQL), backfilled by the migration
 * from a v3 database with data, right after deletes (row by row, or set-wise by
 * dropIterationsAfter as resume does), the search index never corrupted.
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ingestLines, type RawLine } from '../../db/ingest';
import { migrations } from '../../db/migrations/index';
import { openDatabase, schemaVersion, type DB } from '../../db/open';
import { dropIterationsAfter, MAX_ITERATION, rebuildOutcomes } from '../../db/outcomes';
import { insertRun } from '../../db/queries';
import { querySolveMatrix } from '../../db/solve-matrix';
import { queryTraces, trigramQuery } from '../../db/traces';
import { cleanupTempDirs, ev, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

const RUN = 'r';
const newRun = {
  id: RUN,
  variant: 'star',
  dataset: 'addition',
  preset: 'tiny',
  seed: 0,
  model: 'm',
  config_json: '{}',
  config_hash: 'h',
  status: 'completed' as const,
  created_at: 1,
  run_dir: '/x',
};
const item = (qid: string, kind: string, correct: boolean, hint: boolean, difficulty: number | null = 1) => ({
  question_id: qid,
  split: kind === 'eval' ? 'eval' : 'train',
  kind,
  question: `What is ${qid}?`,
  text: `${qid} ${kind} ${correct}`,
  answer: 'a',
  gold: 'a',
  correct,
  hint_used: hint,
  difficulty,
});
/** qa: iteration 1 right through the hint, 2 solved, 3 wrong; qb: only wrong; a candidate (not a trace). */
const LINES: RawLine[] = [
  {
    lineNo: 1,
    text: ev(1, 'samples', {
      iteration: 1,
      items: [item('qa', 'direct', false, false, null), item('qa', 'rationalized', true, true, 4), item('qb', 'direct', false, false)],
    }),
  },
  {
    lineNo: 2,
    text: ev(2, 'samples', {
      iteration: 2,
      items: [item('qa', 'direct', true, false), item('qa', 'direct', false, false), item('qb', 'direct', false, false)],
    }),
  },
  {
    lineNo: 3,
    text: ev(3, 'samples', { iteration: 3, items: [item('qa', 'direct', false, false), item('qa', 'candidate', true, false)] }),
  },
];
const EXPECTED_OUTCOMES = [
  ['qa', 1, 0, 1, 2],
  ['qa', 2, 1, 0, 2],
  ['qa', 3, 0, 0, 1],
  ['qb', 1, 0, 0, 1],
  ['qb', 2, 0, 0, 1],
];
const EXPECTED_SUMMARY = [
  // question_id, question, difficulty (first non-null), first_solved, solved_count, ever_hinted, last_unsolved, samples
  ['qa', 'What is qa?', 4, 2, 1, 1, 3, 5],
  ['qb', 'What is qb?', 1, null, 0, 0, 2, 2],
];

function outcomes(db: DB) {
  return db
    .prepare('SELECT question_id, iteration, solved, hinted, samples FROM question_outcomes WHERE run_id = ? ORDER BY 1, 2')
    .raw()
    .all(RUN);
}
function summary(db: DB) {
  return db
    .prepare(
      'SELECT question_id, question, difficulty, first_solved, solved_count, ever_hinted, last_unsolved, samples FROM question_summary WHERE run_id = ? ORDER BY 1',
    )
    .raw()
    .all(RUN);
}
function counts(db: DB) {
  return db.prepare('SELECT split, iteration, solved, hinted, wrong FROM question_counts WHERE run_id = ? ORDER BY 1, 2').raw().all(RUN);
}
/** All the tables and what search finds, to compare the triggers' upkeep with a rebuild. */
function snapshot(db: DB, run = RUN) {
  return {
    o: db.prepare('SELECT * FROM question_outcomes WHERE run_id = ? ORDER BY split, question_id, iteration').all(run),
    s: db.prepare('SELECT * FROM question_summary WHERE run_id = ? ORDER BY split, question_id').all(run),
    c: db.prepare('SELECT * FROM question_counts WHERE run_id = ? ORDER BY split, iteration').all(run),
    search: queryTraces(db, run, { search: 'direct false' }).total,
  };
}
/** PRAGMA integrity_check, FTS5's integrity-check, and the index holds exactly the trace samples. */
function checkIntegrity(db: DB): void {
  expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  db.exec("INSERT INTO samples_fts (samples_fts) VALUES ('integrity-check')");
  // every trace sample's text is found through the index, and nothing else is
  const traces = db.prepare(`SELECT id, text FROM samples WHERE kind IN ('direct', 'rationalized', 'eval') ORDER BY id`).all() as {
    id: number;
    text: string;
  }[];
  const find = db.prepare('SELECT rowid FROM samples_fts WHERE samples_fts MATCH ? ORDER BY rowid').pluck();
  for (const t of traces) expect(find.all(trigramQuery(t.text))).toContain(t.id);
  expect(db.prepare('SELECT count(*) FROM samples_fts_docsize').pluck().get()).toBe(traces.length);
}
/** LINES' samples written with plain SQL (no ingest), as a test or a bundle import would. */
function insertDirectly(db: DB, run = RUN): void {
  const ins = db.prepare(
    `INSERT INTO samples (run_id, seq, idx, iteration, split, kind, question_id, question, text, answer, gold, correct, hint_used, kept, difficulty)
     VALUES (@run, @seq, @idx, @iteration, @split, @kind, @question_id, @question, @text, @answer, @gold, @correct, @hint, NULL, @difficulty)`,
  );
  for (const [seq, l] of LINES.entries()) {
    const e = JSON.parse(l.text) as { iteration: number; items: ReturnType<typeof item>[] };
    e.items.forEach((it, idx) =>
      ins.run({ run, seq, idx, iteration: e.iteration, ...it, correct: it.correct ? 1 : 0, hint: it.hint_used ? 1 : 0 }),
    );
  }
}

describe('question outcomes', () => {
  it('are maintained at ingest, and re-ingest (whole or overlapping batches) adds nothing twice', () => {
    const db = openDatabase(':memory:');
    insertRun(db, newRun);
    ingestLines(db, RUN, LINES.slice(0, 2), null);
    ingestLines(db, RUN, LINES.slice(1), null); // overlaps: line 2 again
    ingestLines(db, RUN, LINES, null); // all again
    expect(outcomes(db)).toEqual(EXPECTED_OUTCOMES);
    expect(summary(db)).toEqual(EXPECTED_SUMMARY);
    const before = snapshot(db);
    expect(before.search).toBe(5); // the 5 wrong direct samples; the candidate is not indexed
    db.transaction(() => rebuildOutcomes(db))();
    expect(snapshot(db)).toEqual(before);
    db.close();
  });

  it('come out the same whatever order the iterations arrive in', () => {
    const db = openDatabase(':memory:');
    insertRun(db, newRun);
    for (const l of [...LINES].reverse()) ingestLines(db, RUN, [l], null);
    expect(outcomes(db)).toEqual(EXPECTED_OUTCOMES);
    // difficulty is the first non-null one ingested: iteration 3's (1) came before iteration 1's (4) here
    expect(summary(db)).toEqual([['qa', 'What is qa?', 1, 2, 1, 1, 3, 5], EXPECTED_SUMMARY[1]]);
    db.close();
  });

  it('are backfilled by migration 004 from a v3 database with data', () => {
    const file = `${tempDir()}/v3.sqlite`;
    const old = new Database(file);
    for (const m of migrations.slice(0, 3)) old.exec(m.up as string);
    old.pragma('user_version = 3');
    // the row as a v3 database holds it (insertRun writes today's columns)
    old
      .prepare(
        `INSERT INTO runs (${Object.keys(newRun).join(', ')}) VALUES (${Object.keys(newRun)
          .map((k) => `@${k}`)
          .join(', ')})`,
      )
      .run(newRun);
    old.prepare('INSERT OR IGNORE INTO ingest_cursors (run_id) VALUES (?)').run(RUN);
    insertDirectly(old);
    old.close();
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(migrations.length);
    expect(outcomes(db)).toEqual(EXPECTED_OUTCOMES);
    expect(summary(db)).toEqual(EXPECTED_SUMMARY);
    expect(queryTraces(db, RUN, { filter: 'forgotten' }).rows.map((r) => `${r.questionId}@${r.iteration}`)).toEqual(['qa@3']);
    expect(queryTraces(db, RUN, { search: 'rationalized' }).total).toBe(1);
    db.close();
  });

  it('follow deleted samples (resume drops the iterations after the checkpoint)', () => {
    const db = openDatabase(':memory:');
    insertRun(db, newRun);
    ingestLines(db, RUN, LINES, null);
    db.prepare('DELETE FROM samples WHERE run_id = ? AND iteration > ?').run(RUN, 1);
    expect(outcomes(db)).toEqual([EXPECTED_OUTCOMES[0], EXPECTED_OUTCOMES[3]]);
    expect(summary(db)).toEqual([
      ['qa', 'What is qa?', 4, null, 0, 1, 1, 2],
      ['qb', 'What is qb?', 1, null, 0, 0, 1, 1],
    ]);
    // one of two samples of an iteration: the outcome is recomputed from the rest
    db.prepare("DELETE FROM samples WHERE run_id = ? AND kind = 'rationalized'").run(RUN);
    expect(outcomes(db)).toEqual([['qa', 1, 0, 0, 1], EXPECTED_OUTCOMES[3]]);
    const after = snapshot(db);
    expect(after.search).toBe(2);
    db.transaction(() => rebuildOutcomes(db))();
    // (the summary keeps qa's difficulty 4 from the deleted sample; a rebuild finds none left)
    expect({ ...snapshot(db), s: null }).toEqual({ ...after, s: null });
    db.close();
  });

  it('stay right for samples written with plain SQL, through deletes, without corrupting the search index', () => {
    const db = openDatabase(':memory:');
    insertRun(db, newRun);
    insertDirectly(db);
    expect(outcomes(db)).toEqual(EXPECTED_OUTCOMES);
    expect(summary(db)).toEqual(EXPECTED_SUMMARY);
    expect(queryTraces(db, RUN, { filter: 'forgotten' }).rows.map((r) => `${r.questionId}@${r.iteration}`)).toEqual(['qa@3']);
    expect(queryTraces(db, RUN, { search: 'direct false' }).total).toBe(5);
    const matrix = () => querySolveMatrix(db, RUN, {});
    // qa: right through the hint at 1, solved at 2, wrong at 3; qb: wrong at 1 and 2
    expect(matrix()).toMatchObject({
      iterations: [1, 2, 3],
      total: 2,
      rows: [
        { questionId: 'qa', cells: 'HSW', firstSolved: 2, solvedCount: 1 },
        { questionId: 'qb', cells: 'WW.', firstSolved: null },
      ],
      counts: [
        { solved: 0, hinted: 1, wrong: 1 },
        { solved: 1, hinted: 0, wrong: 1 },
        { solved: 0, hinted: 0, wrong: 1 },
      ],
    });
    checkIntegrity(db);
    // qa's only solving sample: iteration 2 turns wrong
    db.prepare("DELETE FROM samples WHERE question_id = 'qa' AND iteration = 2 AND correct = 1").run();
    expect(matrix().rows.map((r) => [r.questionId, r.cells, r.firstSolved])).toEqual([
      ['qa', 'HWW', null],
      ['qb', 'WW.', null],
    ]);
    expect(queryTraces(db, RUN, { filter: 'rationalized-only' }).total).toBe(4); // qa's rows: 2 at 1, 1 at 2, 1 at 3
    // all of qb, and the candidate (not a trace)
    db.prepare("DELETE FROM samples WHERE question_id = 'qb' OR kind = 'candidate'").run();
    expect(matrix()).toMatchObject({
      total: 1,
      counts: [
        { solved: 0, hinted: 1, wrong: 0 },
        { solved: 0, hinted: 0, wrong: 1 },
        { solved: 0, hinted: 0, wrong: 1 },
      ],
    });
    expect(queryTraces(db, RUN, { search: 'direct false' }).total).toBe(3);
    checkIntegrity(db);
    const after = snapshot(db);
    db.transaction(() => rebuildOutcomes(db))();
    expect(snapshot(db)).toEqual(after);
    checkIntegrity(db);
    db.close();
  });

  it('dropIterationsAfter (resume) matches the row-by-row delete trigger and a rebuild, other runs untouched', () => {
    const make = () => {
      const db = openDatabase(':memory:');
      insertRun(db, newRun);
      insertRun(db, { ...newRun, id: 'other' });
      ingestLines(db, RUN, LINES, null);
      insertDirectly(db, 'other');
      return db;
    };
    const bulk = make();
    const rowwise = make();
    const otherBefore = snapshot(bulk, 'other');
    expect(dropIterationsAfter(bulk, RUN, 1)).toBe(5); // iteration 2's three samples, iteration 3's two
    rowwise.prepare('DELETE FROM samples WHERE run_id = ? AND iteration > ?').run(RUN, 1);
    expect(snapshot(bulk)).toEqual(snapshot(rowwise));
    expect(summary(bulk)).toEqual([
      ['qa', 'What is qa?', 4, null, 0, 1, 1, 2],
      ['qb', 'What is qb?', 1, null, 0, 0, 1, 1],
    ]);
    expect(counts(bulk)).toEqual([['train', 1, 0, 1, 1]]);
    expect(querySolveMatrix(bulk, RUN, {}).iterations).toEqual([1]);
    expect(snapshot(bulk, 'other')).toEqual(otherBefore);
    expect(bulk.prepare('SELECT count(*) FROM outcome_bulk_delete').pluck().get()).toBe(0);
    checkIntegrity(bulk);
    const after = snapshot(bulk);
    bulk.transaction(() => rebuildOutcomes(bulk))();
    expect(snapshot(bulk)).toEqual(after);
    expect(snapshot(bulk, 'other')).toEqual(otherBefore);
    // -1: the whole run; a later sample at iteration 2 is counted afresh
    expect(dropIterationsAfter(bulk, RUN, -1)).toBe(3);
    expect([outcomes(bulk), summary(bulk), counts(bulk)]).toEqual([[], [], []]);
    ingestLines(bulk, RUN, [{ lineNo: 9, text: ev(9, 'samples', { iteration: 2, items: [item('qa', 'direct', true, false)] }) }], null);
    expect(querySolveMatrix(bulk, RUN, {}).rows.map((r) => r.cells)).toEqual(['S']);
    checkIntegrity(bulk);
    expect(() => dropIterationsAfter(bulk, RUN, -2)).toThrow(/iteration must be an integer >= -1, got -2/);
    expect(() => dropIterationsAfter(bulk, RUN, 1.5)).toThrow(/iteration must be an integer/);
    bulk.close();
    rowwise.close();
  });

  it('refuse in-place updates that would desynchronise them; other columns may change', () => {
    const db = openDatabase(':memory:');
    insertRun(db, newRun);
    insertDirectly(db);
    expect(() => db.prepare("UPDATE samples SET text = 'x' WHERE kind = 'direct'").run()).toThrow(
      /cannot be updated \(delete it and insert it again\)/,
    );
    expect(() => db.prepare("UPDATE samples SET kind = 'direct' WHERE kind = 'candidate'").run()).toThrow(/cannot be updated/);
    expect(db.prepare("UPDATE samples SET kept = 1, text = text WHERE kind = 'direct'").run().changes).toBe(6);
    checkIntegrity(db);
    db.close();
  });

  it('are not fed samples of an absurd iteration: ingest logs them instead', () => {
    const db = openDatabase(':memory:');
    insertRun(db, newRun);
    ingestLines(
      db,
      RUN,
      [{ lineNo: 1, text: ev(1, 'samples', { iteration: MAX_ITERATION + 1, items: [item('qa', 'direct', true, false)] }) }],
      null,
    );
    expect(db.prepare('SELECT count(*) FROM samples').pluck().get()).toBe(0);
    expect(db.prepare("SELECT message FROM logs WHERE level = 'error'").pluck().all()).toEqual([
      `samples event 1: iteration ${MAX_ITERATION + 1} is over ${MAX_ITERATION}; its 1 samples were not stored`,
    ]);
    db.close();
  });
});
