/**
 * Pure parts of the blind rationale rater (issue 5): which key does what, the rater's local
 * state and what each action asks of the service, plus the task form's parsing and the
 * summary's formatting. No React, no DOM, so every rule is unit-tested.
 */
import type { CommandArgs } from '../../shared/contract';
import type { RatingChoice, RatingTaskSummary } from '../../shared/analysis';
import type { FieldError } from '../../shared/experiment-config';

// ---------------------------------------------------------------- keys

export type FlagSide = 'left' | 'right';

export type RatingAction =
  | { type: 'choose'; choice: RatingChoice }
  | { type: 'toggleFlag'; side: FlagSide }
  /** Back to the pair seen before this one (undo the last advance). */
  | { type: 'back' }
  /** Neighbouring positions, without rating. */
  | { type: 'next' }
  | { type: 'prev' };

/** What of a keydown event the mapping looks at; `typing` says focus is in a text field. */
export interface KeyInput {
  key: string;
  typing: boolean;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  shiftKey?: boolean;
  repeat?: boolean;
}

const KEYMAP: Record<string, RatingAction> = {
  ArrowLeft: { type: 'choose', choice: 'left' },
  '1': { type: 'choose', choice: 'left' },
  ArrowRight: { type: 'choose', choice: 'right' },
  '2': { type: 'choose', choice: 'right' },
  ArrowUp: { type: 'choose', choice: 'both' },
  '3': { type: 'choose', choice: 'both' },
  b: { type: 'choose', choice: 'both' },
  ArrowDown: { type: 'choose', choice: 'neither' },
  '4': { type: 'choose', choice: 'neither' },
  n: { type: 'choose', choice: 'neither' },
  f: { type: 'toggleFlag', side: 'left' },
  j: { type: 'toggleFlag', side: 'right' },
  Backspace: { type: 'back' },
  u: { type: 'back' },
  ']': { type: 'next' },
  '[': { type: 'prev' },
};

/** The keys shown on the buttons, first key of each action. */
export const KEY_HINTS = {
  left: '← 1',
  right: '→ 2',
  both: '↑ 3 b',
  neither: '↓ 4 n',
  flagLeft: 'f',
  flagRight: 'j',
  back: '⌫ u',
  next: ']',
  prev: '[',
} as const;

/**
 * The action of a key, or null when the key is not ours: while typing in a field, with
 * Ctrl/Cmd/Alt held (leave browser and OS shortcuts alone), Shift with a named key
 * (Shift+Arrow selects or scrolls), or an auto-repeat of a key that saves (holding ← must
 * not rate a run of pairs). The page calls preventDefault only when this gives an action.
 */
export function keyToAction(ev: KeyInput): RatingAction | null {
  if (ev.typing || ev.ctrlKey || ev.metaKey || ev.altKey) return null;
  if (ev.shiftKey && ev.key.length > 1) return null;
  // Letters count with Shift or Caps Lock too; named keys ("ArrowLeft") keep their case.
  const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
  const action = KEYMAP[key];
  if (!action) return null;
  if (ev.repeat && action.type !== 'next' && action.type !== 'prev') return null;
  return action;
}

/** Whether keys pressed with focus on this element are text input (and not rater commands). */
export function isTypingTarget(el: { tagName?: string; type?: string; isContentEditable?: boolean } | null | undefined): boolean {
  if (!el) return false;
  if (el.isContentEditable) return true;
  const tag = (el.tagName ?? '').toUpperCase();
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag !== 'INPUT') return false;
  // Toggles and buttons take no text: keys over them still rate.
  return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes((el.type ?? 'text').toLowerCase());
}

// ---------------------------------------------------------------- local state

export interface RaterState {
  /** The pair on screen (0-based), or the last pair seen when `done`. */
  position: number;
  /** Its judgement: the stored one, or the one just chosen. */
  choice: RatingChoice | null;
  flagLeft: boolean;
  flagRight: boolean;
  /** Positions left by moving on, newest last: what `back` returns to. */
  history: number[];
  /** Every pair is rated and the "all rated" view is shown. */
  done: boolean;
}

/** What the page must ask of the service after an action. */
export type RatingEffect =
  | { kind: 'none' }
  /** rateItem with these values; `advance`: then go to the next unrated pair. */
  | { kind: 'save'; choice: RatingChoice; flagLeft: boolean; flagRight: boolean; advance: boolean }
  /** getRatingItem(position); `remember`: push the current position onto the history on arrival. */
  | { kind: 'goto'; position: number; remember: boolean };

export interface PairJudgement {
  position: number;
  choice: RatingChoice | null;
  flagLeft: boolean;
  flagRight: boolean;
}

