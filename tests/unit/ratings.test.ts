/**
 * Blind rationale rating (db/ratings.ts, shared/rating-stats.ts) over hand-made runs: which
 * sample each source picks, the refusals, the stored blind order surviving a reopen, the
 * left/right mapping and the reversed-pair merge in the summary (keyed by run, iteration and
 * split, never by label), reading texts only for the pairs kept, Wilson intervals, the
 * unblinded CSV (quoting, formula neutralisation, hint flags) and deleting a run under a task.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import * as q from '../../db/queries';
import { openDatabase, type DB } from '../../db/open';
import {
  createRatingTask,
  csvCell,
  getRatingItem,
  listRatingTasks,
  rateItem,
  ratingsCsv,
  ratingSummary,
  RATINGS_CSV_HEADER,
  type RatingTaskSpec,
} from '../../db/ratings';
import { mulberry32, shortRunIds, shuffled, wilsonInterval } from '../../shared/rating-stats';
import { parseCSV } from '../../shared/export/csv';
import { cleanupTempDirs, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

const L1 = 'star · gsm8k · seed 0 · latest';
const L2 = 'star · gsm8k · seed 1 · latest';

function addRun(db: DB, id: string, seed: number): void {
  q.insertRun(db, {
    id,
    variant: 'star',
    dataset: 'gsm8k',
    preset: 'tiny',
    seed,
    model: 'm',
    config_json: '{}',
    config_hash: 'h',
    status: 'completed',
    created_at: 1,
    run_dir: `/tmp/${id}`,
  });
}

let seqNo = 0;
function addSample(
  db: DB,
  run: string,
  it: number,
  kind: string,
  qid: string,
  ok: boolean,
  text: string,
  o: { answer?: string; question?: string } = {},
): void {
  const split = kind === 'eval' || kind === 'candidate' ? 'eval' : 'train';
  db.prepare(
    `INSERT INTO samples (run_id, seq, idx, iteration, split, kind, question_id, question, text, answer, gold, correct, hint_used, kept, difficulty, scores_json)
     VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, 'g', ?, ?, NULL, NULL, NULL)`,
  ).run(
    run,
    seqNo++,
    it,
    split,
    kind,
    qid,
    o.question ?? `What is ${qid}?`,
    text,
    o.answer ?? (ok ? 'g' : 'x'),
    ok ? 1 : 0,
    kind === 'rationalized' ? 1 : 0,
  );
}

/**
 * r1 (seed 0) and r2 (seed 1), train:
 *   q1  r1: it1 wrong; it2 wrong (lowest id), hinted-correct, correct (highest id) -> 'r1 q1 solved'
 *       r2: it3 correct
 *   q2  both 'shared text' (identical -> skipped)
 *   q3  r1: it2 wrong (lower id), hinted-correct -> 'r1 q3 hinted';  r2: it3 correct
 *   q4  r1: it2 two wrong -> the lower id 'r1 q4 first';  r2: it3 correct
 *   q5  only r1;  q6 only V-STaR candidates in both (never rated)
 * eval: e1 in both, e2 only in r2.  r3: a retry of r1 (same label).  r4: only q9.
 */
