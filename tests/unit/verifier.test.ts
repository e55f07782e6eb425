/**
 * V-STaR verifier statistics (db/verifier.ts) over a hand-made run's test-time candidates:
 * histogram counts and means, pair accuracy with ties, missing scores, the question list with
 * search and paging, and one question's candidates ranked by a scorer.
 */
import { describe, expect, it } from 'vitest';
import { type DB, openDatabase } from '../../db/open';
import { insertRun } from '../../db/queries';
import { candidateQuestions, histogram, pairAccuracy, rankedCandidates, verifierStats } from '../../db/verifier';

const RUN = 'vstar-run';

/** A fully migrated database in memory (real SQLite). */
function makeDb(): DB {
  const db = openDatabase(':memory:');
  insertRun(db, {
    id: RUN,
    variant: 'v-star',
    dataset: 'addition',
    preset: 'tiny',
    seed: 0,
    model: 'm',
    config_json: '{}',
    config_hash: 'h',
    status: 'completed',
    created_at: 1,
    run_dir: '/nonexistent',
  });
  insertRun(db, {
    id: 'empty',
    variant: 'star',
    dataset: 'addition',
    preset: 'tiny',
    seed: 0,
    model: 'm',
    config_json: '{}',
    config_hash: 'h',
    status: 'completed',
    created_at: 1,
    run_dir: '/nonexistent',
  });
  const ins = db.prepare(
    `INSERT INTO samples (run_id, seq, idx, iteration, split, kind, question_id, question, text, answer, gold, correct, hint_used, kept, difficulty, scores_json)
     VALUES (?, ?, 0, ?, 'eval', ?, ?, ?, ?, ?, 'g', ?, 0, NULL, NULL, ?)`,
  );
  const QUESTION: Record<string, string> = { q1: 'What is 10% of 50?', q2: 'Add 3_4', q3: 'WHAT is big', q4: 'Plain' };
  let seq = 0;
  const add = (it: number, qid: string, ok: boolean, scores: Record<string, number> | null, text = `${qid}-${seq}`, kind = 'candidate') =>
    ins.run(RUN, seq++, it, kind, qid, QUESTION[qid]!, text, ok ? 'g' : 'x', ok ? 1 : 0, scores === null ? null : JSON.stringify(scores));

  // iteration 0: only the likelihood score
  add(0, 'q1', true, { logp_norm: -0.5 });
  add(0, 'q1', false, { logp_norm: -1 });
  // iteration 1: q1 one right over one wrong; the ORM gives everything 2 (a degenerate range)
  add(1, 'q1', true, { reward: 1, orm: 2 });
  add(1, 'q1', false, { reward: 0, orm: 2 });
  add(1, 'q2', true, { reward: 5, orm: 2 });
  // iteration 2, q1 in storage order: unscored, 2.0 right, 1.0 wrong, 0.5 wrong, 0.5 right, and one with no scores at all
  add(2, 'q1', false, { orm: 0.3 }, 'E');
  add(2, 'q1', true, { reward: 2, orm: 1 }, 'A');
  add(2, 'q1', false, { reward: 1, orm: 1 }, 'B');
  add(2, 'q1', false, { reward: 0.5 }, 'D');
  add(2, 'q1', true, { reward: 0.5 }, 'C');
  add(2, 'q2', true, { reward: 3 });
  add(2, 'q3', false, { reward: -1 });
  add(2, 'q3', false, { reward: 0 });
  add(2, 'q4', true, { reward: 0 });
  add(2, 'q4', false, { reward: 1.5 });
  add(2, 'q4', true, null);
  // not a candidate: never counted
  add(2, 'q1', true, { reward: 100 }, 'eval', 'eval');
  return db;
}

