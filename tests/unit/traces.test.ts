/**
 * Rationale traces (db/traces.ts, getTraces, `starlab traces`) over a hand-made run: which
 * rows each filter returns, search, iteration/split/difficulty, paging, and the CLI.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createService } from '../../core/service';
import * as q from '../../db/queries';
import { ingestLines } from '../../db/ingest';
import { openDatabase } from '../../db/open';
import { queryTraces, type TraceSearchTuning } from '../../db/traces';
import type { TraceQuery, TraceRow } from '../../shared/contract';
import { cleanupTempDirs, ev, FAKE_PYTHON, REPO, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

const RUN = 'star-run';

function seed(dataDir: string): void {
  const s = createService({ dataDir });
  q.insertRun(s.db, {
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
    run_dir: `${dataDir}/r`,
  });
  let seq = 0;
  // Through the real ingest path (one samples event per sample), which maintains the outcomes.
  const add = (it: number, split: string, kind: string, qid: string, ok: boolean, text = `${qid} rationale ${it}`, d = 1) =>
    ingestLines(
      s.db,
      RUN,
      [
        {
          lineNo: ++seq,
          text: ev(seq, 'samples', {
            iteration: it,
            items: [
              {
                question_id: qid,
                split,
                kind,
                question: `What is ${qid}? 100% sure_`,
                text,
                answer: ok ? 'g' : 'x',
                gold: 'g',
                correct: ok,
                hint_used: kind === 'rationalized',
                kept: ok,
                difficulty: d,
              },
            ],
          }),
        },
      ],
      null,
    );
  // qa: rationalized at 1, solved at 2, forgotten at 3
  add(1, 'train', 'direct', 'qa', false);
  add(1, 'train', 'rationalized', 'qa', true, 'qa: carry the one');
  add(2, 'train', 'direct', 'qa', true);
  add(3, 'train', 'direct', 'qa', false);
  // qb: right only through the hint
  add(1, 'train', 'direct', 'qb', false);
  add(1, 'train', 'rationalized', 'qb', true);
  add(2, 'train', 'direct', 'qb', false);
  add(2, 'train', 'rationalized', 'qb', false);
  // qc: never right, never hinted
  add(1, 'train', 'direct', 'qc', false, 'qc rationale 1', 2);
  add(2, 'train', 'direct', 'qc', false, 'qc rationale 2', 2);
  // qd: solved at 1 by one of two samples
  add(1, 'train', 'direct', 'qd', true);
  add(1, 'train', 'direct', 'qd', false, 'qd second');
  // e1 (held out): wrong at 0, right at 1
  add(0, 'eval', 'eval', 'e1', false);
  add(1, 'eval', 'eval', 'e1', true);
  // a V-STaR candidate is not a trace
  add(1, 'eval', 'candidate', 'e1', true);
  s.close();
}

const key = (r: { questionId: string; iteration: number; kind: string }) => `${r.questionId}@${r.iteration}/${r.kind}`;

describe('traces', () => {
  const dataDir = tempDir();
  seed(dataDir);

  it('filters by how each question fared across iterations', () => {
    const s = createService({ dataDir });
    try {
      const get = (o: Parameters<typeof s.getTraces>[1]) => s.getTraces(RUN, o).rows.map(key);
      expect(s.getTraces(RUN, {}).total).toBe(14); // every trace, not the candidate
      expect(get({ filter: 'newly-solved' })).toEqual(['e1@1/eval', 'qa@2/direct', 'qd@1/direct', 'qd@1/direct']);
      expect(get({ filter: 'forgotten' })).toEqual(['qa@3/direct']);
      expect(get({ filter: 'never-solved' })).toEqual([
        'qb@1/direct',
        'qb@1/rationalized',
        'qb@2/direct',
        'qb@2/rationalized',
        'qc@1/direct',
        'qc@2/direct',
      ]);
      expect(get({ filter: 'rationalized-only' })).toEqual(['qb@1/direct', 'qb@1/rationalized', 'qb@2/direct', 'qb@2/rationalized']);
      expect(get({ filter: 'never-solved', iteration: 2 })).toEqual(['qb@2/direct', 'qb@2/rationalized', 'qc@2/direct']);
      expect(get({ filter: 'never-solved', difficulty: 2 })).toEqual(['qc@1/direct', 'qc@2/direct']);
      expect(get({ split: 'eval' })).toEqual(['e1@0/eval', 'e1@1/eval']);
      // search: rationale or question, case-insensitive, LIKE wildcards taken literally
      expect(get({ search: 'CARRY' })).toEqual(['qa@1/rationalized']);
      expect(s.getTraces(RUN, { search: '100% sure_' }).total).toBe(14);
      expect(s.getTraces(RUN, { search: '100%x' }).total).toBe(0);
      expect(s.getTraces(RUN, { search: 'sure%' }).total).toBe(0);
      // paging
      const page = s.getTraces(RUN, { limit: 3, offset: 2 });
      expect(page.total).toBe(14);
      expect(page.rows.map(key)).toEqual(s.getTraces(RUN, {}).rows.slice(2, 5).map(key));
      // every page of every filter is the same slice of the full list (deep pages start from the per-question counts)
      // (at one iteration the outcome rows there drive the query: the same rows, in the same order)
      for (const filter of [undefined, 'newly-solved', 'forgotten', 'never-solved', 'rationalized-only'] as const) {
        for (const iteration of [undefined, 1, 2, 3]) {
          const all = s.getTraces(RUN, { filter, iteration }).rows.map(key);
          if (iteration !== undefined)
            expect(all).toEqual(
              s
                .getTraces(RUN, { filter })
                .rows.map(key)
                .filter((k) => k.includes(`@${iteration}/`)),
            );
          for (let offset = 0; offset <= all.length; offset++) {
            const p = s.getTraces(RUN, { filter, iteration, limit: 3, offset });
            expect(p.total).toBe(all.length);
            expect(p.rows.map(key)).toEqual(all.slice(offset, offset + 3));
          }
        }
      }
      expect(get({ filter: 'forgotten', iteration: 3 })).toEqual(['qa@3/direct']);
      expect(get({ filter: 'forgotten', iteration: 2 })).toEqual([]);
      expect(get({ iteration: 1, split: 'eval' })).toEqual(['e1@1/eval']);
      expect(get({ iteration: 1, questionId: 'qd' })).toEqual(['qd@1/direct', 'qd@1/direct']);
      expect(get({ iteration: 2, difficulty: 2 })).toEqual(['qc@2/direct']);
      // one question across iterations
      expect(get({ questionId: 'qa' })).toEqual(['qa@1/direct', 'qa@1/rationalized', 'qa@2/direct', 'qa@3/direct']);
      expect(s.getTraces(RUN, { questionId: 'qa', filter: 'forgotten' }).total).toBe(1);
      expect(s.getTraces(RUN, { questionId: 'nope' })).toEqual({ total: 0, rows: [] });
      expect(get({ search: 'rationale 2', filter: 'never-solved' })).toEqual(['qb@2/direct', 'qb@2/rationalized', 'qc@2/direct']);
      expect(get({ search: 'qd s', iteration: 1 })).toEqual(['qd@1/direct']); // 'qd second'
      const row = s.getTraces(RUN, { filter: 'rationalized-only', limit: 2 }).rows[1]!;
      expect(row).toMatchObject({
        questionId: 'qb',
        iteration: 1,
        kind: 'rationalized',
        answer: 'g',
        gold: 'g',
        correct: true,
        hintUsed: true,
        kept: true,
        text: 'qb rationale 1',
      });
    } finally {
      s.close();
    }
  });

  it('starlab traces prints the rows (text and --json) and refuses bad options', async () => {
    const cli = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          ['--import', 'tsx', 'cli/main.ts', 'traces', ...args, '--data-dir', dataDir],
          { cwd: REPO, env: { ...process.env, STARLAB_PYTHON: FAKE_PYTHON }, timeout: 30_000 },
          (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
        ),
      );
    const j = await cli([RUN, '--filter', 'rationalized-only', '--json']);
    expect(j.code).toBe(0);
    const rows = JSON.parse(j.stdout) as { questionId: string; hintUsed: boolean }[];
    expect(rows.map((r) => r.questionId)).toEqual(['qb', 'qb', 'qb', 'qb']);
    expect(rows.filter((r) => r.hintUsed)).toHaveLength(2);
    const t = await cli([RUN, '--filter', 'forgotten']);
    expect(t.stdout).toBe('qa  iteration 3  train/direct  answer x  gold g  wrong\n    qa rationale 3\n');
    const paged = await cli([RUN, '--limit', '2', '--json']);
    expect(JSON.parse(paged.stdout)).toHaveLength(2);
    expect(paged.stderr).toMatch(/rows 1-2 of 14/);
    const bad = await cli([RUN, '--filter', 'solved', '--iteration', '-1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown filter "solved"/);
    expect(bad.stderr).toMatch(/iteration/);
  }, 60_000);
});

/**
 * Search paths against a brute-force filter: a run of 30 questions × 3 iterations × 2 samples
 * with a rationale vocabulary of common words ('carry' in ~3/4 of the rationales), rare ones,
 * mixed case and LIKE wildcards. Small tunings force each path: the trigram index (few
 * candidates), the ordered walk (capped total), and the walk handing over to the matching
 * samples when they are sparse (a scan under 3 characters).
 */