function seed(db: DB): void {
  addRun(db, 'r1', 0);
  addRun(db, 'r2', 1);
  addRun(db, 'r3', 0);
  addRun(db, 'r4', 4);
  addSample(db, 'r1', 1, 'direct', 'q1', false, 'r1 q1 it1');
  addSample(db, 'r1', 2, 'direct', 'q1', false, 'r1 q1 wrong');
  addSample(db, 'r1', 2, 'rationalized', 'q1', true, 'r1 q1 hinted');
  addSample(db, 'r1', 2, 'direct', 'q1', true, 'r1 q1 solved');
  addSample(db, 'r1', 1, 'direct', 'q2', true, 'shared text');
  addSample(db, 'r1', 2, 'direct', 'q3', false, 'r1 q3 wrong');
  addSample(db, 'r1', 2, 'rationalized', 'q3', true, 'r1 q3 hinted');
  addSample(db, 'r1', 2, 'direct', 'q4', false, 'r1 q4 first');
  addSample(db, 'r1', 2, 'direct', 'q4', false, 'r1 q4 second');
  addSample(db, 'r1', 2, 'direct', 'q5', true, 'r1 q5');
  addSample(db, 'r1', 2, 'candidate', 'q6', true, 'r1 q6 cand');
  addSample(db, 'r1', 2, 'eval', 'e1', true, 'r1 e1');
  addSample(db, 'r2', 3, 'direct', 'q1', true, 'r2 q1');
  addSample(db, 'r2', 1, 'direct', 'q2', true, 'shared text');
  addSample(db, 'r2', 3, 'direct', 'q3', true, 'r2 q3');
  addSample(db, 'r2', 3, 'direct', 'q4', true, 'r2 q4');
  addSample(db, 'r2', 3, 'candidate', 'q6', true, 'r2 q6 cand');
  addSample(db, 'r2', 3, 'eval', 'e1', false, 'r2 e1');
  addSample(db, 'r2', 3, 'eval', 'e2', true, 'r2 e2');
  addSample(db, 'r3', 1, 'direct', 'q1', true, 'r3 q1');
  addSample(db, 'r4', 1, 'direct', 'q9', true, 'r4 q9');
}

function freshDb(): { db: DB; file: string } {
  const file = join(tempDir(), 'starlab.db');
  const db = openDatabase(file);
  seqNo = 0;
  seed(db);
  return { db, file };
}

const spec = (o: Partial<RatingTaskSpec> = {}): RatingTaskSpec => ({
  name: 't',
  rater: 'ann',
  a: { runId: 'r1', iteration: null },
  b: { runId: 'r2', iteration: null },
  split: 'train',
  onlyCorrect: false,
  limit: 100,
  seed: 7,
  ...o,
});

function create(db: DB, o: Partial<RatingTaskSpec> = {}): number {
  const r = createRatingTask(db, spec(o), 1000);
  if (!r.ok) throw new Error(r.message);
  return r.id;
}

/** The stored (unblinded) items of a task, by position. */
const stored = (db: DB, task: number) =>
  db
    .prepare('SELECT position, question_id AS q, a_left, a_text, b_text FROM rating_items WHERE task_id = ? ORDER BY position')
    .all(task) as {
    position: number;
    q: string;
    a_left: number;
    a_text: string;
    b_text: string;
  }[];

const byQuestion = (db: DB, task: number) => Object.fromEntries(stored(db, task).map((r) => [r.q, [r.a_text, r.b_text]]));

describe('wilsonInterval', () => {
  it('matches hand-computed values', () => {
    const w = wilsonInterval(7, 10)!;
    expect(w.low).toBeCloseTo(0.3968, 4);
    expect(w.high).toBeCloseTo(0.8922, 4);
    const h = wilsonInterval(2, 4)!;
    expect(h.low).toBeCloseTo(0.15, 4);
    expect(h.high).toBeCloseTo(0.85, 4);
    expect(wilsonInterval(0, 5)).toEqual({ low: 0, high: expect.closeTo(0.4345, 4) });
    expect(wilsonInterval(1, 1)!.high).toBe(1);
    expect(wilsonInterval(1, 1)!.low).toBeCloseTo(0.2065, 4);
    expect(wilsonInterval(0, 0)).toBeNull();
    expect(() => wilsonInterval(3, 2)).toThrow(/successes <= n/);
  });
  it('seeded shuffle is deterministic per seed', () => {
    const xs = Array.from({ length: 20 }, (_, i) => i);
    expect(shuffled(xs, mulberry32(5))).toEqual(shuffled(xs, mulberry32(5)));
    expect(shuffled(xs, mulberry32(5))).not.toEqual(shuffled(xs, mulberry32(6)));
    expect([...shuffled(xs, mulberry32(5))].sort((a, b) => a - b)).toEqual(xs);
    const r = mulberry32(1);
    for (let i = 0; i < 100; i++) expect(r()).toBeGreaterThanOrEqual(0);
  });
});

