/**
 * Property tests of the event parser (shared/protocol.ts): random, adversarial and mutated lines
 * never make parseEventLine throw; the result is always a typed event, a kept unknown, or a
 * malformed line with a reason; valid events round-trip.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, MAX_EVENT_DEPTH, jsonDepth, parseEventLine, runEventSchema, type ParsedLine } from '../../shared/protocol';
import { validEvent } from './arbitraries';

const RUNS = { numRuns: 300 };

/** The invariants every result satisfies, whatever the input. */
function checkShape(r: ParsedLine): void {
  expect(['event', 'unknown', 'malformed']).toContain(r.kind);
  if (r.kind === 'malformed') {
    expect(typeof r.reason).toBe('string');
    expect(r.reason.length).toBeGreaterThan(0);
  }
  if (r.kind === 'unknown') {
    expect(r.reason.length).toBeGreaterThan(0);
    expect(Number.isSafeInteger(r.envelope.seq) && r.envelope.seq >= 1).toBe(true);
    expect(r.envelope.v > 1 || !(EVENT_TYPES as readonly string[]).includes(r.envelope.type)).toBe(true);
  }
  if (r.kind === 'event') expect(runEventSchema.safeParse(r.event).success).toBe(true);
}

const parse = (line: string): ParsedLine => {
  const r = parseEventLine(line);
  checkShape(r);
  return r;
};

describe('parseEventLine (properties)', () => {
  it('never throws on arbitrary strings, full Unicode included', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), (s) => {
        parse(s);
      }),
      RUNS,
    );
  });

  it('never throws on arbitrary JSON; non-objects and bad envelopes are malformed', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const r = parse(JSON.stringify(v) ?? 'null');
        if (typeof v !== 'object' || v === null || Array.isArray(v)) expect(r.kind).toBe('malformed');
      }),
      RUNS,
    );
  });

  it('never throws on objects with random envelopes; unknown iff the envelope is valid and newer or unknown', () => {
    const envelope = fc.record(
      {
        v: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 1000 }), fc.jsonValue()),
        seq: fc.oneof(fc.integer({ min: 1, max: 1e9 }), fc.jsonValue(), fc.constant(2 ** 60), fc.constant(1.5)),
        t: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.jsonValue()),
        type: fc.oneof(fc.constantFrom(...EVENT_TYPES), fc.string(), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(envelope, fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 4 }), (env, extra) => {
        const line = JSON.stringify({ ...extra, ...env });
        const r = parse(line);
        const o = JSON.parse(line) as Record<string, unknown>;
        const goodEnvelope =
          Number.isSafeInteger(o.v) &&
          (o.v as number) >= 1 &&
          Number.isSafeInteger(o.seq) &&
          (o.seq as number) >= 1 &&
          typeof o.t === 'number' &&
          typeof o.type === 'string' &&
          o.type.length > 0;
        if (!goodEnvelope) expect(r.kind).toBe('malformed');
        const newerOrUnknown = goodEnvelope && ((o.v as number) > 1 || !(EVENT_TYPES as readonly string[]).includes(o.type as string));
        expect(r.kind === 'unknown').toBe(newerOrUnknown);
        if (r.kind === 'unknown') expect(r.raw).toBe(line);
      }),
      RUNS,
    );
  });

  it('round-trips every valid event', () => {
    fc.assert(
      fc.property(validEvent(), (e) => {
        const line = JSON.stringify(e);
        const r = parse(line);
        expect(r.kind).toBe('event');
        if (r.kind === 'event') expect(r.event).toEqual(JSON.parse(line));
      }),
      RUNS,
    );
  });

  it('mutated valid events: a wrong field value is malformed with the field named, or still a valid event', () => {
    const wrong = fc.oneof(fc.jsonValue(), fc.constantFrom(-1, 1.5, 2 ** 60, 1e308, -1e308, '', 'x', null, true, [], {}));
    fc.assert(
      fc.property(validEvent(), fc.nat(), wrong, (e, pick, value) => {
        const keys = Object.keys(e).filter((k) => k !== 'v' && k !== 'type');
        const key = keys[pick % keys.length]!;
        const line = JSON.stringify({ ...e, [key]: value });
        const r = parse(line);
        if (r.kind === 'malformed') expect(r.reason).toContain(key);
        // a newer v or an unknown type is not what we mutated
        expect(r.kind).not.toBe('unknown');
      }),
      RUNS,
    );
  });

  it('mutated valid events: a deleted required field is malformed and named', () => {
    fc.assert(
      fc.property(validEvent(), fc.nat(), (e, pick) => {
        const optional =
          e.type === 'artifact' ? ['size', 'iteration'] : e.type === 'run_end' ? ['error'] : e.type === 'run_start' ? ['hashes'] : [];
        const keys = Object.keys(e).filter((k) => k !== 'v' && k !== 'type' && !optional.includes(k));
        if (!keys.length) return; // heartbeat: only the envelope
        const key = keys[pick % keys.length]!;
        const copy: Record<string, unknown> = { ...e };
        delete copy[key];
        const r = parse(JSON.stringify(copy));
        expect(r.kind).toBe('malformed');
        if (r.kind === 'malformed') expect(r.reason).toContain(key);
      }),
      RUNS,
    );
  });

  it('truncated and byte-flipped valid lines never throw', () => {
    fc.assert(
      fc.property(validEvent(), fc.nat(), fc.integer({ min: 0, max: 0xffff }), (e, at, code) => {
        const line = JSON.stringify(e);
        const i = at % line.length;
        parse(line.slice(0, i));
        parse(line.slice(0, i) + String.fromCharCode(code) + line.slice(i + 1));
      }),
      RUNS,
    );
  });

  it('refuses nesting deeper than the limit without throwing, and the depth scan ignores brackets in strings', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), (n) => {
        const nested = '['.repeat(n) + ']'.repeat(n);
        const line = JSON.stringify({ v: 1, seq: 1, t: 1, type: 'run_start', config: { a: 'x' } }).replace('"x"', nested);
        const r = parse(line);
        // config is at depth 2, its value at 3: n arrays reach depth n + 2
        if (n + 2 > MAX_EVENT_DEPTH) {
          expect(r.kind).toBe('malformed');
          if (r.kind === 'malformed') expect(r.reason).toMatch(/nested deeper than 64/);
        }
      }),
      { numRuns: 50 },
    );
    expect(jsonDepth('{"a":"[[[[{{{{","b":[1]}')).toBe(2);
    expect(jsonDepth('{"a":"\\"[[[[","b":{}}')).toBe(2);
    // the deep line that used to pass the parser and crash ingest's JSON.stringify
    const deep = JSON.stringify({ v: 1, seq: 1, t: 1, type: 'log', level: 'info', message: 'm', x: 0 }).replace(
      '0',
      '['.repeat(200_000) + ']'.repeat(200_000),
    );
    expect(parse(deep).kind).toBe('malformed');
  });
});
