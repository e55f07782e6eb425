import { describe, expect, it } from 'vitest';
import {
  diffStats,
  diffWords,
  normalizeParts,
  sideText,
  tokenizeLines,
  tokenizeWords,
  type DiffPart,
  diffChars,
} from '../../renderer/src/text-diff';

/** Small deterministic PRNG (mulberry32), so a failing case can be reproduced. */
function rng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r ^= r + Math.imul(r ^ (r >>> 7), 61 | r);
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

function randomText(rand: () => number, pieces: readonly string[], maxLen: number): string {
  const n = Math.floor(rand() * maxLen);
  let s = '';
  for (let i = 0; i < n; i++) s += pieces[Math.floor(rand() * pieces.length)]!;
  return s;
}

/** Textbook LCS length over tokens, written independently of the module's table. */
function lcsLength(a: string[], b: string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const cur = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    prev = cur;
  }
  return prev[b.length]!;
}

function checkShape(parts: DiffPart[]): void {
  for (const p of parts) expect(p.text.length).toBeGreaterThan(0);
  for (let i = 1; i < parts.length; i++) {
    expect(parts[i]!.op === parts[i - 1]!.op).toBe(false);
    // inside a stretch of changes the deletion comes first
    expect(parts[i - 1]!.op === 'ins' && parts[i]!.op === 'del').toBe(false);
  }
}

describe('tokenize', () => {
  it('keeps every character', () => {
    expect(tokenizeWords('  a bb\n\tc ')).toEqual(['  ', 'a', ' ', 'bb', '\n\t', 'c', ' ']);
    expect(tokenizeWords('')).toEqual([]);
    expect(tokenizeLines('x\n\ny')).toEqual(['x\n', '\n', 'y']);
    expect(tokenizeLines('x\n')).toEqual(['x\n']);
  });
});

describe('diffWords', () => {
  it('marks a replaced word', () => {
    expect(diffWords('the cat sat', 'the dog sat')).toEqual({
      mode: 'words',
      parts: [
        { op: 'equal', text: 'the ' },
        { op: 'del', text: 'cat' },
        { op: 'ins', text: 'dog' },
        { op: 'equal', text: ' sat' },
      ],
    });
  });

  it('marks an inserted and a deleted word', () => {
    expect(diffWords('a c', 'a b c').parts).toEqual([
      { op: 'equal', text: 'a ' },
      { op: 'ins', text: 'b ' },
      { op: 'equal', text: 'c' },
    ]);
    expect(diffWords('1 + 2 = 3 so 3', '1 + 2 = 3').parts).toEqual([
      { op: 'equal', text: '1 + 2 = 3' },
      { op: 'del', text: ' so 3' },
    ]);
  });

  it('keeps common words between two changes', () => {
    const { parts } = diffWords('x carry the one y', 'z carry the two y');
    expect(parts).toEqual([
      { op: 'del', text: 'x' },
      { op: 'ins', text: 'z' },
      { op: 'equal', text: ' carry the ' },
      { op: 'del', text: 'one' },
      { op: 'ins', text: 'two' },
      { op: 'equal', text: ' y' },
    ]);
    expect(diffStats(parts)).toEqual({ inserted: 2, deleted: 2 });
  });

  it('handles empty and identical texts', () => {
    expect(diffWords('', '').parts).toEqual([]);
    expect(diffWords('', 'x y').parts).toEqual([{ op: 'ins', text: 'x y' }]);
    expect(diffWords('x y', '').parts).toEqual([{ op: 'del', text: 'x y' }]);
    expect(diffWords('same  text\n', 'same  text\n').parts).toEqual([{ op: 'equal', text: 'same  text\n' }]);
  });

  it('reconstructs both texts and keeps a longest common subsequence (random texts)', () => {
    const rand = rng(12345);
    const pieces = ['a', 'b', 'c', 'ab', ' ', '  ', '\n', 'x\n', '7'];
    for (let k = 0; k < 400; k++) {
      const a = randomText(rand, pieces, 30);
      const b = rand() < 0.3 ? a + randomText(rand, pieces, 5) : randomText(rand, pieces, 30);
      const { parts, mode } = diffWords(a, b);
      expect(mode).toBe('words');
      expect(sideText(parts, 'a')).toBe(a);
      expect(sideText(parts, 'b')).toBe(b);
      checkShape(parts);
      // the equal tokens are as many as the LCS of the token lists allows
      const equalTokens = parts.filter((p) => p.op === 'equal').reduce((n, p) => n + tokenizeWords(p.text).length, 0);
      expect(equalTokens).toBeGreaterThanOrEqual(lcsLength(tokenizeWords(a), tokenizeWords(b)));
    }
  });

  it('falls back to a line diff for long texts, and still reconstructs them', () => {
    const rand = rng(7);
    const line = (i: number): string => `step ${i}: ${Math.floor(rand() * 1000)} plus ${i} is something\n`;
    const lines = Array.from({ length: 400 }, (_, i) => line(i));
    const a = ['first A\n', ...lines, 'last A\n'].join('');
    const changed = [...lines];
    changed[200] = 'a replaced line\n';
    changed.splice(100, 1);
    const b = ['first B\n', ...changed, 'last B\n'].join('');
    expect(tokenizeWords(a).length).toBeGreaterThan(2000);
    const { parts, mode } = diffWords(a, b);
    expect(mode).toBe('lines');
    // the common word prefix ("first ") and suffix ("\n") are cut before the lines are split
    expect(parts[0]).toEqual({ op: 'equal', text: 'first ' });
    expect(sideText(parts, 'a')).toBe(a);
    expect(sideText(parts, 'b')).toBe(b);
    checkShape(parts);
    expect(parts.filter((p) => p.op === 'del').map((p) => p.text)).toEqual(['A\n', lines[100], lines[200], 'last A']);
    expect(parts.filter((p) => p.op === 'ins').map((p) => p.text)).toEqual(['B\n', 'a replaced line\n', 'last B']);
  });

  it('falls back to prefix/suffix for a long text without lines', () => {
    const words = (tag: string, n: number): string => Array.from({ length: n }, (_, i) => `${tag}${i % 97}`).join(' ');
    const a = `start ${words('p', 3000)} end`;
    const b = `start ${words('q', 3000)} end`;
    const { parts, mode } = diffWords(a, b);
    expect(mode).toBe('coarse');
    expect(parts).toEqual([
      { op: 'equal', text: 'start ' },
      { op: 'del', text: words('p', 3000) },
      { op: 'ins', text: words('q', 3000) },
      { op: 'equal', text: ' end' },
    ]);
  });

  it('keeps word mode for long texts that differ in a small middle', () => {
    const body = Array.from({ length: 5000 }, (_, i) => `w${i}`).join(' ');
    const { parts, mode } = diffWords(`${body} old ${body}`, `${body} new ${body}`);
    expect(mode).toBe('words');
    expect(parts.map((p) => p.op)).toEqual(['equal', 'del', 'ins', 'equal']);
    expect(parts[1]!.text).toBe('old');
    expect(parts[2]!.text).toBe('new');
  });

  it('honours a smaller cell limit and rejects a bad one', () => {
    expect(diffWords('a b c', 'c b a', { maxCells: 4 }).mode).toBe('coarse');
    expect(() => diffWords('a', 'b', { maxCells: 0 })).toThrow(/maxCells/);
  });
});

