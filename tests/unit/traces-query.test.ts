import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TRACE_FILTERS, type TraceRow } from '../../shared/contract';
import {
  DEFAULT_TRACES_STATE,
  RefreshGate,
  clampPage,
  defaultOtherSample,
  isSelectedQuestion,
  keySamples,
  rankCompareRuns,
  FILTER_OPTIONS,
  formatTracesQuery,
  matrixArgs,
  pageCount,
  parseSampleKey,
  sampleKey,
  parseTracesQuery,
  queryOfHash,
  traceArgs,
  tracesHash,
  updateTracesState,
  type TracesState,
} from '../../renderer/src/traces-query';
import { runSummary } from '../fixtures/helpers';

const state = (patch: Partial<TracesState>): TracesState => ({ ...DEFAULT_TRACES_STATE, ...patch });

describe('parseTracesQuery / formatTracesQuery', () => {
  it('lists the contract filters plus "all"', () => {
    expect(FILTER_OPTIONS.slice(1)).toEqual([...TRACE_FILTERS]);
  });

  it('reads every key', () => {
    const { state: s, errors } = parseTracesQuery(
      '?filter=forgotten&it=3&split=eval&diff=-2&search=carry%20the&page=4&sort=first-solved&desc=1&mpage=2&q=add-17&qsplit=train&a=0&b=3:rationalized&vs=run_B-2&vsample=3:direct',
    );
    expect(errors).toEqual([]);
    expect(s).toEqual({
      filter: 'forgotten',
      iteration: 3,
      split: 'eval',
      difficulty: -2,
      search: 'carry the',
      page: 3,
      sort: 'first-solved',
      descending: true,
      mpage: 1,
      question: 'add-17',
      qsplit: 'train',
      a: '0',
      b: '3:rationalized',
      vs: 'run_B-2',
      vsample: '3:direct',
    });
  });

  it('gives the defaults for an empty query, with or without "?"', () => {
    expect(parseTracesQuery('')).toEqual({ state: DEFAULT_TRACES_STATE, errors: [] });
    expect(parseTracesQuery('?')).toEqual({ state: DEFAULT_TRACES_STATE, errors: [] });
    expect(parseTracesQuery('split=train').state.split).toBe('train');
    expect(formatTracesQuery(DEFAULT_TRACES_STATE)).toBe('');
  });

  it('keeps defaults for bad values and names each problem', () => {
    const { state: s, errors } = parseTracesQuery(
      '?filter=solved&it=-1&split=test&diff=x&page=0&sort=size&desc=yes&a=three&vs=../etc&zoom=2',
    );
    expect(s).toEqual(DEFAULT_TRACES_STATE);
    expect(errors).toEqual([
      'unknown query key "zoom"',
      'filter="solved" is not valid (expected all | newly-solved | forgotten | never-solved | rationalized-only)',
      'it="-1" is not valid (expected an iteration number ≥ 0)',
      'split="test" is not valid (expected train | eval)',
      'diff="x" is not valid (expected an integer difficulty)',
      'page="0" is not valid (expected a page number ≥ 1)',
      'sort="size" is not valid (expected question | first-solved | solved-count | difficulty)',
      'desc="yes" is not valid (expected 0 | 1)',
      'a="three" is not valid (expected "<iteration>" or "<iteration>:<kind>", e.g. 2 or 2:rationalized)',
      'vs="../etc" is not valid (expected a run id)',
    ]);
  });

  it('cuts an over-long search to the contract limit', () => {
    const { state: s, errors } = parseTracesQuery(`?search=${'x'.repeat(600)}`);
    expect(s.search).toHaveLength(500);
    expect(errors).toEqual(['search is longer than 500 characters; cut to 500']);
  });

  it('drops compare samples without a question', () => {
    expect(parseTracesQuery('?a=1:direct&vsample=2:eval&vs=r1').state).toEqual(state({ vs: 'r1' }));
  });

  it('round-trips states, including awkward search text', () => {
    const states: TracesState[] = [
      state({}),
      state({ filter: 'never-solved', split: 'train', search: 'a&b=c ?#% +plus ünï', page: 2 }),
      state({ iteration: 0, difficulty: 0, sort: 'difficulty', descending: true, mpage: 5 }),
      state({ question: 'q/1?x', qsplit: 'eval', a: '0', b: '4:eval:2', vs: 'abc', vsample: '4:eval' }),
    ];
    for (const s of states) {
      const q = formatTracesQuery(s);
      expect(parseTracesQuery(q)).toEqual({ state: s, errors: [] });
    }
    expect(formatTracesQuery(state({ filter: 'forgotten', page: 1, descending: true }))).toBe('?filter=forgotten&page=2&desc=1');
  });

  it('builds the hash and reads it back', () => {
    const h = tracesHash('r1', state({ split: 'eval' }));
    expect(h).toBe('#/runs/r1/traces?split=eval');
    expect(queryOfHash(h, 'r1')).toBe('?split=eval');
    expect(queryOfHash('#/runs/r1/traces', 'r1')).toBe('');
    expect(queryOfHash('#/runs/r1/traces/?it=2', 'r1')).toBe('?it=2');
    expect(queryOfHash('#/runs/r1', 'r1')).toBeNull();
    expect(queryOfHash('#/runs/r12/traces', 'r1')).toBeNull();
  });
});