describe('creating a task', () => {
  it('picks one sample per question by the rules and skips what cannot be judged', () => {
    const { db } = freshDb();
    const id = create(db);
    // q2 identical, q5 only in r1, q6 only candidates
    expect(byQuestion(db, id)).toEqual({
      q1: ['r1 q1 solved', 'r2 q1'],
      q3: ['r1 q3 hinted', 'r2 q3'],
      q4: ['r1 q4 first', 'r2 q4'],
    });
    // onlyCorrect drops q4 (r1 wrong there) but admits q3, correct only through the hint; the
    // item records that (q1 prefers the correct sample without the hint)
    const correctOnly = create(db, { onlyCorrect: true });
    expect(Object.keys(byQuestion(db, correctOnly)).sort()).toEqual(['q1', 'q3']);
    expect(
      db
        .prepare('SELECT question_id AS q, a_hint_used AS a, b_hint_used AS b FROM rating_items WHERE task_id = ? ORDER BY q')
        .all(correctOnly),
    ).toEqual([
      { q: 'q1', a: 0, b: 0 },
      { q: 'q3', a: 1, b: 0 },
    ]);
    for (let p = 0; p < 2; p++)
      rateItem(db, { taskId: correctOnly, position: p, rater: 'ann', choice: 'both', flagLeft: false, flagRight: false });
    const [head, ...csvRows] = parseCSV(ratingsCsv(db, correctOnly)).filter((r) => r.length > 1);
    const col = (name: string) => head!.indexOf(name);
    expect(csvRows.map((r) => [r[col('question_id')], r[col('a_via_hint')], r[col('b_via_hint')]]).sort()).toEqual([
      ['q1', '0', '0'],
      ['q3', '1', '0'],
    ]);
    // a fixed iteration: r1 at 1 has q1 (wrong) and q2 (identical)
    expect(byQuestion(db, create(db, { a: { runId: 'r1', iteration: 1 } }))).toEqual({ q1: ['r1 q1 it1', 'r2 q1'] });
    // held-out: eval rows only
    expect(byQuestion(db, create(db, { split: 'eval' }))).toEqual({ e1: ['r1 e1', 'r2 e1'] });
    // limit caps the pairs
    const capped = createRatingTask(db, spec({ limit: 2 }), 1000);
    expect(capped).toMatchObject({ ok: true, items: 2 });

    const tasks = listRatingTasks(db);
    expect(tasks.map((t) => t.id)).toEqual([...tasks.map((t) => t.id)].sort((a, b) => b - a));
    const first = tasks.find((t) => t.id === id)!;
    expect(first).toEqual({
      id,
      name: 't',
      rater: 'ann',
      createdAt: 1000,
      a: { runId: 'r1', iteration: null, label: L1 },
      b: { runId: 'r2', iteration: null, label: L2 },
      split: 'train',
      items: 3,
      rated: 0,
    });
    expect(tasks.find((t) => t.a.iteration === 1)!.a.label).toBe('star · gsm8k · seed 0 · it 1');
    db.close();
  });

  it('refuses what cannot make a task, naming the problem', () => {
    const { db } = freshDb();
    const msg = (o: Partial<RatingTaskSpec>) => {
      const r = createRatingTask(db, spec(o));
      return r.ok ? 'ok' : r.message;
    };
    expect(msg({ b: { runId: 'r1', iteration: null } })).toMatch(/source A and source B are the same \(run 'r1' \(latest\)\)/);
    expect(msg({ b: { runId: 'nope', iteration: null } })).toBe("source B: unknown run 'nope'");
    expect(msg({ a: { runId: 'nope', iteration: 2 } })).toBe("source A: unknown run 'nope'");
    expect(msg({ a: { runId: 'r1', iteration: 7 } })).toBe(
      'source A (star · gsm8k · seed 0 · it 7) has no training rationales at iteration 7',
    );
    expect(msg({ b: { runId: 'r4', iteration: null } })).toMatch(/^no question has a training rationale in both sources/);
    expect(msg({ a: { runId: 'r1', iteration: 1 }, onlyCorrect: true })).toBe(
      'nothing to rate: of 2 common questions, 1 not answered correctly by both, 1 with identical rationales',
    );
    // r1 at 1 and r1 latest are different sources
    expect(msg({ a: { runId: 'r1', iteration: 1 }, b: { runId: 'r1', iteration: null } })).toBe('ok');
    expect(db.prepare('SELECT count(*) AS n FROM rating_tasks').get()).toEqual({ n: 1 });
    db.close();
  });

  it('tells apart two runs that would read the same', () => {
    const { db } = freshDb();
    const id = create(db, { b: { runId: 'r3', iteration: null } });
    const t = listRatingTasks(db).find((x) => x.id === id)!;
    expect([t.a.label, t.b.label]).toEqual([`${L1} · run r1`, `${L1} · run r3`]);
    db.close();
  });
});

