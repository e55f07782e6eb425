/** /rate/<id>: the blind rater, two rationales for one question as Left/Right, keyboard-driven. */
import { useCallback, useEffect, useRef, useState, type ReactElement } from 'react';
import type { RatingItem } from '../../../../shared/analysis';
import { call } from '../../transport';
import { useLive } from '../../hooks';
import { ErrorNote, ProgressBar } from '../../components/common';
import {
  KEY_HINTS,
  afterSave,
  arriveAt,
  finishRating,
  initialRaterState,
  isTypingTarget,
  keyToAction,
  reduceRating,
  type RaterState,
  type RatingAction,
} from '../../rating-keys';
import { SummaryTable, ExportRatings } from './summary';
import { PairView } from './pair';
import { loadRater, storeRater, message, Key } from './common';

export type Phase = { kind: 'loading' } | { kind: 'missing' } | { kind: 'empty' } | { kind: 'ready' };

export function Rater({ taskId }: { taskId: number }): ReactElement {
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const [item, setItem] = useState<RatingItem | null>(null);
  const [rs, setRs] = useState<RaterState | null>(null);
  const [rated, setRated] = useState(0);
  const [rater, setRater] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);

  // The keydown listener reads the latest values through this ref (no stale closures).
  const live = useRef({ rs, item, rater, busy });
  live.current = { rs, item, rater, busy };

  useEffect(() => {
    let alive = true;
    void (async () => {
      try {
        // The task's rater is the default name; getRatingItem without a position: first unrated pair.
        const [tasks, first] = await Promise.all([call('listRatingTasks'), call('getRatingItem', taskId)]);
        if (!alive) return;
        const task = tasks.find((t) => t.id === taskId);
        setRater(task?.rater ?? loadRater());
        if (!first) {
          setPhase({ kind: task ? 'empty' : 'missing' });
          return;
        }
        setItem(first);
        setRated(first.rated);
        setRs(initialRaterState(first, first.rated >= first.total));
        setPhase({ kind: 'ready' });
      } catch (err) {
        if (alive) setLoadError(message(err));
      }
    })();
    return () => {
      alive = false;
    };
  }, [taskId]);

  /** Load a pair and show it (`remember`: a forward move, so `back` can return). */
  const goTo = useCallback(
    async (base: RaterState, position: number | undefined, remember: boolean): Promise<void> => {
      const it = position === undefined ? await call('getRatingItem', taskId) : await call('getRatingItem', taskId, position);
      if (!it) throw new Error(position === undefined ? 'the next pair could not be loaded' : `pair ${position + 1} could not be loaded`);
      setItem(it);
      setRated(it.rated);
      setRs(arriveAt(base, it, remember));
    },
    [taskId],
  );

  const dispatch = useCallback(
    async (action: RatingAction): Promise<void> => {
      const cur = live.current;
      // One request at a time: keys pressed while saving are dropped rather than applied to the wrong pair.
      if (cur.busy || !cur.rs || !cur.item) return;
      const { state: next, effect } = reduceRating(cur.rs, action, cur.item.total, {
        left: cur.item.left.correct,
        right: cur.item.right.correct,
      });
      if (effect.kind === 'none') {
        setRs(next);
        return;
      }
      const before = cur.rs;
      const total = cur.item.total;
      live.current.busy = true;
      setBusy(true);
      setError(null);
      setRs(next);
      let saved = false;
      try {
        if (effect.kind === 'save') {
          const name = cur.rater.trim();
          if (!name) throw new Error("Enter the rater's name (top right) before rating.");
          const r = await call('rateItem', {
            taskId,
            position: next.position,
            rater: name,
            choice: effect.choice,
            flagLeft: effect.flagLeft,
            flagRight: effect.flagRight,
          });
          if (!r.ok) throw new Error(r.message);
          saved = true;
          storeRater(name);
          setRated(r.rated);
          // Keep the loaded item in step with what is stored (a later flag toggle re-saves from it).
          setItem((it) =>
            it && it.position === next.position
              ? { ...it, choice: effect.choice, flagLeft: effect.flagLeft, flagRight: effect.flagRight, rated: r.rated }
              : it,
          );
          if (effect.advance) {
            const where = afterSave(r.rated, total, next.position, before.choice === null);
            if (where === 'finish') setRs(finishRating(next));
            else await goTo(next, where === 'next-position' ? next.position + 1 : undefined, true);
          }
        } else {
          await goTo(next, effect.position, effect.remember);
        }
      } catch (err) {
        // A failed save leaves the pair as it was; a failed move after a save keeps the saved choice.
        if (!saved) setRs(before);
        setError(saved ? `Saved, but ${message(err)}` : `Not saved: ${message(err)}`);
      } finally {
        live.current.busy = false;
        setBusy(false);
      }
    },
    [taskId, goTo],
  );

  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      const t = e.target instanceof HTMLElement ? e.target : null;
      const action = keyToAction({
        key: e.key,
        typing:
          e.isComposing ||
          isTypingTarget(t ? { tagName: t.tagName, type: (t as HTMLInputElement).type, isContentEditable: t.isContentEditable } : null),
        ctrlKey: e.ctrlKey,
        metaKey: e.metaKey,
        altKey: e.altKey,
        shiftKey: e.shiftKey,
        repeat: e.repeat,
      });
      if (!action) return;
      e.preventDefault();
      void dispatch(action);
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [dispatch]);

  const reviewFromStart = async (): Promise<void> => {
    const cur = live.current;
    if (cur.busy || !cur.rs) return;
    live.current.busy = true;
    setBusy(true);
    setError(null);
    try {
      await goTo(cur.rs, 0, false);
    } catch (err) {
      setError(message(err));
    } finally {
      live.current.busy = false;
      setBusy(false);
    }
  };

  const head = (total: number | null): ReactElement => (
    <div className="page-head">
      <a href="#/rate" className="muted">
        Rate
      </a>
      <span className="muted">/</span>
      <h1>Blind rating · task {taskId}</h1>
      {total !== null ? (
        <div className="rate-head-progress">
          <span className="rate-progress" data-testid="rating-progress">
            {rated} / {total} rated
          </span>
          <ProgressBar done={rated} total={total} />
        </div>
      ) : null}
      <span className="muted small rate-status" aria-live="polite">
        {busy ? 'saving…' : ''}
      </span>
      <div className="spacer" />
      <label className="inline-control small rate-rater-name">
        rater
        <input
          type="text"
          value={rater}
          maxLength={100}
          placeholder="your name"
          onChange={(e) => setRater(e.target.value)}
          // Enter/Escape hand the keys back to rating.
          onKeyDown={(e) => {
            if (e.key === 'Enter' || e.key === 'Escape') e.currentTarget.blur();
          }}
          data-testid="rater-name"
        />
      </label>
    </div>
  );

  if (loadError) {
    return (
      <div className="page" data-testid="rater">
        {head(null)}
        <ErrorNote>
          Could not open rating task {taskId}: {loadError}
        </ErrorNote>
      </div>
    );
  }
  if (phase.kind === 'loading' || !item || !rs) {
    return (
      <div className="page" data-testid="rater">
        {head(null)}
        {phase.kind === 'missing' ? (
          <div className="empty" data-testid="rating-missing">
            No rating task {taskId}. <a href="#/rate">All rating tasks</a>
          </div>
        ) : phase.kind === 'empty' ? (
          <div className="empty" data-testid="rating-empty">
            Rating task {taskId} has no pairs. <a href="#/rate">All rating tasks</a>
          </div>
        ) : (
          <div className="muted">Loading…</div>
        )}
      </div>
    );
  }

  const total = item.total;
  return (
    <div className="page" data-testid="rater" aria-busy={busy}>
      {head(total)}
      {error ? <ErrorNote>{error}</ErrorNote> : null}
      {rs.done ? (
        <RatingDone
          taskId={taskId}
          total={total}
          busy={busy}
          onBack={() => void dispatch({ type: 'back' })}
          onReview={() => void reviewFromStart()}
        />
      ) : (
        <PairView item={item} rs={rs} dispatch={(a) => void dispatch(a)} />
      )}
      <div className="muted small rate-help">
        Keys: <Key>← 1</Key> left better, <Key>→ 2</Key> right better, <Key>↑ 3 b</Key> both good, <Key>↓ 4 n</Key> neither, <Key>f</Key>/
        <Key>j</Key> flag left/right "right answer, flawed reasoning", <Key>⌫ u</Key> back, <Key>[</Key>/<Key>]</Key> previous/next without
        rating. Choosing saves and moves to the next unrated pair.
      </div>
    </div>
  );
}