describe('updateTracesState', () => {
  it('sends both lists to their first page when a filter changes', () => {
    const s = state({ page: 3, mpage: 2 });
    expect(updateTracesState(s, { search: 'x' })).toMatchObject({ search: 'x', page: 0, mpage: 0 });
    expect(updateTracesState(s, { split: 'eval' })).toMatchObject({ page: 0, mpage: 0 });
    // the same value is no change
    expect(updateTracesState(s, { filter: 'all' })).toMatchObject({ page: 3, mpage: 2 });
    expect(updateTracesState(s, { page: 4 })).toMatchObject({ page: 4, mpage: 2 });
  });

  it('sends only the matrix to its first page when its sort changes', () => {
    expect(updateTracesState(state({ page: 3, mpage: 2 }), { sort: 'solved-count' })).toMatchObject({ page: 3, mpage: 0 });
    expect(updateTracesState(state({ page: 3, mpage: 2 }), { descending: true })).toMatchObject({ page: 3, mpage: 0 });
  });

  it('forgets the compared samples for another question, and the second sample for another run', () => {
    const s = state({ question: 'q1', qsplit: 'train', a: '0:direct', b: '2:direct', vs: 'r2', vsample: '2:direct' });
    expect(updateTracesState(s, { question: 'q2', qsplit: 'train' })).toMatchObject({
      question: 'q2',
      a: null,
      b: null,
      vsample: null,
      vs: 'r2',
    });
    expect(updateTracesState(s, { vs: 'r3' })).toMatchObject({ a: '0:direct', vs: 'r3', vsample: null });
    expect(updateTracesState(s, { question: null })).toMatchObject({
      question: null,
      qsplit: null,
      a: null,
      b: null,
      vsample: null,
      vs: 'r2',
    });
  });
});

describe('command arguments', () => {
  it('leaves out what is not set', () => {
    expect(traceArgs(DEFAULT_TRACES_STATE, 50)).toEqual({ limit: 50, offset: 0 });
    expect(matrixArgs(DEFAULT_TRACES_STATE, 200)).toEqual({ sort: 'question', limit: 200, offset: 0 });
  });

  it('passes the shared filters to both, the iteration only to the list', () => {
    const s = state({
      filter: 'rationalized-only',
      iteration: 2,
      split: 'train',
      difficulty: 3,
      search: '  carry ',
      page: 2,
      mpage: 1,
      sort: 'first-solved',
      descending: true,
    });
    expect(traceArgs(s, 50)).toEqual({
      filter: 'rationalized-only',
      iteration: 2,
      split: 'train',
      difficulty: 3,
      search: 'carry',
      limit: 50,
      offset: 100,
    });
    expect(matrixArgs(s, 200)).toEqual({
      filter: 'rationalized-only',
      split: 'train',
      difficulty: 3,
      search: 'carry',
      sort: 'first-solved',
      descending: true,
      limit: 200,
      offset: 200,
    });
  });

  it('counts pages and reads sample keys', () => {
    expect(pageCount(0, 50)).toBe(1);
    expect(pageCount(50, 50)).toBe(1);
    expect(pageCount(51, 50)).toBe(2);
    expect(parseSampleKey('12')).toEqual({ iteration: 12, kind: null, n: 1 });
    expect(parseSampleKey('12:rationalized')).toEqual({ iteration: 12, kind: 'rationalized', n: 1 });
    expect(parseSampleKey('3:direct:2')).toEqual({ iteration: 3, kind: 'direct', n: 2 });
    expect(parseSampleKey('x:direct')).toBeNull();
    expect(parseSampleKey('3:')).toBeNull();
    expect(sampleKey(4)).toBe('4');
    expect(sampleKey(4, 'eval')).toBe('4:eval');
    expect(sampleKey(4, 'eval', 3)).toBe('4:eval:3');
  });

  it('moves a page past the end onto the last page and leaves others alone', () => {
    expect(clampPage(98, 120, 50)).toBe(2); // ?page=99 with 120 rows: page 3 of 3
    expect(clampPage(2, 100, 50)).toBe(1); // a live total shrank from 120 to 100
    expect(clampPage(4, 0, 50)).toBe(0);
    expect(clampPage(1, 120, 50)).toBe(1);
    expect(clampPage(0, 0, 50)).toBe(0);
  });

  it('highlights a question by id and split', () => {
    const train = { questionId: 'q7', split: 'train' };
    const evalRow = { questionId: 'q7', split: 'eval' };
    expect(isSelectedQuestion('q7', 'train', train)).toBe(true);
    expect(isSelectedQuestion('q7', 'train', evalRow)).toBe(false);
    expect(isSelectedQuestion('q7', null, evalRow)).toBe(true);
    expect(isSelectedQuestion('q8', null, train)).toBe(false);
    expect(isSelectedQuestion(null, null, train)).toBe(false);
  });
});

