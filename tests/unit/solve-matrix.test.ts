/**
 * The solve matrix (db/solve-matrix.ts) over a hand-made run ingested through the real path:
 * cells, sorts, filters, search, paging and per-iteration counts, all computed by hand.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ingestLines } from '../../db/ingest';
import { openDatabase } from '../../db/open';
import { insertRun } from '../../db/queries';
import { querySolveMatrix } from '../../db/solve-matrix';
import type { SolveMatrixQuery } from '../../shared/analysis';
import { cleanupTempDirs, ev, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

const RUN = 'r';
const db = openDatabase(`${tempDir()}/db.sqlite`);
insertRun(db, {
  id: RUN,
  variant: 'star',
  dataset: 'addition',
  preset: 'tiny',
  seed: 0,
  model: 'm',
  config_json: '{}',
  config_hash: 'h',
  status: 'completed',
  created_at: 1,
  run_dir: '/x',
});
let seq = 0;
/** One sample; outcome d = wrong direct, S = right direct, H = right through the hint, h = wrong through the hint. */
function add(it: number, qid: string, o: 'd' | 'S' | 'H' | 'h', difficulty: number | null, split = 'train') {
  const hint = o === 'H' || o === 'h';
  const kind = split === 'eval' ? 'eval' : hint ? 'rationalized' : 'direct';
  const item = {
    question_id: qid,
    split,
    kind,
    question: `What is ${qid}?`,
    text: `${qid} at ${it}`,
    answer: 'a',
    gold: 'a',
    correct: o === 'S' || o === 'H',
    hint_used: hint,
    difficulty,
  };
  ingestLines(db, RUN, [{ lineNo: ++seq, text: ev(seq, 'samples', { iteration: it, items: [item] }) }], null);
}
// qa (d2): H S W     qb (d2): H W .     qc (d3): W W .     qd (d1): S . S     qe (none): . S W
add(1, 'qa', 'd', 2);
add(1, 'qa', 'H', 2);
add(2, 'qa', 'S', 2);
add(3, 'qa', 'd', 2);
add(1, 'qb', 'd', 2);
add(1, 'qb', 'H', 2);
add(2, 'qb', 'd', 2);
add(2, 'qb', 'h', 2);
add(1, 'qc', 'd', 3);
add(2, 'qc', 'd', 3);
add(1, 'qd', 'S', 1);
add(1, 'qd', 'H', 1);
add(3, 'qd', 'S', 1);
add(3, 'qe', 'd', null);
add(2, 'qe', 'S', null); // out of order on purpose
// a V-STaR candidate is not a cell
ingestLines(
  db,
  RUN,
  [
    {
      lineNo: ++seq,
      text: ev(seq, 'samples', {
        iteration: 4,
        items: [
          {
            question_id: 'qa',
            split: 'train',
            kind: 'candidate',
            question: 'q',
            text: 't',
            answer: 'a',
            gold: 'a',
            correct: true,
            hint_used: false,
          },
        ],
      }),
    },
  ],
  null,
);
add(0, 'e1', 'd', null, 'eval');
add(1, 'e1', 'S', null, 'eval');

const m = (o: SolveMatrixQuery) => querySolveMatrix(db, RUN, { split: 'train', ...o });
const ids = (o: SolveMatrixQuery) => m(o).rows.map((r) => r.questionId);

