import { describe, expect, it } from 'vitest';
import { MAX_EVENT_DEPTH, parseEventLine } from '../../shared/protocol';
import { ev, RUN_START_FIELDS } from '../fixtures/helpers';

describe('parseEventLine', () => {
  it('accepts valid events of every kind', () => {
    const lines = [
      ev(1, 'run_start', RUN_START_FIELDS),
      ev(2, 'phase_start', { iteration: 0, phase: 'sample' }),
      ev(3, 'progress', { iteration: 0, phase: 'sample', done: 1, total: 4 }),
      ev(4, 'metrics', { iteration: 0, step: 3, values: { 'eval/accuracy': 0.5 } }),
      ev(5, 'phase_end', { iteration: 0, phase: 'sample', duration_s: 1.5 }),
      ev(6, 'heartbeat'),
      ev(7, 'log', { level: 'info', message: 'hi' }),
      ev(8, 'artifact', { name: 'm', kind: 'checkpoint', path: 'artifacts/m' }),
      ev(9, 'run_end', { status: 'completed' }),
    ];
    for (const l of lines) expect(parseEventLine(l).kind).toBe('event');
  });

  it('rejects invalid JSON as malformed', () => {
    const r = parseEventLine('{"v":1,"seq":');
    expect(r.kind).toBe('malformed');
    if (r.kind === 'malformed') expect(r.reason).toMatch(/invalid JSON/);
  });

  it('rejects a bad envelope as malformed', () => {
    expect(parseEventLine(JSON.stringify({ v: 1, seq: 0, t: 1, type: 'heartbeat' })).kind).toBe('malformed');
    expect(parseEventLine(JSON.stringify({ seq: 1, t: 1, type: 'heartbeat' })).kind).toBe('malformed');
    expect(parseEventLine('[1,2]').kind).toBe('malformed');
  });

  it('rejects a known type with a bad body as malformed', () => {
    const r = parseEventLine(ev(4, 'metrics', { iteration: 0, step: 0, values: { x: 'nan' } }));
    expect(r.kind).toBe('malformed');
  });

  it('keeps unknown types and newer versions as unknown', () => {
    const a = parseEventLine(ev(1, 'gpu_stats', { util: 0.5 }));
    expect(a.kind).toBe('unknown');
    const b = parseEventLine(JSON.stringify({ v: 2, seq: 3, t: 1, type: 'metrics', whatever: true }));
    expect(b.kind).toBe('unknown');
    if (b.kind === 'unknown') expect(b.reason).toMatch(/newer/);
  });

  it('refuses nesting past the depth limit (ingest re-serialises configs recursively)', () => {
    const at = (n: number) =>
      ev(1, 'run_start', { ...RUN_START_FIELDS, config: { a: 0 } }).replace('"a":0', `"a":${'['.repeat(n)}${']'.repeat(n)}`);
    expect(parseEventLine(at(MAX_EVENT_DEPTH - 2)).kind).toBe('event'); // the line, config and a: 2 levels
    const r = parseEventLine(at(MAX_EVENT_DEPTH - 1));
    expect(r).toEqual({ kind: 'malformed', reason: `JSON nested deeper than ${MAX_EVENT_DEPTH} levels` });
  });
});
