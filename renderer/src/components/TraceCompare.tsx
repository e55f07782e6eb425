/**
 * One question's rationales: every sample of it in this run (by iteration), two of them side
 * by side with their word-level differences marked, and this run's rationale against a second
 * run's (e.g. star vs star-norat on the same dataset) for the same question.
 */
import { promptNote, readableQuestion } from '../task-display';
import { runName } from '../../../shared/run-name';
import { memo, useEffect, useMemo, useRef, useState, type ReactElement } from 'react';
import type { RunSummary, TraceRow } from '../../../shared/contract';
import { call } from '../transport';
import { useRunsChanged } from '../hooks';
import { diffChars, type DiffPart } from '../text-diff';
import { RefreshGate, defaultOtherSample, keySamples, rankCompareRuns, type KeyedSample, type Split } from '../traces-query';

/** Samples of one question per run, enough for any realistic number of iterations × kinds. */
const QUESTION_LIMIT = 1000;
/** A live run's data is reloaded at most this often (and never while a load is in flight). */
export const LIVE_RELOAD_MS = 5000;

export interface KeptLive<T> {
  /** The latest answer; while new arguments load, the previous arguments' answer (see `current`). */
  data: T | undefined;
  /** `data` answers the current arguments. */
  current: boolean;
  /** The current arguments' last load failed with this message. */
  error: string | null;
  /** The data changed on the server: reload, paced by RefreshGate. */
  refresh: () => void;
}

/**
 * Load `fetcher()` now and whenever `key` (the arguments) changes, keeping the previous
 * answer on show until the new one arrives, so a page/sort/filter change does not blank the
 * view; refresh() reloads through a RefreshGate (at most every `minGapMs`, one at a time).
 * Answers for arguments that are no longer current are dropped.
 */
export function useKeptLive<T>(fetcher: () => Promise<T>, key: string, minGapMs = LIVE_RELOAD_MS): KeptLive<T> {
  const [res, setRes] = useState<{ key: string; data: T } | null>(null);
  const [err, setErr] = useState<{ key: string; message: string } | null>(null);
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;
  const keyRef = useRef(key);
  keyRef.current = key;
  const gateRef = useRef<RefreshGate | null>(null);
  gateRef.current ??= new RefreshGate(() => {
    const k = keyRef.current;
    return fetcherRef.current().then(
      (data) => {
        if (keyRef.current !== k) return;
        setRes({ key: k, data });
        setErr(null);
      },
      (e: unknown) => {
        if (keyRef.current !== k) return;
        setErr({ key: k, message: e instanceof Error ? e.message : String(e) });
      },
    );
  }, minGapMs);
  const gate = gateRef.current;
  useEffect(() => {
    gate.now();
    return () => gate.cancel();
  }, [gate, key]);
  return {
    data: res?.data,
    current: res !== null && res.key === key,
    error: err !== null && err.key === key ? err.message : null,
    refresh: () => gate.request(),
  };
}

export interface CompareSelection {
  a: string | null;
  b: string | null;
  vs: string | null;
  vsample: string | null;
}

export interface TraceCompareProps extends CompareSelection {
  runId: string;
  /** Every run (to pick the second one); this run is left out of the picker. */
  runs: RunSummary[];
  questionId: string;
  split: Split | null;
  onChange: (patch: Partial<CompareSelection>) => void;
  onClose: () => void;
}

function runLabel(r: RunSummary): string {
  return `${runName(r)} · ${r.id}`;
}

function sampleLabel(row: TraceRow): string {
  return `it ${row.iteration} · ${row.kind}${row.hintUsed ? ' (hint)' : ''} · ${row.correct ? '✓' : '✗'} ${row.answer ?? '—'}`;
}

/**
 * One side of the diff: what it has that the other side lacks is marked in the colour of its
 * outcome (green where its answer is right, red where wrong), so the colours say which reasoning
 * got there, not which text came first.
 */
function DiffText({ parts, side, correct }: { parts: DiffPart[]; side: 'a' | 'b'; correct: boolean }): ReactElement {
  const own = side === 'a' ? 'del' : 'ins';
  const tone = correct ? 'diff-right' : 'diff-wrong';
  return (
    <div className="diff-text mono">
      {parts.map((p, i) => {
        if (p.op === 'equal') return <span key={i}>{p.text}</span>;
        if (p.op !== own) return null;
        return (
          <mark key={i} className={`diff-own ${tone}`} data-testid={side === 'a' ? 'diff-del' : 'diff-ins'} data-tone={tone}>
            {p.text}
          </mark>
        );
      })}
    </div>
  );
}

