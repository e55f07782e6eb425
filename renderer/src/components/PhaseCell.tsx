/** A run's iteration and phase for a table cell: with a progress bar while it runs. */
import type { ReactElement } from 'react';
import type { RunSummary } from '../../../shared/contract';
import { ProgressBar } from './common';

export function phaseCell(r: RunSummary): ReactElement | string {
  if (r.status !== 'running') return r.currentIteration !== null ? `it ${r.currentIteration}` : '—';
  const it = r.currentIteration !== null ? `it ${r.currentIteration}` : '';
  const ph = r.currentPhase ?? '';
  return (
    <span className="phase-cell">
      <span>
        {it} {ph}
      </span>
      {r.progressTotal ? <ProgressBar done={r.progressDone} total={r.progressTotal} /> : null}
    </span>
  );
}
