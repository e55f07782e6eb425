import { describe, expect, it } from 'vitest';
import { configValue, final, initial, overK, pick, runKey, summarise, type ShownRun } from '../../scripts/science/finding';

const run = (over: Partial<ShownRun> = {}): ShownRun => ({
  id: 'r1',
  variant: 'quiet-star',
  dataset: 'addition',
  seed: 0,
  status: 'completed',
  statusReason: null,
  durationS: 1,
  config: { quiet: { policy_weight: 1, thought_len: 8 } },
  metrics: {
    'eval/accuracy': [
      { iteration: 0, value: 0.1 },
      { iteration: 1, value: 0.4 },
    ],
    'vstar/pass@1': [{ iteration: 1, value: 0.3 }],
    'vstar/pass@2': [{ iteration: 1, value: 0.5 }],
    'vstar/pass@4': [
      { iteration: 0, value: 0.1 },
      { iteration: 1, value: NaN },
    ],
  },
  ...over,
});

describe('bench:science findings', () => {
  it('files each run under its variant and swept values', () => {
    expect(runKey(run(), ['quiet.policy_weight=0,1', 'quiet.thought_len=2,8'])).toBe(
      'quiet-star quiet.policy_weight=1 quiet.thought_len=8',
    );
    expect(runKey(run({ variant: 'star' }), [])).toBe('star');
    expect(configValue({ a: { b: 0 } }, 'a.b')).toBe(0);
    expect(configValue({ a: 1 }, 'a.b.c')).toBeUndefined();
  });

  it('reads the first and last evaluation, and refuses a metric the run never logged', () => {
    expect(initial(run(), 'eval/accuracy')).toBe(0.1);
    expect(final(run(), 'eval/accuracy')).toBe(0.4);
    expect(() => final(run(), 'eval/base_accuracy')).toThrow(/run r1 \(quiet-star\) logged no "eval\/base_accuracy"/);
    expect(() => pick({ star: run() }, 'star-norat')).toThrow(/no run "star-norat" \(have: star\)/);
    expect(overK(run(), 'vstar/pass', 8)).toEqual([
      [1, 0.3],
      [2, 0.5],
    ]); // k = 4's last value is NaN: left out
  });

  it('holds only when the effect is positive in every seed, and an unmeasured seed fails it', () => {
    expect(summarise([0.1, 0.2, 0.3])).toEqual({ effect: expect.closeTo(0.2, 9), std: expect.closeTo(0.1, 9), holds: true });
    expect(summarise([0.1, -0.05, 0.3]).holds).toBe(false);
    expect(summarise([0.1, null, 0.3])).toMatchObject({ effect: expect.closeTo(0.2, 9), holds: false });
    expect(summarise([0, 0, 0]).holds).toBe(false);
    expect(summarise([null])).toEqual({ effect: null, std: null, holds: false });
  });
});