function SideHead({ title, row }: { title: string; row: TraceRow }): ReactElement {
  return (
    <div className="diff-side-head">
      <strong>{title}</strong>{' '}
      <span className="muted">
        it {row.iteration} · {row.kind}
      </span>{' '}
      {row.hintUsed ? <span className="trace-hint">hint</span> : null}{' '}
      <span className={row.correct ? 'trace-ok' : 'trace-wrong'}>
        {row.correct ? '✓' : '✗'} {row.answer ?? '—'}
      </span>
    </div>
  );
}

/**
 * Two rationales side by side: deletions marked on the left, insertions on the right.
 * Memoized: the rows keep their identity between renders (the compare panel's samples are
 * memoized on the loaded data), so typing elsewhere on the page does not re-diff.
 */
export const DiffPair = memo(function DiffPair({
  left,
  right,
  leftTitle,
  rightTitle,
  testId,
}: {
  left: TraceRow;
  right: TraceRow;
  leftTitle: string;
  rightTitle: string;
  testId?: string;
}): ReactElement {
  const { diff, stats } = useMemo(() => {
    const d = diffChars(left.text, right.text);
    return { diff: d, stats: d.words };
  }, [left.text, right.text]);
  return (
    <div className="diff-pair-wrap" data-testid={testId}>
      <div className="muted small diff-stats">
        {left.text === right.text ? 'identical rationales' : `−${stats.deleted} / +${stats.inserted} words`}
        {diff.mode === 'lines'
          ? ' · long texts: compared line by line'
          : diff.mode === 'coarse'
            ? ' · long texts: only the common start and end are matched'
            : ''}
      </div>
      <div className="diff-pair">
        <div className="diff-side">
          <SideHead title={leftTitle} row={left} />
          <DiffText parts={diff.parts} side="a" correct={left.correct} />
        </div>
        <div className="diff-side">
          <SideHead title={rightTitle} row={right} />
          <DiffText parts={diff.parts} side="b" correct={right.correct} />
        </div>
      </div>
    </div>
  );
});

function SampleSelect({
  samples,
  value,
  onChange,
  testId,
}: {
  samples: KeyedSample[];
  value: string;
  onChange: (key: string) => void;
  testId: string;
}): ReactElement {
  return (
    <select data-testid={testId} value={value} onChange={(e) => onChange(e.target.value)}>
      {samples.map((s) => (
        <option key={s.key} value={s.key}>
          {sampleLabel(s.row)}
        </option>
      ))}
    </select>
  );
}

