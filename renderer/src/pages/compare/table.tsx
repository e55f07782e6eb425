/** The compare page's table: per group (or run) n, final mean ± std, best, its iteration, config diff. */
import { type ReactElement } from 'react';
import { BEST_DEFINITION } from '../../../../shared/stats';
import { formatNumber } from '../../format';
import { testIdKey, type TableRow } from '../../compare';

export function CompareTable({ rows, byRun }: { rows: readonly TableRow[]; byRun: boolean }): ReactElement {
  return (
    <table className="table compact compare-table" data-testid="compare-table">
      <caption className="small muted" data-testid="compare-table-caption">
        n = runs; final = mean ± sample std of each run&apos;s last evaluation; {BEST_DEFINITION.replace(/^Best/, 'best')} (as in the
        exported table.tex).
      </caption>
      <thead>
        <tr>
          <th>{byRun ? 'run' : 'group'}</th>
          <th className="num">n</th>
          <th className="num">final (mean ± std)</th>
          <th className="num">best (mean ± std)</th>
          <th className="num">iteration of best</th>
          <th>config diff</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.key} data-testid={`compare-row-${testIdKey(r.key)}`} data-key={r.key}>
            <td>
              <span className="swatch" style={{ background: r.color }} /> {r.label}
            </td>
            <td className={`num${r.partial ? ' compare-partial' : ''}`} data-testid="compare-cell-n" data-partial={r.partial ?? undefined}>
              {r.n}
              {r.partial ? <span title={r.partial}> ({r.partial})</span> : null}
            </td>
            <td className="num" data-testid="compare-cell-final">
              {r.finalMean === null ? '—' : `${formatNumber(r.finalMean)} ± ${formatNumber(r.finalStd)}`}
            </td>
            <td className="num" data-testid="compare-cell-best">
              {r.best === null ? '—' : r.bestStd === null ? formatNumber(r.best) : `${formatNumber(r.best)} ± ${formatNumber(r.bestStd)}`}
            </td>
            <td className="num" data-testid="compare-cell-best-iteration">
              {r.bestIteration === null ? '—' : r.bestIteration}
            </td>
            <td className="mono small compare-diff" data-testid="compare-cell-diff">
              {r.diff || '—'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
