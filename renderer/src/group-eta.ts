/**
 * A group's estimated time left, from its own finished runs: each unfinished run is expected to
 * take as long as the completed ones did on average (a running one, that less what it has run),
 * and the runs share `parallel` slots. Null until a run has completed (nothing to go on). Pure.
 */
import type { RunSummary } from '../../shared/contract';

export function groupEtaSeconds(runs: readonly RunSummary[], nowS: number, parallel: number): number | null {
  const done = runs.filter((r) => r.status === 'completed' && r.startedAt !== null && r.endedAt !== null);
  if (!done.length) return null;
  const typical = done.reduce((a, r) => a + (r.endedAt! - r.startedAt!), 0) / done.length;
  const left: number[] = [];
  for (const r of runs) {
    if (r.status === 'running') left.push(Math.max(0, typical - (nowS - (r.startedAt ?? nowS))));
    else if (r.status === 'queued') left.push(typical);
  }
  if (!left.length) return 0;
  // list scheduling over the slots: each run goes to the slot that frees first
  const slots = new Array<number>(Math.max(1, Math.min(parallel, left.length))).fill(0);
  for (const t of left.sort((a, b) => b - a)) {
    let i = 0;
    for (let j = 1; j < slots.length; j++) if (slots[j]! < slots[i]!) i = j;
    slots[i]! += t;
  }
  return Math.max(...slots);
}