describe('solve matrix', () => {
  it('has one cell per question and iteration, and the per-iteration counts', () => {
    const all = m({});
    expect(all.iterations).toEqual([1, 2, 3]);
    expect(all.total).toBe(5);
    expect(all.rows.map((r) => [r.questionId, r.cells, r.firstSolved, r.solvedCount, r.difficulty])).toEqual([
      ['qa', 'HSW', 2, 1, 2],
      ['qb', 'HW.', null, 0, 2],
      ['qc', 'WW.', null, 0, 3],
      ['qd', 'S.S', 1, 2, 1],
      ['qe', '.SW', 2, 1, null],
    ]);
    // each row carries its question's text, for the hover
    expect(all.rows.map((r) => r.question)).toEqual(['What is qa?', 'What is qb?', 'What is qc?', 'What is qd?', 'What is qe?']);
    expect(all.counts).toEqual([
      { solved: 1, hinted: 2, wrong: 1 },
      { solved: 2, hinted: 0, wrong: 2 },
      { solved: 1, hinted: 0, wrong: 2 },
    ]);
    // both splits: the held-out question too, over the union of the iterations
    const both = querySolveMatrix(db, RUN, {});
    expect(both.iterations).toEqual([0, 1, 2, 3]);
    expect(both.rows.map((r) => `${r.split}/${r.questionId} ${r.cells}`)).toEqual([
      'eval/e1 WS..',
      'train/qa .HSW',
      'train/qb .HW.',
      'train/qc .WW.',
      'train/qd .S.S',
      'train/qe ..SW',
    ]);
    expect(both.counts[0]).toEqual({ solved: 0, hinted: 0, wrong: 1 });
    expect(both.counts[1]).toEqual({ solved: 2, hinted: 2, wrong: 1 });
  });

  it('sorts, ties broken by question, unknown values last', () => {
    expect(ids({ sort: 'question', descending: true })).toEqual(['qe', 'qd', 'qc', 'qb', 'qa']);
    expect(ids({ sort: 'first-solved' })).toEqual(['qd', 'qa', 'qe', 'qb', 'qc']);
    expect(ids({ sort: 'first-solved', descending: true })).toEqual(['qa', 'qe', 'qd', 'qb', 'qc']);
    expect(ids({ sort: 'solved-count' })).toEqual(['qb', 'qc', 'qa', 'qe', 'qd']);
    expect(ids({ sort: 'solved-count', descending: true })).toEqual(['qd', 'qa', 'qe', 'qb', 'qc']);
    expect(ids({ sort: 'difficulty' })).toEqual(['qd', 'qa', 'qb', 'qc', 'qe']);
    expect(ids({ sort: 'difficulty', descending: true })).toEqual(['qc', 'qa', 'qb', 'qd', 'qe']);
  });

  it('filters by trace filter, difficulty and question text, pages, and counts over all matches', () => {
    expect(ids({ filter: 'newly-solved' })).toEqual(['qa', 'qd', 'qe']);
    const forgotten = m({ filter: 'forgotten' });
    expect(forgotten.rows.map((r) => r.questionId)).toEqual(['qa', 'qe']); // qd was not attempted at 2
    expect(forgotten.counts).toEqual([
      { solved: 0, hinted: 1, wrong: 0 },
      { solved: 2, hinted: 0, wrong: 0 },
      { solved: 0, hinted: 0, wrong: 2 },
    ]);
    expect(ids({ filter: 'never-solved' })).toEqual(['qb', 'qc']);
    expect(ids({ filter: 'rationalized-only' })).toEqual(['qb']);
    expect(ids({ difficulty: 2 })).toEqual(['qa', 'qb']);
    expect(ids({ search: 'QC?' })).toEqual(['qc']);
    expect(ids({ search: 'q_' })).toEqual([]); // LIKE wildcards taken literally
    const page = m({ limit: 2, offset: 1 });
    expect([page.total, page.rows.map((r) => r.questionId)]).toEqual([5, ['qb', 'qc']]);
    expect(page.counts[0]).toEqual({ solved: 1, hinted: 2, wrong: 1 }); // counts cover every match, not the page
    expect(querySolveMatrix(db, 'no-such-run', {})).toEqual({ iterations: [], total: 0, rows: [], counts: [] });
  });

  it('refuses bad paging and sorts with a clear error', () => {
    expect(() => m({ limit: 0 })).toThrow(/limit must be a positive integer/);
    expect(() => m({ offset: -1 })).toThrow(/offset/);
    expect(() => m({ sort: 'best' as never })).toThrow(/unknown sort "best"/);
  });
});