export function TraceCompare(p: TraceCompareProps): ReactElement {
  const splitArg = p.split ? { split: p.split } : {};
  const mine = useKeptLive(
    () => call('getTraces', p.runId, { questionId: p.questionId, ...splitArg, limit: QUESTION_LIMIT }),
    JSON.stringify([p.runId, p.questionId, p.split]),
  );
  const theirs = useKeptLive(
    () => (p.vs ? call('getTraces', p.vs, { questionId: p.questionId, ...splitArg, limit: QUESTION_LIMIT }) : Promise.resolve(null)),
    JSON.stringify([p.vs, p.questionId, p.split]),
  );
  // a live run (this one or the other) gains iterations: reload the side that changed
  useRunsChanged((ids) => {
    if (ids === 'all' || ids.includes(p.runId)) mine.refresh();
    if (p.vs && (ids === 'all' || ids.includes(p.vs))) theirs.refresh();
  }, 1000);
  // only the current arguments' answers count here: another run's samples must not stand in
  const mineData = mine.current ? mine.data : undefined;
  const theirsData = theirs.current ? theirs.data : undefined;
  const mineLoading = !mine.current && mine.error === null;
  const theirsLoading = !theirs.current && theirs.error === null;
  const samples = useMemo(() => keySamples(mineData?.rows ?? []), [mineData]);
  const other = useMemo(() => keySamples(theirsData?.rows ?? []), [theirsData]);
  const self = p.runs.find((r) => r.id === p.runId);
  const choices = useMemo(() => rankCompareRuns(p.runs, self, p.runId), [p.runs, self, p.runId]);

  // A defaults to the first sample, B to the last iteration's first; unknown keys (an old link) too
  const lastIt = samples[samples.length - 1]?.row.iteration;
  const a = samples.find((s) => s.key === p.a) ?? samples[0];
  const b = samples.find((s) => s.key === p.b) ?? samples.find((s) => s.row.iteration === lastIt);
  const v = other.find((s) => s.key === p.vsample) ?? defaultOtherSample(other, b);
  const first = samples[0]?.row;
  const sameDataset = choices.filter((r) => self && r.dataset === self.dataset);
  const otherDataset = choices.filter((r) => !(self && r.dataset === self.dataset));

  return (
    <div className="trace-compare" data-testid="trace-compare" data-question-id={p.questionId}>
      <div className="trace-compare-head">
        <div className="trace-compare-title">
          <span className="mono">{p.questionId}</span>
          {first ? (
            <span className="muted small">
              {' '}
              · {first.split}
              {first.difficulty !== null ? ` · difficulty ${first.difficulty}` : ''}
            </span>
          ) : null}
        </div>
        <button type="button" className="small-button" data-testid="trace-compare-close" onClick={p.onClose}>
          close
        </button>
      </div>
      {mine.error ? <div className="field-error">{mine.error}</div> : null}
      {first ? (
        <div className="trace-question">
          <div className="mono" title={promptNote(first.question) ?? undefined} data-testid="trace-question">
            {readableQuestion(first.question)}
          </div>
          <div className="small">
            gold <span className="mono">{first.gold}</span>
          </div>
        </div>
      ) : !mineLoading ? (
        <div className="muted small">No samples of this question.</div>
      ) : (
        <div className="muted small">loading…</div>
      )}

      {samples.length ? (
        <div className="trace-timeline-wrap">
          <table className="table compact trace-timeline" data-testid="compare-samples">
            <thead>
              <tr>
                <th className="num">it</th>
                <th>kind</th>
                <th className="num">answer</th>
                <th>ok</th>
                <th>compare</th>
              </tr>
            </thead>
            <tbody>
              {samples.map((s) => (
                <tr key={s.key} data-testid="compare-sample" data-key={s.key}>
                  <td className="num">{s.row.iteration}</td>
                  <td>
                    {s.row.kind}
                    {s.row.hintUsed ? <span className="trace-hint">hint</span> : null}
                  </td>
                  <td className="num mono">{s.row.answer ?? '—'}</td>
                  <td className={s.row.correct ? 'trace-ok' : 'trace-wrong'}>{s.row.correct ? '✓' : '✗'}</td>
                  <td>
                    <button
                      type="button"
                      className={`small-button${a?.key === s.key ? ' picked' : ''}`}
                      onClick={() => p.onChange({ a: s.key })}
                    >
                      A
                    </button>{' '}
                    <button
                      type="button"
                      className={`small-button${b?.key === s.key ? ' picked' : ''}`}
                      onClick={() => p.onChange({ b: s.key })}
                    >
                      B
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}

      {a && b ? (
        <section className="trace-compare-section">
          <h3>Across iterations</h3>
          <div className="compare-controls">
            <label>
              A <SampleSelect samples={samples} value={a.key} onChange={(k) => p.onChange({ a: k })} testId="compare-iteration-a" />
            </label>
            <label>
              B <SampleSelect samples={samples} value={b.key} onChange={(k) => p.onChange({ b: k })} testId="compare-iteration-b" />
            </label>
          </div>
          <DiffPair left={a.row} right={b.row} leftTitle="A" rightTitle="B" testId="compare-iterations-diff" />
        </section>
      ) : null}

      <section className="trace-compare-section">
        <h3>Against another run</h3>
        <div className="compare-controls">
          <label>
            run{' '}
            <select
              data-testid="compare-run"
              value={p.vs ?? ''}
              onChange={(e) => p.onChange({ vs: e.target.value || null, vsample: null })}
            >
              <option value="">— pick a run —</option>
              {sameDataset.length ? (
                <optgroup label={`same dataset (${self?.dataset ?? ''})`}>
                  {sameDataset.map((r) => (
                    <option key={r.id} value={r.id}>
                      {runLabel(r)}
                    </option>
                  ))}
                </optgroup>
              ) : null}
              {otherDataset.length ? (
                <optgroup label="other datasets">
                  {otherDataset.map((r) => (
                    <option key={r.id} value={r.id}>
                      {runLabel(r)}
                    </option>
                  ))}
                </optgroup>
              ) : null}
              {p.vs && !choices.some((r) => r.id === p.vs) ? <option value={p.vs}>{p.vs}</option> : null}
            </select>
          </label>
          {p.vs && other.length ? (
            <label>
              its sample{' '}
              <SampleSelect
                samples={other}
                value={v?.key ?? ''}
                onChange={(k) => p.onChange({ vsample: k })}
                testId="compare-run-iteration"
              />
            </label>
          ) : null}
        </div>
        {theirs.error ? <div className="field-error">{theirs.error}</div> : null}
        {p.vs && !theirsLoading && !theirs.error && other.length === 0 ? (
          <div className="muted small" data-testid="compare-run-empty">
            Run {p.vs} has no sample of question {p.questionId}
            {p.split ? ` (${p.split})` : ''}.
          </div>
        ) : null}
        {b && v ? (
          <DiffPair left={b.row} right={v.row} leftTitle="this run (B)" rightTitle={p.vs ?? 'other run'} testId="compare-runs-diff" />
        ) : null}
      </section>
    </div>
  );
}