describe('reading texts', () => {
  /** Runs rA and rB over n questions; every third question has the same text in both. */
  function bigDb(n: number): DB {
    const db = openDatabase(join(tempDir(), 'big.db'));
    addRun(db, 'rA', 0);
    addRun(db, 'rB', 1);
    for (let i = 0; i < n; i++) {
      const qid = `q${String(i).padStart(4, '0')}`;
      addSample(db, 'rA', 1, 'direct', qid, true, i % 3 === 0 ? `same ${i}` : `A ${i}`);
      addSample(db, 'rB', 1, 'direct', qid, true, i % 3 === 0 ? `same ${i}` : `B ${i}`);
    }
    return db;
  }
  /** Counts the text reads of createRatingTask (its statement that selects `text` by sample id). */
  function countTextReads(db: DB): { reads: number } {
    const counter = { reads: 0 };
    const prepare = db.prepare.bind(db);
    vi.spyOn(db, 'prepare').mockImplementation(((sql: string) => {
      const stmt = prepare(sql);
      if (/\btext\b/.test(sql) && /FROM samples WHERE id = \?/.test(sql)) {
        const get = stmt.get.bind(stmt);
        stmt.get = ((...args: unknown[]) => {
          counter.reads++;
          return get(...args);
        }) as typeof stmt.get;
      }
      return stmt;
    }) as typeof db.prepare);
    return counter;
  }

  it('reads texts only until the limit is reached, in the seeded order', () => {
    const n = 300;
    const db = bigDb(n);
    const ab = { a: { runId: 'rA', iteration: null }, b: { runId: 'rB', iteration: null }, seed: 11 };
    const ids = Array.from({ length: n }, (_, i) => `q${String(i).padStart(4, '0')}`);
    // The documented order: the sorted common ids shuffled by the seed; identical pairs skipped.
    const order = shuffled(ids, mulberry32(11));
    const judgeable = order.filter((q) => Number(q.slice(1)) % 3 !== 0);

    const counter = countTextReads(db);
    const small = create(db, { ...ab, limit: 5 });
    const walked = order.indexOf(judgeable[4]!) + 1;
    expect(counter.reads).toBe(2 * walked); // two texts per question walked, none after the 5th kept
    expect(walked).toBeLessThan(20);
    expect(stored(db, small).map((r) => r.q)).toEqual(judgeable.slice(0, 5));

    counter.reads = 0;
    const one = create(db, { ...ab, limit: 1 });
    expect(counter.reads).toBe(2 * (order.indexOf(judgeable[0]!) + 1));

    // A full walk with the same seed starts with the same pairs on the same sides.
    const full = create(db, { ...ab, limit: 2000 });
    const head = (t: number, k: number) =>
      stored(db, t)
        .slice(0, k)
        .map(({ q, a_left }) => ({ q, a_left }));
    expect(stored(db, full)).toHaveLength(judgeable.length);
    expect(head(small, 5)).toEqual(head(full, 5));
    expect(head(one, 1)).toEqual(head(full, 1));
    vi.restoreAllMocks();
    db.close();
  });

  it('walks every question before saying there is nothing to rate', () => {
    const db = openDatabase(join(tempDir(), 'none.db'));
    addRun(db, 'rA', 0);
    addRun(db, 'rB', 1);
    for (let i = 0; i < 6; i++) {
      addSample(db, 'rA', 1, 'direct', `q${i}`, i < 4, `t ${i}`);
      addSample(db, 'rB', 1, 'direct', `q${i}`, true, `t ${i}`);
    }
    const counter = countTextReads(db);
    const r = createRatingTask(
      db,
      spec({ a: { runId: 'rA', iteration: null }, b: { runId: 'rB', iteration: null }, onlyCorrect: true, limit: 1 }),
    );
    expect(r).toEqual({
      ok: false,
      message: 'nothing to rate: of 6 common questions, 2 not answered correctly by both, 4 with identical rationales',
    });
    expect(counter.reads).toBe(8); // the 4 both-correct questions, none of the others
    vi.restoreAllMocks();
    db.close();
  });
});