describe('verifierStats', () => {
  const db = makeDb();

  it('histograms, means and pair accuracy (ties half) at the last iteration by default', () => {
    const r = verifierStats(db, RUN, { scorer: 'dpo', bins: 4 });
    if (!r.ok) throw new Error(r.message);
    expect(r.iterations).toEqual([0, 1, 2]);
    expect(r.iteration).toBe(2);
    expect(r.scorer).toBe('dpo');
    // right: 2, 0.5, 3, 0 — wrong: 1, 0.5, -1, 0, 1.5 — over [-1, 3] in 4 bins of width 1
    expect(r.bins).toEqual([
      { lo: -1, hi: 0, right: 0, wrong: 1 },
      { lo: 0, hi: 1, right: 2, wrong: 2 },
      { lo: 1, hi: 2, right: 0, wrong: 2 },
      { lo: 2, hi: 3, right: 2, wrong: 0 }, // the maximum (3) falls in the last bin
    ]);
    expect(r.right).toEqual({ n: 4, mean: 5.5 / 4 });
    expect(r.wrong.n).toBe(5);
    expect(r.wrong.mean).toBeCloseTo(0.4, 12);
    expect(r.unscored).toBe(2); // E (no reward) and q4's candidate without scores
    // it 0: no reward score → no pairs; it 1: 1 > 0 → 1/1; it 2: q1 {2, .5}×{1, .5} = 1+1+0+½, q4 0 < 1.5 → 2.5/5
    expect(r.pairAccuracy).toEqual([
      { iteration: 0, value: null, pairs: 0 },
      { iteration: 1, value: 1, pairs: 1 },
      { iteration: 2, value: 0.5, pairs: 5 },
    ]);
  });

  it('defaults to 30 bins that cover every scored candidate', () => {
    const r = verifierStats(db, RUN, { scorer: 'dpo' });
    if (!r.ok) throw new Error(r.message);
    expect(r.bins).toHaveLength(30);
    expect(r.bins[0]!.lo).toBe(-1);
    expect(r.bins[29]!.hi).toBe(3);
    expect(r.bins.reduce((a, b) => a + b.right, 0)).toBe(4);
    expect(r.bins.reduce((a, b) => a + b.wrong, 0)).toBe(5);
  });

  it('gives sane bins for a single value and counts a tie as half a pair', () => {
    const r = verifierStats(db, RUN, { scorer: 'orm', iteration: 1, bins: 3 });
    if (!r.ok) throw new Error(r.message);
    expect(r.bins.map((b) => [b.right, b.wrong])).toEqual([
      [0, 0],
      [2, 1],
      [0, 0],
    ]);
    expect(r.bins[0]!.lo).toBe(1.5);
    expect(r.bins[2]!.hi).toBe(2.5);
    for (const b of r.bins) expect(b.hi).toBeGreaterThan(b.lo);
    expect(r.right).toEqual({ n: 2, mean: 2 });
    expect(r.wrong).toEqual({ n: 1, mean: 2 });
    // iteration 2's ORM: q1's right A (1) vs wrong E (0.3) and B (1): a win and a tie → 1.5 / 2
    expect(r.pairAccuracy).toEqual([
      { iteration: 0, value: null, pairs: 0 },
      { iteration: 1, value: 0.5, pairs: 1 },
      { iteration: 2, value: 0.75, pairs: 2 },
    ]);
  });

  it('says clearly when there is nothing to show', () => {
    expect(verifierStats(db, 'empty', { scorer: 'dpo' })).toEqual({ ok: false, message: 'run empty has no V-STaR test-time candidates' });
    const absent = verifierStats(db, RUN, { scorer: 'dpo', iteration: 0 });
    expect(absent.ok).toBe(false);
    if (!absent.ok) expect(absent.message).toMatch(/iteration 0 has the dpo score \(key "reward"\)/);
    const missing = verifierStats(db, RUN, { scorer: 'logp', iteration: 7 });
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.message).toMatch(/no candidates at iteration 7 \(iterations with candidates: 0, 1, 2\)/);
  });
});

