import { describe, expect, it } from 'vitest';
import {
  afterSave,
  arriveAt,
  finishRating,
  formatShare,
  formatWinRate,
  initialRaterState,
  isTaskBeingRated,
  isTaskFinished,
  isTypingTarget,
  keyToAction,
  parseIteration,
  parseRatingTaskForm,
  reduceRating,
  summaryScope,
  type RaterState,
  type RatingTaskForm,
} from '../../renderer/src/rating-keys';
import { commandArgs } from '../../shared/contract';

const k = (key: string, extra: Partial<Parameters<typeof keyToAction>[0]> = {}) => keyToAction({ key, typing: false, ...extra });

describe('keyToAction', () => {
  it('maps every rating key', () => {
    for (const key of ['ArrowLeft', '1']) expect(k(key)).toEqual({ type: 'choose', choice: 'left' });
    for (const key of ['ArrowRight', '2']) expect(k(key)).toEqual({ type: 'choose', choice: 'right' });
    for (const key of ['ArrowUp', '3', 'b']) expect(k(key)).toEqual({ type: 'choose', choice: 'both' });
    for (const key of ['ArrowDown', '4', 'n']) expect(k(key)).toEqual({ type: 'choose', choice: 'neither' });
    expect(k('f')).toEqual({ type: 'toggleFlag', side: 'left' });
    expect(k('j')).toEqual({ type: 'toggleFlag', side: 'right' });
    for (const key of ['Backspace', 'u']) expect(k(key)).toEqual({ type: 'back' });
    expect(k(']')).toEqual({ type: 'next' });
    expect(k('[')).toEqual({ type: 'prev' });
  });

  it('takes letters with Shift or Caps Lock', () => {
    expect(k('B')).toEqual({ type: 'choose', choice: 'both' });
    expect(k('F')).toEqual({ type: 'toggleFlag', side: 'left' });
  });

  it('ignores other keys', () => {
    for (const key of ['a', '5', '0', 'Enter', ' ', 'Escape', 'Tab', 'Delete', 'arrowleft', 'Shift', 'x', 'k']) expect(k(key)).toBeNull();
  });

  it('ignores keys while typing in a field', () => {
    for (const key of ['ArrowLeft', '1', 'b', 'n', 'f', 'j', 'Backspace', 'u', ']', '[']) expect(k(key, { typing: true })).toBeNull();
  });

  it('leaves shortcuts with Ctrl, Cmd or Alt alone', () => {
    expect(k('1', { ctrlKey: true })).toBeNull();
    expect(k('ArrowLeft', { altKey: true })).toBeNull();
    expect(k('[', { metaKey: true })).toBeNull();
  });

  it('leaves Shift with a named key to the page (Shift+Arrow selects or scrolls)', () => {
    for (const key of ['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'Backspace']) expect(k(key, { shiftKey: true })).toBeNull();
    // a letter typed with Shift is the same letter
    expect(k('N', { shiftKey: true })).toEqual({ type: 'choose', choice: 'neither' });
    expect(k('J', { shiftKey: true })).toEqual({ type: 'toggleFlag', side: 'right' });
    expect(k('ArrowLeft', { shiftKey: false })).toEqual({ type: 'choose', choice: 'left' });
  });

  it('does not rate on auto-repeat but lets navigation repeat', () => {
    expect(k('ArrowLeft', { repeat: true })).toBeNull();
    expect(k('f', { repeat: true })).toBeNull();
    expect(k('u', { repeat: true })).toBeNull();
    expect(k(']', { repeat: true })).toEqual({ type: 'next' });
    expect(k('[', { repeat: true })).toEqual({ type: 'prev' });
  });
});

describe('isTypingTarget', () => {
  it('is true in text fields, selects and editable content', () => {
    expect(isTypingTarget({ tagName: 'INPUT', type: 'text' })).toBe(true);
    expect(isTypingTarget({ tagName: 'input' })).toBe(true);
    expect(isTypingTarget({ tagName: 'INPUT', type: 'number' })).toBe(true);
    expect(isTypingTarget({ tagName: 'TEXTAREA' })).toBe(true);
    expect(isTypingTarget({ tagName: 'SELECT' })).toBe(true);
    expect(isTypingTarget({ tagName: 'DIV', isContentEditable: true })).toBe(true);
  });
  it('is false on buttons, checkboxes and the page', () => {
    expect(isTypingTarget({ tagName: 'BUTTON' })).toBe(false);
    expect(isTypingTarget({ tagName: 'INPUT', type: 'checkbox' })).toBe(false);
    expect(isTypingTarget({ tagName: 'BODY' })).toBe(false);
    expect(isTypingTarget(null)).toBe(false);
  });
});

const fresh = (over: Partial<RaterState> = {}): RaterState => ({
  ...initialRaterState({ position: 3, choice: null, flagLeft: false, flagRight: false }),
  ...over,
});

describe('reduceRating', () => {
  it('choosing saves with the current flags and advances', () => {
    const s = fresh({ flagRight: true });
    const r = reduceRating(s, { type: 'choose', choice: 'left' }, 10);
    expect(r.state.choice).toBe('left');
    expect(r.effect).toEqual({ kind: 'save', choice: 'left', flagLeft: false, flagRight: true, advance: true });
    expect(s.choice).toBeNull(); // not mutated
  });

  it('a flag on an unrated pair stays local until the choice', () => {
    const r = reduceRating(fresh(), { type: 'toggleFlag', side: 'left' }, 10);
    expect(r.state.flagLeft).toBe(true);
    expect(r.effect).toEqual({ kind: 'none' });
    const c = reduceRating(r.state, { type: 'choose', choice: 'both' }, 10);
    expect(c.effect).toEqual({ kind: 'save', choice: 'both', flagLeft: true, flagRight: false, advance: true });
  });

  it('a flag on a rated pair re-saves it without advancing, and toggles back', () => {
    const s = fresh({ choice: 'right', flagLeft: true });
    const r = reduceRating(s, { type: 'toggleFlag', side: 'right' }, 10);
    expect(r.effect).toEqual({ kind: 'save', choice: 'right', flagLeft: true, flagRight: true, advance: false });
    const r2 = reduceRating(r.state, { type: 'toggleFlag', side: 'left' }, 10);
    expect(r2.effect).toEqual({ kind: 'save', choice: 'right', flagLeft: false, flagRight: true, advance: false });
  });

  it('"right answer, flawed reasoning" only flags a side whose answer is right (a flag set before can be cleared)', () => {
    const wrongLeft = { left: false, right: true };
    expect(reduceRating(fresh(), { type: 'toggleFlag', side: 'left' }, 10, wrongLeft).state.flagLeft).toBe(false);
    expect(reduceRating(fresh(), { type: 'toggleFlag', side: 'right' }, 10, wrongLeft).state.flagRight).toBe(true);
    const old = fresh({ choice: 'left', flagLeft: true });
    expect(reduceRating(old, { type: 'toggleFlag', side: 'left' }, 10, wrongLeft).state.flagLeft).toBe(false);
  });

  it('next and prev move one position within the task and remember where they left', () => {
    expect(reduceRating(fresh(), { type: 'next' }, 10).effect).toEqual({ kind: 'goto', position: 4, remember: true });
    expect(reduceRating(fresh(), { type: 'prev' }, 10).effect).toEqual({ kind: 'goto', position: 2, remember: true });
    expect(reduceRating(fresh({ position: 9 }), { type: 'next' }, 10).effect).toEqual({ kind: 'none' });
    expect(reduceRating(fresh({ position: 0 }), { type: 'prev' }, 10).effect).toEqual({ kind: 'none' });
  });

  it('back returns along the history, then to the previous position', () => {
    const s = fresh({ position: 7, history: [1, 5] });
    const r = reduceRating(s, { type: 'back' }, 10);
    expect(r.effect).toEqual({ kind: 'goto', position: 5, remember: false });
    expect(r.state.history).toEqual([1]);
    expect(reduceRating(fresh({ position: 7 }), { type: 'back' }, 10).effect).toEqual({ kind: 'goto', position: 6, remember: false });
    expect(reduceRating(fresh({ position: 0 }), { type: 'back' }, 10).effect).toEqual({ kind: 'none' });
  });

  it('when all are rated, only back and prev work, returning to the last pair', () => {
    const done = fresh({ position: 9, choice: 'left', done: true });
    expect(reduceRating(done, { type: 'choose', choice: 'right' }, 10).effect).toEqual({ kind: 'none' });
    expect(reduceRating(done, { type: 'toggleFlag', side: 'left' }, 10).effect).toEqual({ kind: 'none' });
    expect(reduceRating(done, { type: 'next' }, 10).effect).toEqual({ kind: 'none' });
    expect(reduceRating(done, { type: 'prev' }, 10).effect).toEqual({ kind: 'goto', position: 9, remember: false });
    expect(reduceRating(done, { type: 'back' }, 10).effect).toEqual({ kind: 'goto', position: 9, remember: false });
  });
});

describe('arriveAt / finishRating', () => {
  it('a forward move pushes the pair left; a back move does not', () => {
    const s = fresh({ choice: 'left' });
    const a = arriveAt(s, { position: 4, choice: null, flagLeft: false, flagRight: true }, true);
    expect(a).toEqual({ position: 4, choice: null, flagLeft: false, flagRight: true, history: [3], done: false });
    const b = arriveAt(a, { position: 3, choice: 'left', flagLeft: false, flagRight: false }, false);
    expect(b.history).toEqual([3]);
    expect(b.choice).toBe('left');
    // arriving at the same pair does not record it twice
    expect(arriveAt(b, { position: 3, choice: 'left', flagLeft: false, flagRight: false }, true).history).toEqual([3]);
  });

  it('a full round: rate 0, rate 1 (last), all rated, back to 1, back to 0', () => {
    let s = initialRaterState({ position: 0, choice: null, flagLeft: false, flagRight: false });
    let r = reduceRating(s, { type: 'choose', choice: 'left' }, 2);
    s = arriveAt(r.state, { position: 1, choice: null, flagLeft: false, flagRight: false }, true);
    r = reduceRating(s, { type: 'choose', choice: 'neither' }, 2);
    s = finishRating(r.state);
    expect(s).toMatchObject({ done: true, position: 1, history: [0, 1] });
    r = reduceRating(s, { type: 'back' }, 2);
    expect(r.effect).toEqual({ kind: 'goto', position: 1, remember: false });
    s = arriveAt(r.state, { position: 1, choice: 'neither', flagLeft: false, flagRight: false }, false);
    expect(s).toMatchObject({ done: false, position: 1, choice: 'neither', history: [0] });
    r = reduceRating(s, { type: 'back' }, 2);
    expect(r.effect).toEqual({ kind: 'goto', position: 0, remember: false });
    expect(r.state.history).toEqual([]);
  });

  it('the history keeps the newest 500 positions', () => {
    let s = fresh({ position: 0 });
    for (let p = 1; p <= 600; p++) s = arriveAt(s, { position: p, choice: null, flagLeft: false, flagRight: false }, true);
    expect(s.history).toHaveLength(500);
    expect(s.history[0]).toBe(100);
    expect(s.history[499]).toBe(599);
  });
});

describe('afterSave', () => {
  it('goes to the next unrated pair while any is left', () => {
    expect(afterSave(3, 5, 1, true)).toBe('next-unrated');
    expect(afterSave(4, 5, 4, false)).toBe('next-unrated');
  });

  it('finishes when this save rated the last unrated pair, wherever it is', () => {
    expect(afterSave(5, 5, 2, true)).toBe('finish');
    expect(afterSave(5, 5, 0, true)).toBe('finish');
  });

  it('while reviewing a fully rated task, walks on to the next position and finishes at the last', () => {
    // "review from the first pair", then a choice at pair 0 of 5: pair 1, not the summary
    expect(afterSave(5, 5, 0, false)).toBe('next-position');
    expect(afterSave(5, 5, 3, false)).toBe('next-position');
    expect(afterSave(5, 5, 4, false)).toBe('finish');
    expect(afterSave(1, 1, 0, false)).toBe('finish');
  });
});

describe('summaryScope', () => {
  const task = (id: number, items: number, rated: number) => ({ id, items, rated });

  it('tells finished tasks and tasks being rated apart (an empty task is neither)', () => {
    expect([isTaskFinished(task(1, 5, 5)), isTaskBeingRated(task(1, 5, 5))]).toEqual([true, false]);
    expect([isTaskFinished(task(1, 5, 4)), isTaskBeingRated(task(1, 5, 4))]).toEqual([false, true]);
    expect([isTaskFinished(task(1, 5, 0)), isTaskBeingRated(task(1, 5, 0))]).toEqual([false, true]);
    expect([isTaskFinished(task(1, 0, 0)), isTaskBeingRated(task(1, 0, 0))]).toEqual([false, false]);
  });

  it('summarizes every task when all are finished (or empty), or when none exist', () => {
    expect(summaryScope([task(1, 5, 5), task(2, 3, 3), task(3, 0, 0)], false)).toEqual({ kind: 'all', unfinished: 0 });
    expect(summaryScope([], false)).toEqual({ kind: 'all', unfinished: 0 });
  });

  it('hides tasks still being rated: one summary per finished task, counting the hidden ones', () => {
    const tasks = [task(1, 5, 5), task(2, 3, 1), task(3, 4, 0), task(4, 2, 2), task(5, 0, 0)];
    expect(summaryScope(tasks, false)).toEqual({ kind: 'finished', taskIds: [1, 4], hidden: 2 });
    expect(summaryScope([task(2, 3, 1)], false)).toEqual({ kind: 'finished', taskIds: [], hidden: 1 });
  });

  it('reveals everything on request, saying how many unfinished tasks it includes', () => {
    expect(summaryScope([task(1, 5, 5), task(2, 3, 1), task(3, 4, 0)], true)).toEqual({ kind: 'all', unfinished: 2 });
  });
});

const form = (over: Partial<RatingTaskForm> = {}): RatingTaskForm => ({
  name: ' pilot ',
  rater: ' ada ',
  aRun: 'run-a',
  aIteration: 'latest',
  bRun: 'run-b',
  bIteration: '3',
  split: 'eval',
  onlyCorrect: true,
  limit: '50',
  ...over,
});

describe('parseRatingTaskForm', () => {
  it('builds arguments the contract accepts', () => {
    const { args, errors } = parseRatingTaskForm(form());
    expect(errors).toEqual([]);
    expect(args).toEqual({
      name: 'pilot',
      rater: 'ada',
      a: { runId: 'run-a', iteration: null },
      b: { runId: 'run-b', iteration: 3 },
      split: 'eval',
      onlyCorrect: true,
      limit: 50,
    });
    expect(commandArgs.createRatingTask.safeParse([args]).success).toBe(true);
  });

  it('names each bad field', () => {
    const { args, errors } = parseRatingTaskForm(form({ name: ' ', rater: '', aRun: '', bIteration: 'two', limit: '0' }));
    expect(args).toBeNull();
    expect(errors.map((e) => e.field)).toEqual(['name', 'rater', 'a', 'b', 'limit']);
    expect(errors[3]?.message).toMatch(/"two" is not an iteration/);
    expect(parseRatingTaskForm(form({ limit: '2001' })).errors[0]?.field).toBe('limit');
    expect(parseRatingTaskForm(form({ limit: '1.5' })).errors[0]?.field).toBe('limit');
    expect(parseRatingTaskForm(form({ limit: '2000' })).errors).toEqual([]);
  });

  it('refuses comparing a source with itself, but allows one run at two iterations', () => {
    const same = parseRatingTaskForm(form({ bRun: 'run-a', bIteration: '' }));
    expect(same.errors).toEqual([{ field: 'b', message: expect.stringMatching(/same run at the same iteration/) }]);
    expect(parseRatingTaskForm(form({ bRun: 'run-a', bIteration: '0' })).errors).toEqual([]);
  });
});

describe('parseIteration', () => {
  it('reads latest, empty and whole numbers', () => {
    expect(parseIteration('latest')).toEqual({ ok: true, value: null });
    expect(parseIteration(' Latest ')).toEqual({ ok: true, value: null });
    expect(parseIteration('')).toEqual({ ok: true, value: null });
    expect(parseIteration('0')).toEqual({ ok: true, value: 0 });
    expect(parseIteration(' 12 ')).toEqual({ ok: true, value: 12 });
    for (const bad of ['-1', '1.5', 'x', '1e3']) expect(parseIteration(bad).ok).toBe(false);
  });
});

describe('formatWinRate / formatShare', () => {
  it('writes the rate and its interval as whole percentages', () => {
    expect(formatWinRate({ winRateA: 0.62, ciLow: 0.4812, ciHigh: 0.7449 })).toBe('62% [48–74]');
    expect(formatWinRate({ winRateA: 1, ciLow: 0.5655, ciHigh: 1 })).toBe('100% [57–100]');
    expect(formatWinRate({ winRateA: 0.5, ciLow: null, ciHigh: null })).toBe('50%');
    expect(formatWinRate({ winRateA: null, ciLow: null, ciHigh: null })).toBe('—');
  });
  it('writes shares', () => {
    expect(formatShare(0.125)).toBe('13%');
    expect(formatShare(0)).toBe('0%');
    expect(formatShare(null)).toBe('—');
  });
});
