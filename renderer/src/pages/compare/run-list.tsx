/** The compare page's sidebar: the runs to pick from, filtered by the view's filter text. */
import { runName } from '../../../../shared/run-name';
import { useMemo, type ReactElement } from 'react';
import type { RunSummary } from '../../../../shared/contract';
import { StatusBadge } from '../../components/common';
import { SearchField } from '../../components/SearchField';
import { runMatches } from '../../run-search';

export function CompareRunList({
  runs,
  loading,
  filter,
  onFilter,
  selected,
  setSelected,
}: {
  runs: readonly RunSummary[];
  loading: boolean;
  filter: string;
  onFilter: (filter: string) => void;
  selected: readonly string[];
  setSelected: (runs: readonly string[]) => void;
}): ReactElement {
  const shown = useMemo(() => runs.filter((r) => runMatches(r, filter)), [runs, filter]);
  const toggle = (id: string, on: boolean): void =>
    setSelected(on ? (selected.includes(id) ? selected : [...selected, id]) : selected.filter((s) => s !== id));
  return (
    <aside className="compare-runs">
      <SearchField
        className="compare-filter"
        placeholder="filter runs (name, tag, variant, dataset, seed=0…)"
        value={filter}
        onChange={onFilter}
        testId="compare-filter"
      />
      <div className="compare-runs-actions small">
        <button
          type="button"
          className="small-button"
          data-testid="compare-select-shown"
          onClick={() => setSelected([...selected, ...shown.map((r) => r.id)])}
        >
          Select shown
        </button>
        <button type="button" className="small-button" data-testid="compare-clear" onClick={() => setSelected([])}>
          Clear
        </button>
      </div>
      <div className="compare-run-list">
        {shown.map((r) => (
          <label key={r.id} className="compare-run" title={r.id}>
            <input
              type="checkbox"
              data-testid={`compare-run-${r.id}`}
              checked={selected.includes(r.id)}
              onChange={(e) => toggle(r.id, e.target.checked)}
            />
            {/* the name, then the whole id under it: two runs of one name stay told apart */}
            <span className="compare-run-text">
              <span data-testid="compare-run-name">{runName(r)}</span>
              <span className="compare-run-meta">
                <span className="mono muted small" data-testid="compare-run-id">
                  {r.id}
                </span>
                <StatusBadge status={r.status} />
              </span>
            </span>
          </label>
        ))}
        {!shown.length ? <div className="muted small">{loading ? 'Loading…' : 'No runs.'}</div> : null}
      </div>
    </aside>
  );
}
