/** The verifier's question browser: held-out questions, and one question's candidates ranked by a scorer. */
import { useState, type ReactElement } from 'react';
import { formatNumber } from '../../format';
import { useDebounced, useLive } from '../../hooks';
import { call } from '../../transport';
import { SCORER_LABELS, SCORE_KEYS, type Scorer } from '../../../../shared/catalogue';
import { useReloadOnNewData } from './data-version';

const PAGE = 20;

export function QuestionBrowser({
  runId,
  iteration,
  scorer,
  version,
}: {
  runId: string;
  iteration: number | undefined;
  scorer: Scorer;
  version: string;
}): ReactElement {
  const [search, setSearch] = useState('');
  const query = useDebounced(search.trim(), 250);
  // the page offset belongs to one search at one iteration: a new one starts at the first page
  const pageKey = `${query}\u0000${iteration ?? ''}`;
  const [page, setPage] = useState({ key: pageKey, offset: 0 });
  const offset = page.key === pageKey ? page.offset : 0;
  const setOffset = (o: number): void => setPage({ key: pageKey, offset: o });
  // The question picked belongs to one iteration: another iteration has other candidates.
  const iterKey = String(iteration ?? '');
  const [pickedQuestion, setPickedQuestion] = useState<{ key: string; id: string | null }>({ key: iterKey, id: null });
  const questionId = pickedQuestion.key === iterKey ? pickedQuestion.id : null;
  const setQuestionId = (id: string | null): void => setPickedQuestion({ key: iterKey, id });
  // Rows opened are keyed by rank, and a rank means another candidate under another scorer,
  // question or iteration: a change of any of them closes them all.
  const expandKey = `${iterKey}\u0000${questionId ?? ''}\u0000${scorer}`;
  const [opened, setOpened] = useState<{ key: string; ranks: Set<number> }>({ key: expandKey, ranks: new Set() });
  const expanded = opened.key === expandKey ? opened.ranks : new Set<number>();
  const setExpanded = (ranks: Set<number>): void => setOpened({ key: expandKey, ranks });
  const itArg = iteration !== undefined ? { iteration } : {};
  const questions = useLive(
    () => call('getCandidateQuestions', runId, { ...itArg, limit: PAGE, offset, ...(query ? { search: query } : {}) }),
    [runId, iteration, query, offset],
  );
  const candidates = useLive(
    () => (questionId === null ? Promise.resolve(null) : call('getCandidates', runId, { ...itArg, questionId, scorer })),
    [runId, iteration, questionId, scorer],
  );
  useReloadOnNewData(version, questions, candidates);

  const q = questions.data;
  const rows = q?.ok ? q.rows : [];
  const total = q?.ok ? q.total : 0;
  const c = candidates.data;
  const scoreKeys = c?.ok
    ? [...new Set(c.candidates.flatMap((x) => Object.keys(x.scores ?? {})))].sort((a, b) =>
        a === SCORE_KEYS[scorer] ? -1 : b === SCORE_KEYS[scorer] ? 1 : a.localeCompare(b),
      )
    : [];

  return (
    <div className="verifier-browser">
      <div className="analysis-bar">
        <input
          type="search"
          placeholder="search questions"
          data-testid="verifier-search"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
        <span className="muted small" data-testid="verifier-question-count">
          {rows.length ? `${offset + 1}–${offset + rows.length} of ${total}` : questions.loading ? '' : 'no questions'}
        </span>
        <div className="spacer" />
        <button type="button" className="small-button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          ‹ prev
        </button>
        <button type="button" className="small-button" disabled={offset + rows.length >= total} onClick={() => setOffset(offset + PAGE)}>
          next ›
        </button>
      </div>
      {questions.error ? <div className="field-error">{questions.error}</div> : null}
      {q && !q.ok ? <div className="muted">{q.message}</div> : null}
      {rows.length ? (
        <div className="analysis-scroll">
          <table className="table compact analysis-table">
            <thead>
              <tr>
                <th>question</th>
                <th className="num">gold</th>
                <th className="num" title="candidates right / stored">
                  right
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr
                  key={r.questionId}
                  className={`clickable ${r.questionId === questionId ? 'selected' : ''}`}
                  data-testid="verifier-question"
                  data-question-id={r.questionId}
                  onClick={() => setQuestionId(r.questionId === questionId ? null : r.questionId)}
                >
                  <td className="text mono" title={r.question}>
                    {r.question}
                  </td>
                  <td className="num mono">{r.gold}</td>
                  <td className="num">
                    {r.correct} / {r.candidates}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {questionId !== null ? (
        <div className="verifier-candidates">
          {candidates.error ? <div className="field-error">{candidates.error}</div> : null}
          {c && !c.ok ? <div className="muted">{c.message}</div> : null}
          {c?.ok ? (
            <>
              <div className="verifier-question-head small">
                <span className="muted">candidates of </span>
                <span className="mono">{c.question}</span>
                <span className="muted"> · gold </span>
                <span className="mono">{c.gold}</span>
                <span className="muted">
                  {' '}
                  · ranked by {SCORER_LABELS[scorer]} (<code>{SCORE_KEYS[scorer]}</code>), highest first; click a row for the full text
                </span>
              </div>
              <div className="analysis-scroll">
                <table
                  className="table compact analysis-table"
                  data-testid="verifier-candidates"
                  data-question-id={c.questionId}
                  data-scorer={scorer}
                >
                  <thead>
                    <tr>
                      <th className="num">rank</th>
                      <th className="num">answer</th>
                      <th>ok</th>
                      {scoreKeys.map((k) => (
                        <th key={k} className={`num ${k === SCORE_KEYS[scorer] ? 'sorted' : ''}`}>
                          {k}
                        </th>
                      ))}
                      <th>rationale</th>
                    </tr>
                  </thead>
                  <tbody>
                    {c.candidates.map((x) => {
                      const open = expanded.has(x.rank);
                      return (
                        <tr
                          key={x.rank}
                          className="clickable"
                          data-testid="verifier-candidate"
                          data-rank={x.rank}
                          data-correct={x.correct ? 1 : 0}
                          data-score={x.scores?.[SCORE_KEYS[scorer]] ?? ''}
                          onClick={() => {
                            const next = new Set(expanded);
                            if (open) next.delete(x.rank);
                            else next.add(x.rank);
                            setExpanded(next);
                          }}
                        >
                          <td className="num">{x.rank}</td>
                          <td className="num mono">{x.answer ?? '—'}</td>
                          <td className={x.correct ? 'yes' : 'no'}>{x.correct ? '✓' : '✗'}</td>
                          {scoreKeys.map((k) => (
                            <td key={k} className="num mono">
                              {x.scores?.[k] === undefined ? '' : formatNumber(x.scores[k])}
                            </td>
                          ))}
                          <td className={`mono ${open ? 'wrap' : 'text'}`} title={open ? undefined : x.text}>
                            {x.text}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            </>
          ) : null}
        </div>
      ) : rows.length ? (
        <div className="muted small analysis-caption">Click a question to see its candidates ranked by score.</div>
      ) : null}
    </div>
  );
}