describe('the blind order', () => {
  it('is stored with its seed and survives a reopen', () => {
    const { db, file } = freshDb();
    const id = create(db, { seed: undefined });
    const seedUsed = (db.prepare('SELECT seed FROM rating_tasks WHERE id = ?').get(id) as { seed: number }).seed;
    expect(Number.isInteger(seedUsed)).toBe(true);
    const items = [0, 1, 2].map((p) => getRatingItem(db, id, p));
    db.close();

    const again = openDatabase(file);
    expect([0, 1, 2].map((p) => getRatingItem(again, id, p))).toEqual(items);
    // the same spec and seed give the same order and sides
    const twin = create(again, { seed: seedUsed });
    expect(stored(again, twin).map(({ position, q, a_left }) => ({ position, q, a_left }))).toEqual(
      stored(again, id).map(({ position, q, a_left }) => ({ position, q, a_left })),
    );
    again.close();
  });

  it('shows the two rationales by side, with nothing that tells the sources apart', () => {
    const { db } = freshDb();
    const id = create(db);
    db.prepare('UPDATE rating_items SET a_left = (position != 1) WHERE task_id = ?').run(id);
    const rows = stored(db, id);
    const item0 = getRatingItem(db, id, 0)!;
    expect(Object.keys(item0).sort()).toEqual(
      ['choice', 'flagLeft', 'flagRight', 'gold', 'left', 'position', 'question', 'questionId', 'rated', 'right', 'taskId', 'total'].sort(),
    );
    expect(item0).toMatchObject({
      taskId: id,
      position: 0,
      total: 3,
      rated: 0,
      questionId: rows[0]!.q,
      gold: 'g',
      choice: null,
      flagLeft: false,
      flagRight: false,
    });
    expect([item0.left.text, item0.right.text]).toEqual([rows[0]!.a_text, rows[0]!.b_text]);
    const item1 = getRatingItem(db, id, 1)!;
    expect([item1.left.text, item1.right.text]).toEqual([rows[1]!.b_text, rows[1]!.a_text]);
    expect(getRatingItem(db, id, 3)).toBeNull();
    expect(getRatingItem(db, 999)).toBeNull();
    db.close();
  });
});

describe('rating', () => {
  it('resumes at the first unrated pair, overwrites a re-rating and refuses bad positions', () => {
    const { db } = freshDb();
    const id = create(db);
    expect(getRatingItem(db, id)!.position).toBe(0);
    expect(rateItem(db, { taskId: id, position: 0, rater: 'ann', choice: 'left', flagLeft: false, flagRight: false }, 10)).toEqual({
      ok: true,
      rated: 1,
    });
    expect(rateItem(db, { taskId: id, position: 2, rater: 'ann', choice: 'both', flagLeft: false, flagRight: false }, 11)).toEqual({
      ok: true,
      rated: 2,
    });
    expect(getRatingItem(db, id)!.position).toBe(1);
    // re-rating overwrites: still 2 rated, the new choice, rater and time
    expect(rateItem(db, { taskId: id, position: 0, rater: 'bob', choice: 'right', flagLeft: true, flagRight: false }, 12)).toEqual({
      ok: true,
      rated: 2,
    });
    expect(getRatingItem(db, id, 0)).toMatchObject({ choice: 'right', flagLeft: true, flagRight: false, rated: 2 });
    expect(db.prepare('SELECT rater, rated_at FROM ratings WHERE task_id = ? AND position = 0').get(id)).toEqual({
      rater: 'bob',
      rated_at: 12,
    });
    rateItem(db, { taskId: id, position: 1, rater: 'ann', choice: 'neither', flagLeft: false, flagRight: false }, 13);
    expect(getRatingItem(db, id)).toMatchObject({ position: 2, rated: 3, choice: 'both' }); // all rated: the last
    expect(rateItem(db, { taskId: id, position: 3, rater: 'ann', choice: 'left', flagLeft: false, flagRight: false })).toEqual({
      ok: false,
      message: `position 3 is out of range: task ${id} has 3 pairs (0..2)`,
    });
    expect(rateItem(db, { taskId: 999, position: 0, rater: 'ann', choice: 'left', flagLeft: false, flagRight: false })).toEqual({
      ok: false,
      message: 'no rating task 999',
    });
    db.close();
  });
});