describe('RefreshGate', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => vi.useRealTimers());

  /** A load whose promises the test settles by hand. */
  function loads(): { starts: number[]; settle: (i: number, ok?: boolean) => Promise<void>; load: () => Promise<unknown> } {
    const starts: number[] = [];
    const settlers: ((ok: boolean) => void)[] = [];
    return {
      starts,
      load: () => {
        starts.push(Date.now());
        return new Promise((resolve, reject) => settlers.push((ok) => (ok ? resolve(1) : reject(new Error('boom')))));
      },
      settle: async (i, ok = true) => {
        settlers[i]!(ok);
        await vi.advanceTimersByTimeAsync(0); // let the gate see the settled promise
      },
    };
  }

  it('runs no reload while a load is in flight, and merges the requests made meanwhile into one', async () => {
    const l = loads();
    const gate = new RefreshGate(l.load, 5000);
    gate.now();
    gate.request();
    gate.request();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(l.starts).toEqual([1_000_000]); // still in flight: nothing else started
    await l.settle(0);
    expect(l.starts).toEqual([1_000_000, 1_010_000]); // 10 s since the start ≥ 5 s: at once, only one
  });

  it('keeps reloads at least minGapMs apart, without dropping the last request', async () => {
    const l = loads();
    const gate = new RefreshGate(l.load, 5000);
    gate.now();
    await vi.advanceTimersByTimeAsync(1000);
    await l.settle(0);
    gate.request();
    await vi.advanceTimersByTimeAsync(3000);
    expect(l.starts).toHaveLength(1); // 4 s after the first start
    await vi.advanceTimersByTimeAsync(1000);
    expect(l.starts).toEqual([1_000_000, 1_005_000]);
    await l.settle(1, false); // a failed load frees the gate too
    gate.request();
    await vi.advanceTimersByTimeAsync(4999);
    expect(l.starts).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(l.starts).toEqual([1_000_000, 1_005_000, 1_010_000]);
  });

  it('loads at once for new arguments, dropping a waiting reload; cancel forgets a pending one', async () => {
    const l = loads();
    const gate = new RefreshGate(l.load, 5000);
    gate.now();
    await l.settle(0);
    gate.request(); // waits until 5 s after the first start
    await vi.advanceTimersByTimeAsync(2000);
    gate.now();
    expect(l.starts).toEqual([1_000_000, 1_002_000]);
    await l.settle(1);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(l.starts).toHaveLength(2); // the waiting reload was covered by the new load
    gate.request();
    gate.cancel();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(l.starts).toHaveLength(2);
  });

  it('rejects a negative gap', () => {
    expect(() => new RefreshGate(() => Promise.resolve(), -1)).toThrow(/minGapMs must be ≥ 0, got -1/);
  });
});

describe('compare panel samples', () => {
  const row = (id: number, iteration: number, kind: string): TraceRow => ({
    id,
    questionId: 'q1',
    split: 'train',
    iteration,
    kind,
    question: '1+1',
    text: `r${id}`,
    answer: '2',
    gold: '2',
    correct: kind === 'rationalized',
    hintUsed: kind === 'rationalized',
    kept: null,
    difficulty: 1,
  });

  it('keys an iteration by its number and further samples there by kind', () => {
    const keyed = keySamples([
      row(9, 2, 'rationalized'),
      row(3, 0, 'direct'),
      row(8, 2, 'direct'),
      row(10, 2, 'rationalized'),
      row(5, 1, 'direct'),
    ]);
    expect(keyed.map((k) => [k.key, k.row.id])).toEqual([
      ['0', 3],
      ['1', 5],
      ['2', 8],
      ['2:rationalized', 9],
      ['2:rationalized:2', 10],
    ]);
  });

  it("defaults the second run's sample to its last one at B's iteration, else its last", () => {
    const other = keySamples([row(1, 0, 'direct'), row(2, 1, 'direct'), row(3, 1, 'rationalized'), row(4, 3, 'direct')]);
    const mine = keySamples([row(20, 1, 'direct'), row(21, 2, 'direct')]);
    expect(defaultOtherSample(other, mine[0])?.row.id).toBe(3);
    expect(defaultOtherSample(other, mine[1])?.row.id).toBe(4);
    expect(defaultOtherSample([], mine[0])).toBeUndefined();
  });

  it('ranks runs of the same dataset first, another variant before the same one', () => {
    const run = (id: string, variant: string, dataset: string, createdAt: number) => runSummary({ id, variant, dataset, createdAt });
    const self = run('me', 'star', 'addition', 5);
    const runs = [
      self,
      run('g1', 'star-norat', 'gsm8k', 9),
      run('a-star', 'star', 'addition', 8),
      run('a-norat-old', 'star-norat', 'addition', 1),
      run('a-norat', 'star-norat', 'addition', 7),
    ];
    expect(rankCompareRuns(runs, self, 'me').map((r) => r.id)).toEqual(['a-norat', 'a-norat-old', 'a-star', 'g1']);
  });
});