const HISTORY_MAX = 500;

export function initialRaterState(item: PairJudgement, done = false): RaterState {
  return { position: item.position, choice: item.choice, flagLeft: item.flagLeft, flagRight: item.flagRight, history: [], done };
}

/** The next local state and the service call an action needs; `total` is the task's pair count. */
export function reduceRating(
  state: RaterState,
  action: RatingAction,
  total: number,
  /** Which sides may carry "right answer, flawed reasoning": only one whose answer is right. */
  flaggable: { left: boolean; right: boolean } = { left: true, right: true },
): { state: RaterState; effect: RatingEffect } {
  const none = { state, effect: { kind: 'none' } as const };
  switch (action.type) {
    case 'choose': {
      if (state.done) return none;
      const next = { ...state, choice: action.choice };
      return {
        state: next,
        effect: { kind: 'save', choice: action.choice, flagLeft: state.flagLeft, flagRight: state.flagRight, advance: true },
      };
    }
    case 'toggleFlag': {
      // a wrong answer cannot be "right answer, flawed reasoning" (unless flagged before: then it can be cleared)
      const on = action.side === 'left' ? state.flagLeft : state.flagRight;
      if (state.done || (!flaggable[action.side] && !on)) return none;
      const next = action.side === 'left' ? { ...state, flagLeft: !state.flagLeft } : { ...state, flagRight: !state.flagRight };
      // An unrated pair keeps the flag until its choice is saved; a rated one is re-saved now.
      if (next.choice === null) return { state: next, effect: { kind: 'none' } };
      return {
        state: next,
        effect: { kind: 'save', choice: next.choice, flagLeft: next.flagLeft, flagRight: next.flagRight, advance: false },
      };
    }
    case 'back': {
      const prev = state.history[state.history.length - 1];
      if (prev !== undefined)
        return { state: { ...state, history: state.history.slice(0, -1) }, effect: { kind: 'goto', position: prev, remember: false } };
      if (state.done) return { state, effect: { kind: 'goto', position: state.position, remember: false } };
      if (state.position > 0) return { state, effect: { kind: 'goto', position: state.position - 1, remember: false } };
      return none;
    }
    case 'prev': {
      if (state.done) return { state, effect: { kind: 'goto', position: state.position, remember: false } };
      if (state.position > 0) return { state, effect: { kind: 'goto', position: state.position - 1, remember: true } };
      return none;
    }
    case 'next': {
      if (state.done || state.position >= total - 1) return none;
      return { state, effect: { kind: 'goto', position: state.position + 1, remember: true } };
    }
  }
}

function pushHistory(history: number[], position: number): number[] {
  const h = [...history, position];
  return h.length > HISTORY_MAX ? h.slice(h.length - HISTORY_MAX) : h;
}

/** Show a loaded pair; `remember` (a forward move) lets `back` return to the pair left. */
export function arriveAt(state: RaterState, item: PairJudgement, remember: boolean): RaterState {
  const history = remember && !state.done && state.position !== item.position ? pushHistory(state.history, state.position) : state.history;
  return { position: item.position, choice: item.choice, flagLeft: item.flagLeft, flagRight: item.flagRight, history, done: false };
}

/**
 * Where to go after a choice was saved (`rated`: the task's rated count the save returned).
 * Pairs left unrated: the next unrated one. All rated: the "all rated" view when this save
 * rated the last unrated pair or the pair is the last one; otherwise (re-judging an already
 * rated pair while reviewing) the next position, so a review walks through the task.
 */
export function afterSave(
  rated: number,
  total: number,
  position: number,
  wasUnrated: boolean,
): 'next-unrated' | 'finish' | 'next-position' {
  if (rated < total) return 'next-unrated';
  if (wasUnrated || position >= total - 1) return 'finish';
  return 'next-position';
}

/** Every pair is rated: show the "all rated" view; `back` returns to the pair just rated. */
export function finishRating(state: RaterState): RaterState {
  if (state.done) return state;
  return { ...state, done: true, history: pushHistory(state.history, state.position) };
}

// ---------------------------------------------------------------- task form

export type CreateRatingTaskArgs = CommandArgs<'createRatingTask'>[0];

export interface RatingTaskForm {
  name: string;
  rater: string;
  aRun: string;
  aIteration: string;
  bRun: string;
  bIteration: string;
  split: 'train' | 'eval';
  onlyCorrect: boolean;
  limit: string;
}

export const MAX_PAIRS = 2000;