describe('normalizeParts', () => {
  it('joins runs and puts deletions before insertions', () => {
    expect(
      normalizeParts([
        { op: 'equal', text: 'a' },
        { op: 'equal', text: ' ' },
        { op: 'ins', text: 'x' },
        { op: 'del', text: 'y' },
        { op: 'ins', text: '' },
        { op: 'ins', text: 'z' },
        { op: 'equal', text: 'b' },
      ]),
    ).toEqual([
      { op: 'equal', text: 'a ' },
      { op: 'del', text: 'y' },
      { op: 'ins', text: 'xz' },
      { op: 'equal', text: 'b' },
    ]);
  });
});

describe('diffChars (scratchpads and numbers)', () => {
  it('marks only the characters that differ inside a replaced word', () => {
    const a = 'Answer: 374+982:3902;7816;4217;=267';
    const b = 'Answer: 374+982:3912;7816;4217;=277';
    const d = diffChars(a, b);
    expect(sideText(d.parts, 'a')).toBe(a);
    expect(sideText(d.parts, 'b')).toBe(b);
    expect(d.parts.filter((p) => p.op === 'del').map((p) => p.text)).toEqual(['0', '6']);
    expect(d.parts.filter((p) => p.op === 'ins').map((p) => p.text)).toEqual(['1', '7']);
    expect(d.words).toEqual({ inserted: 1, deleted: 1 }); // one word changed, as the word diff counts it
  });
  it('leaves spans too long to refine as words, and keeps equal texts equal', () => {
    const long = 'x'.repeat(500);
    const d = diffChars(`a ${long}`, `a ${long.replace(/x$/, 'y')}`);
    expect(d.parts.some((p) => p.op === 'del' && p.text.length === 500)).toBe(true);
    expect(diffChars('same text', 'same text').parts).toEqual([{ op: 'equal', text: 'same text' }]);
  });
});
