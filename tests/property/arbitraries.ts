/** fast-check generators of valid protocol-v1 events (shared/protocol.ts), for the property tests. */
import fc from 'fast-check';

/**
 * Keys of a valid event's maps. Not "__proto__" (which fast-check likes to try): zod builds its
 * output by assigning keys and drops that one, so such an event is accepted but does not round-trip
 * (the protocol's fast-path test pins that behaviour).
 */
const ownKey = (keys: fc.Arbitrary<string>): fc.Arbitrary<string> => keys.filter((k) => k !== '__proto__');
import { LOG_LEVELS, PHASES, RUN_END_STATUSES, SAMPLE_KINDS, SAMPLE_SPLITS, type RunEvent } from '../../shared/protocol';

const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const nat = fc.integer({ min: 0, max: 1_000_000 });
/** Small iterations, so samples events stay under db/outcomes.ts's MAX_ITERATION. */
const iteration = fc.integer({ min: 0, max: 50 });
const phase = fc.constantFrom(...PHASES);
const text = fc.string({ maxLength: 40 });
const nonEmpty = fc.string({ minLength: 1, maxLength: 20 });

const sample = fc.record(
  {
    question_id: nonEmpty,
    split: fc.constantFrom(...SAMPLE_SPLITS),
    kind: fc.constantFrom(...SAMPLE_KINDS),
    question: text,
    text,
    answer: fc.option(text, { nil: null }),
    gold: text,
    correct: fc.boolean(),
    hint_used: fc.boolean(),
    kept: fc.boolean(),
    difficulty: fc.option(fc.integer({ min: -5, max: 100 }), { nil: null }),
    scores: fc.dictionary(ownKey(nonEmpty), finite, { maxKeys: 3 }),
  },
  { requiredKeys: ['question_id', 'split', 'kind', 'question', 'text', 'answer', 'gold', 'correct', 'hint_used'] },
);

/** The body of one valid event of each type (everything but the envelope). */
const bodies: Record<RunEvent['type'], fc.Arbitrary<Record<string, unknown>>> = {
  run_start: fc.record({
    config: fc.dictionary(ownKey(fc.string({ maxLength: 10 })), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }),
    env: fc.record({
      python: text,
      torch: fc.option(text, { nil: null }),
      transformers: fc.option(text, { nil: null }),
      cuda: fc.option(text, { nil: null }),
      gpus: fc.array(text, { maxLength: 3 }),
      host: text,
      platform: text,
      pid: nat,
      git_commit: fc.option(text, { nil: null }),
    }),
    hashes: fc.dictionary(ownKey(fc.string({ maxLength: 10 })), text, { maxKeys: 3 }),
  }),
  phase_start: fc.record({ iteration, phase }),
  phase_end: fc.record({ iteration, phase, duration_s: fc.double({ min: 0, max: 1e6, noNaN: true }) }),
  progress: fc.record({ iteration, phase, done: nat, total: nat }),
  metrics: fc.record({ iteration, step: nat, values: fc.dictionary(ownKey(nonEmpty), finite, { maxKeys: 5 }) }),
  samples: fc.record({ iteration, items: fc.array(sample, { maxLength: 4 }) }),
  artifact: fc.record(
    { name: nonEmpty, kind: nonEmpty, path: nonEmpty, size: fc.option(nat, { nil: null }), iteration: fc.option(iteration, { nil: null }) },
    { requiredKeys: ['name', 'kind', 'path'] },
  ),
  heartbeat: fc.constant({}),
  log: fc.record({ level: fc.constantFrom(...LOG_LEVELS), message: fc.string({ maxLength: 200 }) }),
  resumed: fc.record({ iteration }),
  run_end: fc.record({ status: fc.constantFrom(...RUN_END_STATUSES), error: fc.option(text, { nil: null }) }, { requiredKeys: ['status'] }),
};

/** A valid event with the given seq (or a random one). */
export function validEvent(
  seq: fc.Arbitrary<number> = fc.integer({ min: 1, max: 1e9 }),
): fc.Arbitrary<Record<string, unknown> & { type: string }> {
  return fc.oneof(
    ...Object.entries(bodies).map(([type, body]) => fc.tuple(seq, finite, body).map(([s, t, b]) => ({ v: 1, seq: s, t, type, ...b }))),
  );
}
