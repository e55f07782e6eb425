import type { ReactElement, ReactNode } from 'react';
import type { RunStatus } from '../../../shared/contract';

export function StatusBadge({ status, testId }: { status: RunStatus | string; testId?: string }): ReactElement {
  return (
    <span className={`badge badge-${status}`} data-testid={testId} data-status={status}>
      {status}
    </span>
  );
}

export function ProgressBar({ done, total, testId }: { done: number | null; total: number | null; testId?: string }): ReactElement {
  const frac = done !== null && total ? Math.max(0, Math.min(1, done / total)) : 0;
  return (
    <div
      className="progress"
      data-testid={testId}
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={total ?? 0}
      aria-valuenow={done ?? 0}
    >
      <div className="progress-fill" style={{ width: `${(frac * 100).toFixed(1)}%` }} />
    </div>
  );
}

export function Panel({
  title,
  children,
  actions,
  testId,
}: {
  title: ReactNode;
  children: ReactNode;
  actions?: ReactNode;
  testId?: string;
}): ReactElement {
  return (
    <section className="panel" data-testid={testId}>
      <header className="panel-head">
        <h2>{title}</h2>
        {actions ? <div className="panel-actions">{actions}</div> : null}
      </header>
      <div className="panel-body">{children}</div>
    </section>
  );
}

export function ErrorNote({ children }: { children: ReactNode }): ReactElement {
  return (
    <div className="error-note" role="alert">
      {children}
    </div>
  );
}

/**
 * An iteration picker whose "latest" entry follows the run: picking the latest iteration
 * stores null (follow), any other stores that iteration.
 */
export function IterationSelect({
  label,
  iterations,
  value,
  onPick,
  testId,
}: {
  label: string;
  iterations: number[];
  value: number | undefined;
  onPick: (iteration: number | null) => void;
  testId: string;
}): ReactElement {
  const latest = iterations.at(-1);
  return (
    <label className="inline-control">
      {label}{' '}
      <select
        data-testid={testId}
        value={value ?? ''}
        disabled={!iterations.length}
        onChange={(e) => {
          const v = Number(e.target.value);
          onPick(v === latest ? null : v);
        }}
      >
        {iterations.map((i) => (
          <option key={i} value={i}>
            {i === latest ? `${i} (latest)` : i}
          </option>
        ))}
      </select>
    </label>
  );
}
