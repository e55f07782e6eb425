/**
 * shared/estimators.ts: hand-computed cases, and agreement with the experiments' own
 * estimators (experiments/starlab/estimators.py) on random candidate pools, so a V-STaR
 * run's curves can be recounted from its stored candidates.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bestOfKCurve, comb, curveOverQuestions, majorityCurve, passAtK, type Candidate } from '../../shared/estimators';
import { REPO } from '../fixtures/helpers';

const VENV_PYTHON = join(REPO, 'experiments', '.venv', 'bin', 'python');

describe('estimators, by hand', () => {
  it('binomials and pass@k', () => {
    expect([comb(5, 2), comb(4, 0), comb(3, 4), comb(64, 32)]).toEqual([10, 1, 0, Number(1832624140942590534n)]); // C(64, 32), rounded to a double
    expect(passAtK(4, 1, 2)).toBe(0.5); // 1 − C(3,2)/C(4,2)
    expect(passAtK(4, 0, 4)).toBe(0);
    expect(passAtK(4, 3, 2)).toBe(1);
    expect(() => passAtK(4, 1, 5)).toThrow(/k must be in 1..N/);
  });

  it('best-of-k: the top score wins, ties are shared', () => {
    // scores 3 (right), 2 (wrong), 1 (right): k = 1 → mean correctness 2/3; k = 3 → the top one, right
    const c = bestOfKCurve([3, 2, 1], [1, 0, 1], [1, 2, 3]);
    expect(c.get(1)).toBeCloseTo(2 / 3, 15);
    // k = 2: subsets {3,2} right, {3,1} right, {2,1} wrong → 2/3
    expect(c.get(2)).toBeCloseTo(2 / 3, 15);
    expect(c.get(3)).toBe(1);
    // a tie at the top between a right and a wrong candidate: half the time right
    expect(bestOfKCurve([5, 5], [1, 0], [2]).get(2)).toBe(0.5);
    // null scores rank last
    expect(bestOfKCurve([null, 0], [1, 0], [2]).get(2)).toBe(0);
  });

  it('majority: the most frequent answer, ties shared, null abstains', () => {
    // answers a a b with a right: k = 3 → a wins; k = 2 → {a,a} right, {a,b} ×2 tie → 1/2 each → (1 + 0.5 + 0.5)/3
    const c = majorityCurve(['a', 'a', 'b'], [1, 1, 0], [1, 2, 3]);
    expect(c.get(1)).toBeCloseTo(2 / 3, 15);
    expect(c.get(2)).toBeCloseTo(2 / 3, 15);
    expect(c.get(3)).toBeCloseTo(1, 15);
    // only null answers in the subset: wrong
    expect(majorityCurve([null, 'x'], [0, 1], [1]).get(1)).toBe(0.5);
  });

  it('over questions: k = 1..N, refuses uneven pools and missing scores', () => {
    const q = (answers: string[], right: string, scores: number[]): Candidate[] =>
      answers.map((a, i) => ({ answer: a, correct: a === right, scores: { reward: scores[i]! } }));
    const qs = [q(['1', '2'], '1', [0.9, 0.1]), q(['3', '3'], '4', [0.5, 0.2])];
    expect(curveOverQuestions(qs, 'pass-at-k')).toEqual([
      { k: 1, value: 0.25 },
      { k: 2, value: 0.5 },
    ]);
    expect(curveOverQuestions(qs, 'best-of-k', 'reward')).toEqual([
      { k: 1, value: 0.25 },
      { k: 2, value: 0.5 },
    ]);
    expect(() => curveOverQuestions([qs[0]!, [qs[1]![0]!]], 'majority')).toThrow(/question 1 has 1 candidates/);
    expect(() => curveOverQuestions(qs, 'best-of-k', 'orm')).toThrow(/no "orm" score/);
  });
});

describe('agreement with experiments/starlab/estimators.py', () => {
  it('pass@k, majority and best-of-k on random pools (ties, null answers) agree to 1e-12', () => {
    expect(existsSync(VENV_PYTHON), `${VENV_PYTHON} is missing: bash scripts/setup.sh --test makes the experiments environment`).toBe(true);
    let s = 11;
    const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pools: Candidate[][][] = [];
    for (let trial = 0; trial < 25; trial++) {
      const n = 1 + Math.floor(rand() * 12);
      const nq = 1 + Math.floor(rand() * 4);
      pools.push(
        Array.from({ length: nq }, () => {
          const right = String(Math.floor(rand() * 3));
          return Array.from({ length: n }, () => {
            const answer = rand() < 0.15 ? null : String(Math.floor(rand() * 4));
            return { answer, correct: answer === right, scores: { reward: Math.round(rand() * 4) / 4, orm: rand() } };
          });
        }),
      );
    }
    const py = `
import json, sys
sys.path.insert(0, ${JSON.stringify(join(REPO, 'experiments'))})
from starlab import estimators as E
pools = json.loads(sys.stdin.read())
out = []
for qs in pools:
    n = len(qs[0])
    c = E.all_curves(qs, range(1, n + 1), score_keys=["reward", "orm"])
    out.append({name: [c[name][k] for k in range(1, n + 1)] for name in c})
print(json.dumps(out))
`;
    const flat = pools.map((qs) => qs.map((q) => q.map((c) => ({ answer: c.answer, correct: c.correct, ...c.scores }))));
    const want = JSON.parse(execFileSync(VENV_PYTHON, ['-c', py], { input: JSON.stringify(flat), encoding: 'utf8' })) as Record<
      string,
      number[]
    >[];
    pools.forEach((qs, i) => {
      const got = {
        'pass@k': curveOverQuestions(qs, 'pass-at-k'),
        majority: curveOverQuestions(qs, 'majority'),
        'best_of_k:reward': curveOverQuestions(qs, 'best-of-k', 'reward'),
        'best_of_k:orm': curveOverQuestions(qs, 'best-of-k', 'orm'),
      };
      for (const [name, curve] of Object.entries(got))
        curve.forEach(({ k, value }) => expect(Math.abs(value - want[i]![name]![k - 1]!), `${name}@${k} of pool ${i}`).toBeLessThan(1e-12));
    });
  }, 60_000);
});
