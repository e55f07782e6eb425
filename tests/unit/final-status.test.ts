import { describe, expect, it } from 'vitest';
import { decideFinalStatus, describeExit, type FinalStatusInput } from '../../core/final-status';

const input = (o: Partial<FinalStatusInput> = {}): FinalStatusInput => ({
  endStatus: null,
  endError: null,
  stopRequested: false,
  exit: null,
  notes: [],
  ...o,
});

describe('how a run ended', () => {
  it("believes the experiment's own run_end first", () => {
    expect(decideFinalStatus(input({ endStatus: 'completed', exit: { code: 0, signal: null } }))).toEqual({
      status: 'completed',
      reason: null,
      warning: null,
    });
    expect(
      decideFinalStatus(input({ endStatus: 'failed', endError: 'CUDA out of memory', exit: { code: 1, signal: null } })),
    ).toMatchObject({
      status: 'failed',
      reason: 'CUDA out of memory',
    });
    expect(decideFinalStatus(input({ endStatus: 'failed', exit: { code: 3, signal: null } })).reason).toBe('exited with code 3');
    expect(decideFinalStatus(input({ endStatus: 'failed' })).reason).toBe('the experiment reported failure');
    expect(decideFinalStatus(input({ endStatus: 'stopped', stopRequested: true })).reason).toBe('stopped by user');
    expect(decideFinalStatus(input({ endStatus: 'stopped' })).reason).toBe('stopped');
  });

  it('warns when run_end said completed but the process did not exit cleanly', () => {
    expect(decideFinalStatus(input({ endStatus: 'completed', exit: { code: null, signal: 'SIGKILL' } }))).toEqual({
      status: 'completed',
      reason: null,
      warning: 'run_end reported completed but the process killed by SIGKILL',
    });
  });

  it('without run_end: stopped if a stop was asked for, else failed with the exit', () => {
    expect(decideFinalStatus(input({ stopRequested: true, exit: { code: null, signal: 'SIGTERM' } }))).toMatchObject({
      status: 'stopped',
      reason: 'stopped by user (killed by SIGTERM)',
    });
    expect(decideFinalStatus(input({ stopRequested: true })).reason).toBe('stopped by user');
    expect(decideFinalStatus(input({ exit: { code: 0, signal: null } })).reason).toBe('exited with code 0 without a run_end event');
    expect(decideFinalStatus(input({ exit: { code: 137, signal: null } }))).toMatchObject({
      status: 'failed',
      reason: 'exited with code 137',
    });
    expect(decideFinalStatus(input()).reason).toBe('process disappeared without a run_end event');
  });

  it('appends what happened to the events file to the reason, even for a completed run', () => {
    expect(decideFinalStatus(input({ exit: { code: 1, signal: null }, notes: ['no event was written', 'the disk was full'] })).reason).toBe(
      'exited with code 1; no event was written; the disk was full',
    );
    expect(decideFinalStatus(input({ endStatus: 'completed', notes: ['events.jsonl was truncated'] })).reason).toBe(
      'events.jsonl was truncated',
    );
    expect(describeExit(null)).toBeNull();
  });
});