export function RatingDone(props: {
  taskId: number;
  total: number;
  busy: boolean;
  onBack: () => void;
  onReview: () => void;
}): ReactElement {
  // Mounted only once every pair is rated, so the unblinded summary is never on screen while rating.
  const summary = useLive(() => call('ratingSummary', props.taskId), [props.taskId]);
  const rows = summary.data ?? [];
  return (
    <div className="rate-done" data-testid="rating-done">
      <h2>All {props.total} pairs rated.</h2>
      <div className="muted small rate-done-note">
        The sources are revealed below. <Key>⌫ u</Key> goes back to the last pair rated.
      </div>
      {summary.error ? <ErrorNote>Could not load the summary: {summary.error}</ErrorNote> : null}
      {summary.loading && !summary.data ? <div className="muted">Loading…</div> : null}
      {rows.length ? <SummaryTable rows={rows} /> : null}
      <ExportRatings scope={props.taskId} />
      <div className="rate-actions">
        <button type="button" disabled={props.busy} onClick={props.onBack} data-testid="rating-back">
          Back to the last pair
          <Key>{KEY_HINTS.back}</Key>
        </button>
        <button type="button" disabled={props.busy} onClick={props.onReview} data-testid="rating-review">
          Review from the first pair
        </button>
        <a href="#/rate">All rating tasks</a>
      </div>
    </div>
  );
}
