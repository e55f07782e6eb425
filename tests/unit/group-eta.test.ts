/** The group page's time left (renderer/src/group-eta.ts). */
import { describe, expect, it } from 'vitest';
import type { RunSummary } from '../../shared/contract';
import { groupEtaSeconds } from '../../renderer/src/group-eta';
import { runSummary } from '../fixtures/helpers';

const r = (status: RunSummary['status'], startedAt: number | null, endedAt: number | null) => runSummary({ status, startedAt, endedAt });

describe('groupEtaSeconds', () => {
  it('is unknown until a run has completed', () => {
    expect(groupEtaSeconds([r('running', 0, null), r('queued', null, null)], 10, 1)).toBeNull();
  });
  it('expects each unfinished run to take as long as the completed ones did, sharing the slots', () => {
    const runs = [r('completed', 0, 100), r('completed', 0, 300), r('running', 50, null), r('queued', null, null), r('queued', null, null)];
    // typical 200 s: the running one has 200 - (100 - 50) = 150 s left, the queued 200 s each
    expect(groupEtaSeconds(runs, 100, 1)).toBe(550);
    expect(groupEtaSeconds(runs, 100, 2)).toBe(350);
    expect(groupEtaSeconds(runs, 100, 8)).toBe(200);
    expect(groupEtaSeconds([r('completed', 0, 10)], 100, 1)).toBe(0);
  });
});
