import type { ReactElement } from 'react';
import type { RunStatus } from '../../../shared/contract';
import { groupProgress } from '../ablation-form';

/** A bar stacked by run status (completed, running, failed, stopped, queued). */
export function StackedProgress({
  counts,
  total,
  testId,
}: {
  counts: Partial<Record<RunStatus, number>>;
  total: number;
  testId?: string;
}): ReactElement {
  const p = groupProgress(counts, total);
  return (
    <div
      className="stacked-progress"
      data-testid={testId}
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={p.total}
      aria-valuenow={p.ended}
      title={p.segments.map((s) => `${s.count} ${s.status}`).join(', ') || 'no runs'}
    >
      {p.segments.map((s) => (
        <div key={s.status} className={`seg seg-${s.status}`} style={{ width: `${(s.fraction * 100).toFixed(2)}%` }} />
      ))}
    </div>
  );
}

/** "3 completed · 1 running · …" in the stacking order. */
export function StatusCounts({ counts, total }: { counts: Partial<Record<RunStatus, number>>; total: number }): ReactElement {
  const p = groupProgress(counts, total);
  return (
    <span className="status-counts small">
      {p.segments.map((s) => (
        <span key={s.status} className={`count count-${s.status}`} data-testid={`count-${s.status}`}>
          <span className={`dot seg-${s.status}`} />
          {s.count} {s.status}
        </span>
      ))}
    </span>
  );
}
