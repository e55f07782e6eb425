import { useState, type ReactElement } from 'react';
import { call } from '../transport';
import { useLive } from '../hooks';

const PAGE = 50;
const KINDS = ['direct', 'rationalized', 'eval', 'candidate'] as const;
type Kind = (typeof KINDS)[number];

function fmtScore(v: number): string {
  return Math.abs(v) >= 100 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2) : v.toFixed(3);
}

/** Per-question samples of one iteration (rationales, answers, hint use), a page at a time. */
export function SamplesView({ runId, iterations }: { runId: string; iterations: number[] }): ReactElement {
  const [iteration, setIteration] = useState<number | null>(iterations.length ? iterations[iterations.length - 1]! : null);
  const [offset, setOffset] = useState(0);
  const [kind, setKind] = useState<Kind | ''>('');
  const it = iteration ?? iterations[iterations.length - 1] ?? 0;
  const page = useLive(
    () => call('getSamples', runId, { iteration: it, limit: PAGE, offset, ...(kind ? { kind } : {}) }),
    [runId, it, offset, kind],
  );
  const rows = page.data ?? [];
  const scoreKeys = [...new Set(rows.flatMap((s) => Object.keys(s.scores ?? {})))].sort();

  return (
    <div className="samples" data-testid="samples">
      <div className="samples-bar">
        <label>
          iteration{' '}
          <select
            value={it}
            onChange={(e) => {
              setIteration(Number(e.target.value));
              setOffset(0);
            }}
          >
            {(iterations.length ? iterations : [0]).map((i) => (
              <option key={i} value={i}>
                {i}
              </option>
            ))}
          </select>
        </label>
        <label>
          kind{' '}
          <select
            data-testid="samples-kind"
            value={kind}
            onChange={(e) => {
              setKind(e.target.value as Kind | '');
              setOffset(0);
            }}
          >
            <option value="">all</option>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
        <span className="muted small">{rows.length ? `${offset + 1}–${offset + rows.length}` : page.loading ? '' : 'no samples'}</span>
        <div className="spacer" />
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          ‹ prev
        </button>
        <button type="button" disabled={rows.length < PAGE} onClick={() => setOffset(offset + PAGE)}>
          next ›
        </button>
        <button type="button" onClick={page.reload}>
          refresh
        </button>
      </div>
      {page.error ? <div className="field-error">{page.error}</div> : null}
      {rows.length ? (
        <div className="samples-scroll">
          <table className="table compact samples-table">
            <thead>
              <tr>
                <th>question</th>
                <th>kind</th>
                <th>rationale</th>
                <th className="num">answer</th>
                <th className="num">gold</th>
                <th>ok</th>
                <th>kept</th>
                {scoreKeys.map((k) => (
                  <th key={k} className="num">
                    {k}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <tr key={s.id} className={s.correct ? 'ok' : 'wrong'}>
                  <td className="mono" title={s.questionId}>
                    {s.question}
                  </td>
                  <td>
                    {s.kind}
                    {s.hintUsed ? <span className="muted"> (hint)</span> : null}
                  </td>
                  <td className="mono rationale" title={s.text}>
                    {s.text}
                  </td>
                  <td className="num mono">{s.answer ?? '—'}</td>
                  <td className="num mono">{s.gold}</td>
                  <td className={s.correct ? 'yes' : 'no'}>{s.correct ? '✓' : '✗'}</td>
                  <td>{s.kept === null ? '' : s.kept ? 'yes' : 'no'}</td>
                  {scoreKeys.map((k) => (
                    <td key={k} className="num mono">
                      {s.scores?.[k] === undefined ? '' : fmtScore(s.scores[k]!)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}