describe('pairAccuracy and histogram', () => {
  it('counts every right/wrong pair of a question, ties half', () => {
    expect(pairAccuracy([{ right: [1, 1, 3], wrong: [1, 2] }])).toEqual({ value: (0.5 + 0 + 0.5 + 0 + 1 + 1) / 6, pairs: 6 });
    expect(
      pairAccuracy([
        { right: [], wrong: [1] },
        { right: [1], wrong: [] },
      ]),
    ).toEqual({ value: null, pairs: 0 });
  });
  it('puts each value in the bin that holds it', () => {
    const h = histogram([0, 9.99], [10, 5], 2);
    expect(h).toEqual([
      { lo: 0, hi: 5, right: 1, wrong: 0 },
      { lo: 5, hi: 10, right: 1, wrong: 2 },
    ]);
    expect(histogram([], [], 5)).toEqual([]);
  });

  it('puts a value next to a bin edge in the bin whose [lo, hi) holds it', () => {
    // floor((v - lo) / width) says bin 4 for -0.499, but bin 4's stored lo (-7.81 + 4 × width)
    // rounds to -0.49899999999999967 > -0.499: the value belongs to bin 3.
    const values = [-0.499, -2.125, -5.477, 6.812, -7.81];
    for (const h of [histogram(values, [], 8), histogram([], values, 8)]) {
      expect(h).toHaveLength(8);
      expect(h[0]!.lo).toBe(-7.81);
      expect(h[7]!.hi).toBe(6.812);
      const count = (b: (typeof h)[number]) => b.right + b.wrong;
      expect(h.map(count)).toEqual([1, 1, 0, 2, 0, 0, 0, 1]); // -7.81 | -5.477 | - | -2.125, -0.499 | … | 6.812 (the max, last bin)
      for (const v of values) {
        const i = h.findIndex((b) => count(b) > 0 && v >= b.lo && (v < b.hi || (b === h[7] && v === b.hi)));
        expect(i, `bin of ${v}`).toBeGreaterThanOrEqual(0);
      }
      for (let i = 1; i < 8; i++) expect(h[i]!.lo).toBe(h[i - 1]!.hi);
    }
    expect(histogram(values, [], 8)[3]).toMatchObject({ right: 2 });
  });

  it('gives a huge single value a range it can tell apart, and leaves non-finite values out', () => {
    const h = histogram([1e17], [1e17], 10);
    expect(h).toHaveLength(10);
    expect(h[0]!.lo).toBe(1e17 - 1e8);
    expect(h[9]!.hi).toBe(1e17 + 1e8);
    for (const b of h) expect(b.hi).toBeGreaterThan(b.lo);
    expect(h.map((b) => [b.right, b.wrong])).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
      [1, 1],
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    expect(h[5]!.lo).toBe(1e17);
    // NaN and ±Infinity are not placed (and do not stretch the range)
    expect(histogram([0, NaN, Infinity], [2, -Infinity], 2)).toEqual([
      { lo: 0, hi: 1, right: 1, wrong: 0 },
      { lo: 1, hi: 2, right: 0, wrong: 1 },
    ]);
    expect(histogram([NaN], [Infinity], 3)).toEqual([]);
    // a range too wide to split in a double: everything in the first bin
    const wide = histogram([-1.7e308], [1.7e308], 4);
    expect(wide[0]).toEqual({ lo: -1.7e308, hi: 1.7e308, right: 1, wrong: 1 });
    expect(wide.slice(1).every((b) => b.right + b.wrong === 0)).toBe(true);
  });
});

describe('verifierStats with odd stored scores', () => {
  it('counts malformed JSON, non-numeric and non-finite scores as unscored', () => {
    const db = openDatabase(':memory:');
    insertRun(db, {
      id: RUN,
      variant: 'v-star',
      dataset: 'addition',
      preset: 'tiny',
      seed: 0,
      model: 'm',
      config_json: '{}',
      config_hash: 'h',
      status: 'completed',
      created_at: 1,
      run_dir: '/nonexistent',
    });
    const ins = db.prepare(
      `INSERT INTO samples (run_id, seq, idx, iteration, split, kind, question_id, question, text, answer, gold, correct, hint_used, kept, difficulty, scores_json)
       VALUES (?, ?, 0, 0, 'eval', 'candidate', ?, 'q', 't', 'a', 'g', ?, 0, NULL, NULL, ?)`,
    );
    const rows: [string, number, string | null][] = [
      ['q1', 1, '{"reward": 2}'],
      ['q1', 0, '{"reward": 1}'],
      ['q1', 0, '{"reward": true}'], // json_extract would read 1
      ['q1', 0, '{"reward": "0"}'],
      ['q1', 1, '{"reward": 1e400}'], // Infinity
      ['q1', 1, '{"reward": NaN}'], // Python's json.dumps writes this; not JSON
      ['q1', 0, '{"reward": '],
      ['q1', 0, '[1, 2]'],
      ['q1', 0, null],
      ['q2', 0, '{"reward": 3, "orm": 0}'],
      ['q2', 1, '{"reward": -1}'],
    ];
    rows.forEach(([q, ok, json], i) => ins.run(RUN, i, q, ok, json));
    const r = verifierStats(db, RUN, { scorer: 'dpo', bins: 1 });
    if (!r.ok) throw new Error(r.message);
    expect(r.unscored).toBe(7);
    expect(r.right).toEqual({ n: 2, mean: 0.5 });
    expect(r.wrong).toEqual({ n: 2, mean: 2 });
    expect(r.bins).toEqual([{ lo: -1, hi: 3, right: 2, wrong: 2 }]);
    // q1: 2 > 1; q2: -1 < 3
    expect(r.pairAccuracy).toEqual([{ iteration: 0, value: 0.5, pairs: 2 }]);
  });
});

