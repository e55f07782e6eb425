/** The metrics fast path of parseEventLine accepts exactly what the zod schema accepts, and returns what it returns. */
import { describe, expect, it } from 'vitest';
import { EVENT_LIMITS, fastMetricsEvent, metricsSchema, parseEventLine } from '../../shared/protocol';

const base = {
  v: 1,
  seq: 7,
  t: 1_700_000_000.25,
  type: 'metrics',
  iteration: 2,
  step: 40,
  values: { 'train/loss': 0.5, 'eval/accuracy': 1 },
};

const bad: unknown[] = [undefined, null, 'x', '1', 1.5, -1, 0, true, [], {}, Infinity, NaN, 2 ** 53 + 0.5];
const cases: unknown[] = [
  base,
  { ...base, extra: 'stripped' },
  { ...base, values: {} },
  { ...base, step: 0, iteration: 0 },
  null,
  [],
  'metrics',
  3,
];
for (const key of ['v', 'seq', 't', 'type', 'iteration', 'step'] as const) {
  for (const b of bad) cases.push({ ...base, [key]: b });
  const { [key]: _, ...without } = base;
  cases.push(without);
}
for (const values of [
  null,
  [],
  [1, 2],
  'a',
  { '': 1 },
  { a: '1' },
  { a: null },
  { a: Infinity },
  { a: -0 },
  { a: 1e308 },
  { a: { b: 1 } },
  { a: true },
  { 0: 1, b: 2 },
  JSON.parse('{"__proto__": 1, "a": 2}'),
  Object.fromEntries(Array.from({ length: EVENT_LIMITS.maxMetricNames }, (_, i) => [`m${i}`, i])),
  Object.fromEntries(Array.from({ length: EVENT_LIMITS.maxMetricNames + 1 }, (_, i) => [`m${i}`, i])),
])
  cases.push({ ...base, values });
cases.push({ ...base, v: 2 }, { ...base, type: 'log' });

describe('fastMetricsEvent', () => {
  it.each(cases.map((c, i) => [i, c]))('case %i agrees with metricsSchema', (_i, c) => {
    const z = metricsSchema.safeParse(c);
    const f = fastMetricsEvent(c);
    if (!z.success) expect(f).toBeNull();
    else if (f !== null) expect(f).toEqual(z.data);
    // only a "__proto__" metric name is left to zod (which drops it)
    else expect(Object.keys((c as { values: object }).values)).toContain('__proto__');
  });

  it('is what parseEventLine returns for a metrics line, and a refused one keeps zod’s reason', () => {
    expect(fastMetricsEvent(base)).not.toBeNull();
    expect(parseEventLine(JSON.stringify(base))).toEqual({ kind: 'event', event: base });
    expect(parseEventLine('{"v":1,"seq":1,"t":1,"type":"metrics","iteration":0,"step":0,"values":{"__proto__":1,"a":2}}')).toMatchObject({
      kind: 'event',
      event: { values: { a: 2 } },
    });
    const refused = parseEventLine(JSON.stringify({ ...base, step: -1 }));
    expect(refused).toEqual({ kind: 'malformed', reason: expect.stringMatching(/^bad metrics event \(seq 7\): step: /) });
  });
});
