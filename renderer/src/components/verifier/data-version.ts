/** When a run's stored candidates and thoughts may have changed, and reloading queries then. */
import { useEffect, useRef } from 'react';
import type { RunDetail } from '../../../../shared/contract';
import type { Live } from '../../hooks';

/**
 * Changes whenever a run may have stored new candidates or thoughts: when a phase ends or the
 * status changes. The run object itself changes identity on every reload (every 5 s while it
 * runs), too often to refetch on.
 */
export function runDataVersion(run: RunDetail): string {
  let ended = 0;
  for (const p of run.phases) if (p.endedAt !== null || p.durationS !== null) ended++;
  return `${run.id}:${run.status}:${ended}:${run.phases.length}`;
}

/** Reload these queries (keeping what they show until the answer comes) when the run's data version changes. */
export function useReloadOnNewData(version: string, ...lives: Live<unknown>[]): void {
  const last = useRef(version);
  const ref = useRef(lives);
  ref.current = lives;
  useEffect(() => {
    if (last.current === version) return;
    last.current = version;
    for (const l of ref.current) l.reload();
  }, [version]);
}