describe('traces search paths', () => {
  const SEARCH_RUN = 'search-run';
  const db = openDatabase(join(tempDir(), 'search.db'));
  q.insertRun(db, {
    id: SEARCH_RUN,
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
  const words = ['carry', 'the', 'one', 'Tens', 'sum', 'CARRY', 'digit'];
  let seq = 0;
  for (let it = 1; it <= 3; it++) {
    const items: unknown[] = [];
    for (let qi = 0; qi < 30; qi++) {
      const qid = `q${String(qi).padStart(2, '0')}`;
      for (let k = 0; k < 2; k++) {
        const n = qi * 7 + it * 3 + k;
        const parts = [words[n % 7], words[(n * 3 + 1) % 7], String(n)];
        if (n % 17 === 0) parts.push('zebra'); // rare
        if (n % 23 === 0) parts.push('50%_off'); // wildcards, literally
        if (n % 29 === 0) parts.splice(0, 3, 'zq'); // a 2-character rationale: no trigram
        const ok = (qi + it + k) % 3 === 0;
        items.push({
          question_id: qid,
          split: qi % 5 === 4 ? 'eval' : 'train',
          kind: qi % 5 === 4 ? 'eval' : k ? 'rationalized' : 'direct',
          question: qi % 10 === 3 ? `Zebra question ${qid}` : `What is ${qid}?`,
          text: parts.join(' '),
          answer: ok ? 'g' : 'x',
          gold: 'g',
          correct: ok,
          hint_used: k === 1 && qi % 5 !== 4,
          kept: ok,
          difficulty: 1 + (qi % 3),
        });
      }
    }
    ingestLines(db, SEARCH_RUN, [{ lineNo: ++seq, text: ev(seq, 'samples', { iteration: it, items }) }], null);
  }
  // Which path ran: the statements prepared.
  const prepared: string[] = [];
  const prepare = db.prepare.bind(db);
  (db as { prepare: (sql: string) => unknown }).prepare = (sql: string) => (prepared.push(sql), prepare(sql));
  afterAll(() => db.close());

  /** ASCII case folding, like SQLite's LIKE. */
  const fold = (x: string) => x.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const brute = (o: TraceQuery): TraceRow[] =>
    queryTraces(db, SEARCH_RUN, { ...o, search: undefined, limit: 100_000, offset: 0 }).rows.filter(
      (r) => fold(r.text).includes(fold(o.search!)) || fold(r.question).includes(fold(o.search!)),
    );

  const PATHS: { name: string; tune: TraceSearchTuning; sql: RegExp }[] = [
    { name: 'index', tune: { walkBudget: 1, ftsMax: 1000 }, sql: /samples_fts MATCH @tri/ },
    { name: 'walk', tune: { walkBudget: 1000, ftsMax: 1, totalCap: 12 }, sql: /\(s\.text LIKE @search .* OR qs\.question LIKE/ },
    { name: 'walk then matches', tune: { walkBudget: 15, ftsMax: 1, totalCap: 12 }, sql: /hits\(id\) AS MATERIALIZED/ },
  ];
  const searches = ['carry', 'cArRy c', 'zebra', 'ZEBRA q', 'q0', '50%_', '%_o', '0%x', 'e', 'zq', '7', 'Zq', 'nothing here'];
  const filters: TraceQuery[] = [
    {},
    { filter: 'forgotten' },
    { filter: 'never-solved' },
    { iteration: 2 },
    { split: 'eval' },
    { difficulty: 2, filter: 'newly-solved' },
    { questionId: 'q13' },
  ];

  it('every path returns exactly the brute-force rows, page by page, with an exact or capped total', () => {
    let capped = 0;
    const used = new Set<string>();
    for (const path of PATHS) {
      for (const search of searches) {
        for (const f of filters) {
          const o = { ...f, search };
          const all = brute(o);
          for (const offset of [0, 5, 10, 40]) {
            prepared.length = 0;
            const p = queryTraces(db, SEARCH_RUN, { ...o, limit: 5, offset }, path.tune);
            const ctx = `${path.name} ${JSON.stringify(o)} offset ${offset}`;
            expect(
              p.rows.map((r) => r.id),
              ctx,
            ).toEqual(all.slice(offset, offset + 5).map((r) => r.id));
            if (p.totalCapped) {
              capped++;
              expect(path.name, ctx).not.toBe('index');
              expect(p.total, ctx).toBe(Math.max(12, offset + 5));
              expect(all.length, ctx).toBeGreaterThan(p.total);
            } else expect(p.total, ctx).toBe(all.length);
            if (all.length >= 3 && prepared.some((sql) => path.sql.test(sql)))
              used.add(`${path.name} ${search.length < 3 ? 'short' : 'long'}`);
          }
        }
      }
    }
    expect(capped).toBeGreaterThan(10);
    expect([...used].sort()).toEqual(['index long', 'walk long', 'walk short', 'walk then matches long', 'walk then matches short']);
    // The brute force itself: hand-checked counts ('zq' only in the 2-character rationales: n % 29 = 0).
    expect(brute({ search: 'zq' }).map((r) => r.text)).toEqual(Array(brute({ search: 'zq' }).length).fill('zq'));
    expect(brute({ search: 'zq' }).length).toBeGreaterThan(0);
    expect(brute({ search: '50%_' }).every((r) => r.text.includes('50%_off'))).toBe(true);
    expect(brute({ search: '0%x' })).toEqual([]);
  });

  it('the defaults: a common search is capped, a rare one is exact, wildcards are literal', () => {
    const common = queryTraces(db, SEARCH_RUN, { search: 'CARRY', limit: 3 }, { totalCap: 20 });
    expect(common.totalCapped).toBe(true);
    expect(common.total).toBe(20);
    expect(common.rows.map((r) => r.id)).toEqual(
      brute({ search: 'carry' })
        .slice(0, 3)
        .map((r) => r.id),
    );
    // All 180 rows walked (the default budget): exact.
    expect(queryTraces(db, SEARCH_RUN, { search: 'carry' })).toMatchObject({ total: brute({ search: 'carry' }).length });
    expect(queryTraces(db, SEARCH_RUN, { search: 'carry' }).totalCapped).toBeUndefined();
    expect(queryTraces(db, SEARCH_RUN, { search: '%' }).total).toBe(brute({ search: '50%_off' }).length);
    expect(queryTraces(db, SEARCH_RUN, { search: 'Zebra question q13' }).rows.map((r) => `${r.questionId}@${r.iteration}`)).toEqual([
      'q13@1',
      'q13@1',
      'q13@2',
      'q13@2',
      'q13@3',
      'q13@3',
    ]);
  });
});
