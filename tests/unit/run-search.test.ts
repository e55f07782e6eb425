/** Finding and ordering runs in the runs table and the compare sidebar (renderer/src/run-search.ts). */
import { describe, expect, it } from 'vitest';
import type { RunColumnValue } from '../../shared/contract';
import { columnMatches, runMatches, sortRuns } from '../../renderer/src/run-search';
import { runSummary } from '../fixtures/helpers';

describe('runMatches', () => {
  const r = runSummary({ id: '20261207-120000-abcd', name: 'Baseline LR', tags: ['paper', 'fig-2'], notes: 'from the appendix', seed: 12 });
  it('matches every word anywhere in what the run is called and says', () => {
    for (const q of ['', 'baseline', 'BASELINE lr', 'appendix', 'fig-2', 'star addition', 'abcd', 'tiny-llama', 'group-x'])
      expect(runMatches(r, q, 'group-x'), q).toBe(true);
    for (const q of ['baseline quiet', 'gsm8k', 'fig-3']) expect(runMatches(r, q), q).toBe(false);
  });
  it('tag: and seed= match exactly', () => {
    expect(runMatches(r, 'tag:paper')).toBe(true);
    expect(runMatches(r, 'tag:pap')).toBe(false);
    expect(runMatches(r, 'seed=12')).toBe(true);
    expect(runMatches(r, 'seed=1')).toBe(false);
  });
  it('ranges compare accuracy, seed, iteration and the day a run was created', () => {
    const day = new Date('2026-12-05T15:30:00').getTime() / 1000; // local time, as the filter reads days
    const a = runSummary({ latestAccuracy: 0.42, seed: 3, currentIteration: 4, createdAt: day });
    const yes = ['acc>0.4', 'acc>=42%', 'accuracy<0.5', 'acc<=0.42', 'seed<4', 'seed>=3', 'iteration=4', 'created=2026-12-05'];
    const no = ['acc>0.42', 'acc>50%', 'seed>3', 'iteration<4', 'created>2026-12-05', 'created<2026-12-05', 'created>=2026-12-06'];
    for (const q of [...yes, 'created<=2026-12-05 acc>0.1']) expect(runMatches(a, q), q).toBe(true);
    for (const q of no) expect(runMatches(a, q), q).toBe(false);
    // no accuracy yet: outside every accuracy range
    expect(runMatches(runSummary({ latestAccuracy: null }), 'acc<1')).toBe(false);
    // not a range (a bad value): an ordinary word, found nowhere
    for (const q of ['acc>abc', 'created>yesterday', 'seed>', 'created=2026-02-30']) expect(runMatches(a, q), q).toBe(false);
  });
  it('filters on the chosen columns by their keys: numbers as numbers, text and booleans by =', () => {
    const values: Record<string, RunColumnValue> = {
      'config:loop.lr': 3e-4,
      'config:model.name': 'GPT2',
      'config:loop.rationalize': true,
      'metric:eval/accuracy': 0.25,
      'metric:train/loss': null,
    };
    const chosen = { columns: Object.keys(values), value: (_: unknown, c: string) => values[c] ?? null };
    const a = runSummary({ seed: 3 });
    const yes = [
      'loop.lr=3e-4',
      'loop.lr<=0.0003',
      'LOOP.LR>1e-4',
      'eval/accuracy>=0.25',
      'model.name=gpt2',
      'loop.rationalize=true',
      'seed=3',
    ];
    const no = ['loop.lr<3e-4', 'eval/accuracy>0.25', 'model.name=gpt', 'model.name>a', 'loop.rationalize=false', 'train/loss<1'];
    for (const q of yes) expect(runMatches(a, q, null, chosen), q).toBe(true);
    for (const q of no) expect(runMatches(a, q, null, chosen), q).toBe(false);
    // a key no chosen column has is an ordinary word (found nowhere); without chosen columns too
    expect(runMatches(a, 'loop.iterations>1', null, chosen)).toBe(false);
    expect(runMatches(a, 'loop.lr=3e-4')).toBe(false);
    expect(columnMatches(a, 'loop.iterations>1', chosen)).toBeNull();
    expect(columnMatches(a, 'loop.lr=', chosen)).toBeNull();
  });
  it('finds a run by its default name', () => {
    expect(runMatches(runSummary({ id: 'x', seed: 3 }), 'star · addition · s3')).toBe(true);
  });
});

describe('sortRuns', () => {
  const runs = [
    runSummary({ id: 'a', name: 'beta', latestAccuracy: 0.5, createdAt: 3, seed: 2 }),
    runSummary({ id: 'b', name: 'Alpha', latestAccuracy: null, createdAt: 2, seed: 10 }),
    runSummary({ id: 'c', name: 'gamma', latestAccuracy: 0.9, createdAt: 1, seed: 1 }),
  ];
  const ids = (key: Parameters<typeof sortRuns>[1]['key'], dir: 'asc' | 'desc') =>
    sortRuns(runs, { key, dir }, () => null).map((r) => r.id);
  it('orders by the column asked for, numbers as numbers, names without case', () => {
    expect(ids('name', 'asc')).toEqual(['b', 'a', 'c']);
    expect(ids('seed', 'asc')).toEqual(['c', 'a', 'b']);
    expect(ids('created', 'desc')).toEqual(['a', 'b', 'c']);
  });
  it('puts runs without a value last in either direction', () => {
    expect(ids('accuracy', 'desc')).toEqual(['c', 'a', 'b']);
    expect(ids('accuracy', 'asc')).toEqual(['a', 'c', 'b']);
  });
});