/** "latest" or empty → null (each question's latest iteration); a whole number ≥ 0 → it. */
export function parseIteration(text: string): { ok: true; value: number | null } | { ok: false; message: string } {
  const t = text.trim().toLowerCase();
  if (t === '' || t === 'latest') return { ok: true, value: null };
  if (!/^\d{1,6}$/.test(t)) return { ok: false, message: `"${text.trim()}" is not an iteration: give a whole number ≥ 0 or "latest"` };
  return { ok: true, value: Number(t) };
}

/** The createRatingTask arguments, or errors naming the field (name, rater, a, b, limit). */
export function parseRatingTaskForm(f: RatingTaskForm): { args: CreateRatingTaskArgs | null; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const name = f.name.trim();
  const rater = f.rater.trim();
  if (!name) errors.push({ field: 'name', message: 'give the task a name' });
  else if (name.length > 200) errors.push({ field: 'name', message: 'the name is longer than 200 characters' });
  if (!rater) errors.push({ field: 'rater', message: "give the rater's name" });
  else if (rater.length > 100) errors.push({ field: 'rater', message: "the rater's name is longer than 100 characters" });
  const side = (field: 'a' | 'b', run: string, it: string): { runId: string; iteration: number | null } | null => {
    if (!run) {
      errors.push({ field, message: `choose the run of source ${field.toUpperCase()}` });
      return null;
    }
    const p = parseIteration(it);
    if (!p.ok) {
      errors.push({ field, message: `source ${field.toUpperCase()}: ${p.message}` });
      return null;
    }
    return { runId: run, iteration: p.value };
  };
  const a = side('a', f.aRun, f.aIteration);
  const b = side('b', f.bRun, f.bIteration);
  if (a && b && a.runId === b.runId && a.iteration === b.iteration) {
    errors.push({ field: 'b', message: 'sources A and B are the same run at the same iteration: there is nothing to compare' });
  }
  const lt = f.limit.trim();
  const limit = Number(lt);
  if (!/^\d+$/.test(lt) || limit < 1 || limit > MAX_PAIRS)
    errors.push({ field: 'limit', message: `the number of pairs must be a whole number from 1 to ${MAX_PAIRS}` });
  if (errors.length || !a || !b) return { args: null, errors };
  return { args: { name, rater, a, b, split: f.split, onlyCorrect: f.onlyCorrect, limit }, errors };
}

// ---------------------------------------------------------------- summary formatting

function pct(x: number): number {
  return Math.round(x * 100);
}

/** "62% [48–74]": A's win rate with its 95% interval; "—" when no pair was decided. */
export function formatWinRate(r: { winRateA: number | null; ciLow: number | null; ciHigh: number | null }): string {
  if (r.winRateA === null || !Number.isFinite(r.winRateA)) return '—';
  const ci =
    r.ciLow !== null && r.ciHigh !== null && Number.isFinite(r.ciLow) && Number.isFinite(r.ciHigh)
      ? ` [${pct(r.ciLow)}–${pct(r.ciHigh)}]`
      : '';
  return `${pct(r.winRateA)}%${ci}`;
}

/** A share as a whole percentage, "—" when there is none. */
export function formatShare(x: number | null): string {
  return x === null || !Number.isFinite(x) ? '—' : `${pct(x)}%`;
}

// ---------------------------------------------------------------- blinding of the /rate summary

/** A task whose every pair is rated (one with no pairs is not: there is nothing to reveal). */
export function isTaskFinished(t: Pick<RatingTaskSummary, 'items' | 'rated'>): boolean {
  return t.items > 0 && t.rated >= t.items;
}

/** A task with pairs still to rate (one with no pairs has no ratings to hide). */
export function isTaskBeingRated(t: Pick<RatingTaskSummary, 'items' | 'rated'>): boolean {
  return t.items > 0 && t.rated < t.items;
}

/**
 * What the /rate summary and export may show. A task still being rated stays hidden (a rater
 * with /rate open in another tab would see the win counts move after each judgement) unless
 * the user reveals it. `all`: every task is finished, or the user revealed the rest:
 * ratingSummary() over every task and one export; `unfinished` counts the tasks being rated
 * it includes. `finished`: one summary and one export per finished task; `hidden` counts the
 * tasks being rated left out.
 */
export type SummaryScope = { kind: 'all'; unfinished: number } | { kind: 'finished'; taskIds: number[]; hidden: number };

export function summaryScope(tasks: readonly Pick<RatingTaskSummary, 'id' | 'items' | 'rated'>[], reveal: boolean): SummaryScope {
  const unfinished = tasks.filter(isTaskBeingRated).length;
  if (reveal || unfinished === 0) return { kind: 'all', unfinished };
  return { kind: 'finished', taskIds: tasks.filter(isTaskFinished).map((t) => t.id), hidden: unfinished };
}