describe('the summary', () => {
  it('maps sides through the stored assignment and merges reversed pairs', () => {
    const { db } = freshDb();
    const rate = (
      taskId: number,
      position: number,
      rater: string,
      choice: 'left' | 'right' | 'both' | 'neither',
      flagLeft = false,
      flagRight = false,
    ) => rateItem(db, { taskId, position, rater, choice, flagLeft, flagRight });
    // T1: A = r1, B = r2; A shown left at 0 and 2, right at 1
    const t1 = create(db);
    db.prepare('UPDATE rating_items SET a_left = (position != 1) WHERE task_id = ?').run(t1);
    rate(t1, 0, 'ann', 'left', false, true); // A wins; right = B flagged
    rate(t1, 1, 'ann', 'left', true, false); // left = B: B wins, B flagged
    rate(t1, 2, 'ann', 'both');
    // T2: the same two sources the other way round (A = r2), A always on the right
    const t2 = create(db, { a: { runId: 'r2', iteration: null }, b: { runId: 'r1', iteration: null } });
    db.prepare('UPDATE rating_items SET a_left = 0 WHERE task_id = ?').run(t2);
    rate(t2, 0, 'bob', 'right'); // T2's A = r2 wins
    rate(t2, 1, 'bob', 'left'); // T2's B = r1 wins
    rate(t2, 2, 'bob', 'neither', true, false); // left = T2's B = r1 flagged
    // T3: other sources, nothing rated yet
    create(db, { a: { runId: 'r1', iteration: 1 } });

    const rows = ratingSummary(db);
    expect(rows).toHaveLength(2);
    const [merged, empty] = rows as [(typeof rows)[0], (typeof rows)[0]];
    expect(merged).toMatchObject({ a: L1, b: L2, n: 6, winsA: 2, winsB: 2, both: 1, neither: 1, winRateA: 0.5, raters: ['ann', 'bob'] });
    expect(merged.ciLow).toBeCloseTo(0.15, 4);
    expect(merged.ciHigh).toBeCloseTo(0.85, 4);
    expect(merged.flaggedShareA).toBeCloseTo(1 / 6, 10);
    expect(merged.flaggedShareB).toBeCloseTo(2 / 6, 10);
    expect(empty).toEqual({
      a: 'star · gsm8k · seed 0 · it 1',
      b: L2,
      split: 'train',
      n: 0,
      winsA: 0,
      winsB: 0,
      both: 0,
      neither: 0,
      winRateA: null,
      ciLow: null,
      ciHigh: null,
      flaggedShareA: null,
      flaggedShareB: null,
      raters: [],
    });
    // one task alone, from its own point of view
    expect(ratingSummary(db, t2)).toEqual([
      expect.objectContaining({
        a: L2,
        b: L1,
        n: 3,
        winsA: 1,
        winsB: 1,
        both: 0,
        neither: 1,
        winRateA: 0.5,
        flaggedShareA: 0,
        flaggedShareB: 1 / 3,
        raters: ['bob'],
      }),
    ]);
    expect(ratingSummary(db, 999)).toEqual([]);
    db.close();
  });
});