describe('candidateQuestions', () => {
  const db = makeDb();
  const ids = (r: ReturnType<typeof candidateQuestions>) => (r.ok ? r.rows.map((x) => x.questionId) : r.message);

  it('lists the questions of an iteration with their candidate counts, by question id', () => {
    const r = candidateQuestions(db, RUN, {});
    if (!r.ok) throw new Error(r.message);
    expect(r.iteration).toBe(2);
    expect(r.total).toBe(4);
    expect(r.rows).toEqual([
      { questionId: 'q1', question: 'What is 10% of 50?', gold: 'g', candidates: 5, correct: 2 },
      { questionId: 'q2', question: 'Add 3_4', gold: 'g', candidates: 1, correct: 1 },
      { questionId: 'q3', question: 'WHAT is big', gold: 'g', candidates: 2, correct: 0 },
      { questionId: 'q4', question: 'Plain', gold: 'g', candidates: 3, correct: 2 },
    ]);
    expect(ids(candidateQuestions(db, RUN, { iteration: 1 }))).toEqual(['q1', 'q2']);
  });

  it('searches case-insensitively with LIKE wildcards taken literally, and pages', () => {
    expect(ids(candidateQuestions(db, RUN, { search: 'what' }))).toEqual(['q1', 'q3']);
    expect(ids(candidateQuestions(db, RUN, { search: '%' }))).toEqual(['q1']);
    expect(ids(candidateQuestions(db, RUN, { search: '_' }))).toEqual(['q2']);
    expect(ids(candidateQuestions(db, RUN, { search: 'nothing like it' }))).toEqual([]);
    const page = candidateQuestions(db, RUN, { limit: 2, offset: 1 });
    expect(ids(page)).toEqual(['q2', 'q3']);
    expect(page.ok && page.total).toBe(4);
    const s = candidateQuestions(db, RUN, { search: 'WHAT', limit: 1 });
    expect(s.ok && [s.total, s.rows.length]).toEqual([2, 1]);
    expect(candidateQuestions(db, 'empty', {}).ok).toBe(false);
  });
});

describe('rankedCandidates', () => {
  const db = makeDb();

  it('ranks by the scorer, ties in storage order, unscored last', () => {
    const r = rankedCandidates(db, RUN, { questionId: 'q1', scorer: 'dpo' });
    if (!r.ok) throw new Error(r.message);
    expect(r).toMatchObject({ iteration: 2, questionId: 'q1', question: 'What is 10% of 50?', gold: 'g' });
    expect(r.candidates.map((c) => [c.rank, c.text, c.correct])).toEqual([
      [1, 'A', true],
      [2, 'B', false],
      [3, 'D', false],
      [4, 'C', true],
      [5, 'E', false],
    ]);
    expect(r.candidates[0]).toEqual({ rank: 1, text: 'A', answer: 'g', correct: true, scores: { reward: 2, orm: 1 } });
    // by the ORM: A and B tie at 1 (storage order), E 0.3, then D and C have no ORM score
    const orm = rankedCandidates(db, RUN, { questionId: 'q1', scorer: 'orm' });
    expect(orm.ok && orm.candidates.map((c) => c.text)).toEqual(['A', 'B', 'E', 'D', 'C']);
    const none = rankedCandidates(db, RUN, { questionId: 'q4', scorer: 'dpo' });
    expect(none.ok && none.candidates.map((c) => c.scores)).toEqual([{ reward: 1.5 }, { reward: 0 }, null]);
  });

  it('refuses an unknown question or iteration', () => {
    const r = rankedCandidates(db, RUN, { questionId: 'zz', scorer: 'dpo' });
    expect(r).toEqual({ ok: false, message: 'question zz has no candidates in run vstar-run at iteration 2' });
    expect(rankedCandidates(db, RUN, { questionId: 'q3', scorer: 'dpo', iteration: 1 }).ok).toBe(false);
    expect(rankedCandidates(db, RUN, { questionId: 'q1', scorer: 'dpo', iteration: 5 }).ok).toBe(false);
  });
});