describe('the summary keys', () => {
  const rateAll = (db: DB, task: number, choice: 'left' | 'right' | 'both' | 'neither', rater = 'ann') => {
    const { total } = getRatingItem(db, task)!;
    for (let p = 0; p < total; p++) rateItem(db, { taskId: task, position: p, rater, choice, flagLeft: false, flagRight: false });
  };
  /** r3 is a retry of r1 (same variant, dataset, seed): give it q3 and q4 too. */
  const withRetry = () => {
    const { db } = freshDb();
    addSample(db, 'r3', 1, 'direct', 'q3', true, 'r3 q3');
    addSample(db, 'r3', 1, 'direct', 'q4', true, 'r3 q4');
    return db;
  };

  it('keeps a run and its retry apart, and merges either one reversed', () => {
    const db = withRetry();
    const t1 = create(db); // r1 vs r2
    const t2 = create(db, { a: { runId: 'r3', iteration: null } }); // r3 vs r2
    const t3 = create(db, { a: { runId: 'r2', iteration: null }, b: { runId: 'r3', iteration: null } }); // reversed
    db.prepare('UPDATE rating_items SET a_left = 1').run();
    rateAll(db, t1, 'left'); // r1 wins 3
    rateAll(db, t2, 'right'); // r2 wins 3
    rateAll(db, t3, 'left', 'bob'); // r2 wins 3 more
    const rows = ratingSummary(db);
    expect(rows.map(({ a, b, split, n, winsA, winsB, raters }) => ({ a, b, split, n, winsA, winsB, raters }))).toEqual([
      { a: `${L1} · run r1`, b: L2, split: 'train', n: 3, winsA: 3, winsB: 0, raters: ['ann'] },
      { a: `${L1} · run r3`, b: L2, split: 'train', n: 6, winsA: 0, winsB: 6, raters: ['ann', 'bob'] },
    ]);
    // one task alone: no other run shares its labels, so no run ids
    expect(ratingSummary(db, t1)).toEqual([expect.objectContaining({ a: L1, b: L2, n: 3 })]);
    db.close();
  });

  it('labels a task between a run and its retry the same way in every row', () => {
    const db = withRetry();
    const t1 = create(db, { b: { runId: 'r3', iteration: null } }); // stored labels carry "· run r1" / "· run r3"
    const t2 = create(db, { b: { runId: 'r2', iteration: null } });
    rateAll(db, t1, 'both');
    rateAll(db, t2, 'both');
    expect(ratingSummary(db).map(({ a, b, n }) => [a, b, n])).toEqual([
      [`${L1} · run r1`, `${L1} · run r3`, 3],
      [`${L1} · run r1`, L2, 3],
    ]);
    expect(ratingSummary(db, t1).map(({ a, b }) => [a, b])).toEqual([[`${L1} · run r1`, `${L1} · run r3`]]);
    expect(ratingSummary(db, t2).map(({ a, b }) => [a, b])).toEqual([[L1, L2]]);
    db.close();
  });

  it('keeps training and held-out comparisons of the same sources apart', () => {
    const { db } = freshDb();
    const train = create(db);
    const heldOut = create(db, { split: 'eval', a: { runId: 'r2', iteration: null }, b: { runId: 'r1', iteration: null } });
    rateAll(db, train, 'both');
    rateAll(db, heldOut, 'neither');
    expect(ratingSummary(db).map(({ a, b, split, n, both, neither }) => ({ a, b, split, n, both, neither }))).toEqual([
      { a: L1, b: L2, split: 'train', n: 3, both: 3, neither: 0 },
      { a: L2, b: L1, split: 'eval', n: 1, both: 0, neither: 1 },
    ]);
    db.close();
  });

  it('shortens run ids to distinct tails', () => {
    const ids = ['20240101-120000-ab12', '20240101-130000-ab12', '20240102-120000-cd34', 'r1'];
    expect(Object.fromEntries(shortRunIds(ids))).toEqual({
      '20240101-120000-ab12': '…20000-ab12',
      '20240101-130000-ab12': '…30000-ab12',
      '20240102-120000-cd34': '…cd34',
      r1: 'r1',
    });
  });
});

describe('the unblinded CSV', () => {
  it('quotes per RFC 4180 and neutralises formulas', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell(' padded')).toBe('" padded"');
    expect(csvCell('=1+1')).toBe("'=1+1");
    expect(csvCell('+A1')).toBe("'+A1");
    expect(csvCell('-2+3')).toBe("'-2+3");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('=HYPERLINK("x", "y")')).toBe(`"'=HYPERLINK(""x"", ""y"")"`);
    expect(csvCell('-3')).toBe('-3'); // a plain number is not a formula
    expect(csvCell('+1.5e3')).toBe('+1.5e3');
    expect(csvCell(-3)).toBe('-3');
    expect(csvCell(null)).toBe('');
  });

  it('exports every rating unblinded', () => {
    const { db } = freshDb();
    addRun(db, 'r5', 5);
    addRun(db, 'r6', 6);
    const question = 'Say "hi", then\nstop';
    addSample(db, 'r5', 0, 'direct', 'qx', false, '=HYPERLINK("http://x")', { answer: '-3', question });
    addSample(db, 'r6', 0, 'direct', 'qx', true, '+1 then -2', { answer: '@A1', question });
    const id = create(db, { a: { runId: 'r5', iteration: 0 }, b: { runId: 'r6', iteration: 0 }, name: 'csv, test' });
    db.prepare('UPDATE rating_items SET a_left = 0 WHERE task_id = ?').run(id);
    rateItem(db, { taskId: id, position: 0, rater: 'ann', choice: 'left', flagLeft: true, flagRight: false }, 1700000000);
    create(db); // another task, unrated: not in the export

    const text = ratingsCsv(db, id);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text).toContain(`"'=HYPERLINK(""http://x"")"`);
    const [header, row, ...rest] = parseCSV(text);
    expect(header).toEqual([...RATINGS_CSV_HEADER]);
    expect(rest.filter((r) => r.some((c) => c !== ''))).toEqual([]);
    const cell = Object.fromEntries(header!.map((h, i) => [h, row![i]]));
    expect(cell).toEqual({
      task_id: String(id),
      task_name: 'csv, test',
      rater: 'ann',
      position: '0',
      question_id: 'qx',
      source_a: 'star · gsm8k · seed 5 · it 0',
      source_b: 'star · gsm8k · seed 6 · it 0',
      a_shown_on: 'right',
      choice: 'b', // left was B
      flag_a: '0',
      flag_b: '1',
      rated_at: '2023-11-14T22:13:20.000Z',
      question,
      gold: 'g',
      a_iteration: '0',
      a_answer: '-3',
      a_correct: '0',
      a_via_hint: '0',
      a_text: `'=HYPERLINK("http://x")`,
      b_iteration: '0',
      b_answer: "'@A1",
      b_correct: '1',
      b_via_hint: '0',
      b_text: "'+1 then -2",
    });
    // all tasks: still only the one rating
    expect(parseCSV(ratingsCsv(db)).filter((r) => r.length > 1)).toHaveLength(2);
    db.close();
  });
});

describe('deleting a run under a task', () => {
  it('keeps the task, its items and ratings readable and clears the sample links', () => {
    const { db } = freshDb();
    const id = create(db);
    rateItem(db, { taskId: id, position: 0, rater: 'ann', choice: 'both', flagLeft: false, flagRight: false });
    const before = getRatingItem(db, id, 0);
    db.prepare("DELETE FROM runs WHERE id = 'r2'").run();
    expect(db.prepare("SELECT count(*) AS n FROM samples WHERE run_id = 'r2'").get()).toEqual({ n: 0 });
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(
      db.prepare('SELECT count(a_sample_id) AS a, count(b_sample_id) AS b, count(*) AS n FROM rating_items WHERE task_id = ?').get(id),
    ).toEqual({ a: 3, b: 0, n: 3 });
    expect(getRatingItem(db, id, 0)).toEqual(before);
    expect(listRatingTasks(db)[0]).toMatchObject({ id, b: { runId: 'r2', label: L2 }, items: 3, rated: 1 });
    expect(ratingSummary(db)[0]).toMatchObject({ a: L1, b: L2, n: 1, both: 1 });
    expect(parseCSV(ratingsCsv(db))).toHaveLength(2);
    // a new task against the deleted run is refused
    expect(createRatingTask(db, spec())).toEqual({ ok: false, message: "source B: unknown run 'r2'" });
    db.close();
  });
});
