/**
 * Word-level diff of two texts for the traces view (rationale A vs rationale B).
 *
 * Texts are cut into alternating runs of non-space and space characters, so the parts of a
 * diff join back into each text exactly: the 'equal' + 'del' parts give `a`, the 'equal' +
 * 'ins' parts give `b`. The diff is a longest-common-subsequence over those tokens after the
 * common prefix and suffix are cut off. The LCS table is quadratic, so when what is left is
 * too large (more than `maxCells` token pairs) it falls back to the same LCS over lines, and
 * when even that is too large, to "the middle was replaced" (one del, one ins).
 */

export type DiffOp = 'equal' | 'ins' | 'del';

export interface DiffPart {
  op: DiffOp;
  text: string;
}

/** 'words': word-level LCS; 'lines': line-level LCS (long texts); 'coarse': common prefix/suffix only. */
export type DiffMode = 'words' | 'lines' | 'coarse';

export interface DiffResult {
  parts: DiffPart[];
  mode: DiffMode;
}

export interface DiffOptions {
  /** The most token pairs the LCS table may hold (default 2000 × 2000). */
  maxCells?: number;
}

export const DEFAULT_MAX_CELLS = 2000 * 2000;

/** Runs of whitespace and runs of everything else, in order; tokens.join('') === text. */
export function tokenizeWords(text: string): string[] {
  return text.match(/\s+|\S+/g) ?? [];
}

/** Lines with their trailing newline (the last one may have none); lines.join('') === text. */
export function tokenizeLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+/g) ?? [];
}

/** LCS diff of two token arrays (small enough: n * m within the caller's limit). */
function lcsDiff(a: readonly string[], b: readonly string[]): DiffPart[] {
  const n = a.length;
  const m = b.length;
  // Tokens as integers, so the inner loop compares numbers, not strings.
  const ids = new Map<string, number>();
  const idOf = (t: string): number => {
    let id = ids.get(t);
    if (id === undefined) ids.set(t, (id = ids.size));
    return id;
  };
  const A = Int32Array.from(a, idOf);
  const B = Int32Array.from(b, idOf);
  // L[i*(m+1)+j] = LCS length of a[i..] and b[j..]; it never exceeds min(n, m), and the
  // caller's cell limit keeps min(n, m) far below 65536, so 16 bits suffice.
  const w = m + 1;
  const L = min(n, m) < 65536 ? new Uint16Array((n + 1) * w) : new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    const ai = A[i]!;
    const row = i * w;
    const next = row + w;
    for (let j = m - 1; j >= 0; j--) {
      L[row + j] = ai === B[j] ? L[next + j + 1]! + 1 : Math.max(L[next + j]!, L[row + j + 1]!);
    }
  }
  const out: DiffPart[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (A[i] === B[j]) {
      out.push({ op: 'equal', text: a[i]! });
      i++;
      j++;
    } else if (L[(i + 1) * w + j]! >= L[i * w + j + 1]!) {
      out.push({ op: 'del', text: a[i]! });
      i++;
    } else {
      out.push({ op: 'ins', text: b[j]! });
      j++;
    }
  }
  for (; i < n; i++) out.push({ op: 'del', text: a[i]! });
  for (; j < m; j++) out.push({ op: 'ins', text: b[j]! });
  return out;
}

function min(x: number, y: number): number {
  return x < y ? x : y;
}

/**
 * Joins runs of the same op and, inside each stretch of changes, puts the deletions before
 * the insertions (one red block, then one green block), dropping empty parts.
 */
export function normalizeParts(parts: readonly DiffPart[]): DiffPart[] {
  const out: DiffPart[] = [];
  let del = '';
  let ins = '';
  const flushChanges = (): void => {
    if (del) out.push({ op: 'del', text: del });
    if (ins) out.push({ op: 'ins', text: ins });
    del = '';
    ins = '';
  };
  for (const p of parts) {
    if (!p.text) continue;
    if (p.op === 'del') del += p.text;
    else if (p.op === 'ins') ins += p.text;
    else {
      flushChanges();
      const last = out[out.length - 1];
      if (last?.op === 'equal') last.text += p.text;
      else out.push({ op: 'equal', text: p.text });
    }
  }
  flushChanges();
  return out;
}

/** Diff of two texts, word by word where the remaining middle is small enough (see the module comment). */
export function diffWords(a: string, b: string, options: DiffOptions = {}): DiffResult {
  const maxCells = options.maxCells ?? DEFAULT_MAX_CELLS;
  if (!Number.isFinite(maxCells) || maxCells < 1) throw new RangeError(`diffWords: maxCells must be a positive number, got ${maxCells}`);
  const ta = tokenizeWords(a);
  const tb = tokenizeWords(b);
  let pre = 0;
  while (pre < ta.length && pre < tb.length && ta[pre] === tb[pre]) pre++;
  let suf = 0;
  while (suf < ta.length - pre && suf < tb.length - pre && ta[ta.length - 1 - suf] === tb[tb.length - 1 - suf]) suf++;
  const midA = ta.slice(pre, ta.length - suf);
  const midB = tb.slice(pre, tb.length - suf);
  const head: DiffPart = { op: 'equal', text: ta.slice(0, pre).join('') };
  const tail: DiffPart = { op: 'equal', text: ta.slice(ta.length - suf).join('') };

  let middle: DiffPart[];
  let mode: DiffMode = 'words';
  if (midA.length * midB.length <= maxCells) middle = lcsDiff(midA, midB);
  else {
    const la = tokenizeLines(midA.join(''));
    const lb = tokenizeLines(midB.join(''));
    if (la.length * lb.length <= maxCells && (la.length > 1 || lb.length > 1)) {
      mode = 'lines';
      middle = lcsDiff(la, lb);
    } else {
      mode = 'coarse';
      middle = [
        { op: 'del', text: midA.join('') },
        { op: 'ins', text: midB.join('') },
      ];
    }
  }
  return { parts: normalizeParts([head, ...middle, tail]), mode };
}

/** The text a diff was computed from on one side: 'a' (equal + del) or 'b' (equal + ins). */
export function sideText(parts: readonly DiffPart[], side: 'a' | 'b'): string {
  const skip: DiffOp = side === 'a' ? 'ins' : 'del';
  let s = '';
  for (const p of parts) if (p.op !== skip) s += p.text;
  return s;
}

/** Words (non-space tokens) inserted and deleted. */
export function diffStats(parts: readonly DiffPart[]): { inserted: number; deleted: number } {
  let inserted = 0;
  let deleted = 0;
  for (const p of parts) {
    if (p.op === 'equal') continue;
    const words = p.text.match(/\S+/g)?.length ?? 0;
    if (p.op === 'ins') inserted += words;
    else deleted += words;
  }
  return { inserted, deleted };
}

/** The most character pairs a replaced span is refined over (a scratchpad line against another). */
export const MAX_CHAR_CELLS = 400 * 400;

/**
 * A word diff refined to characters where a span was replaced: scratchpads and numbers are
 * single "words" (`374+982:3902;7816`), so a word diff marks the whole of them; refined, only
 * the digits that differ are marked. Each adjacent del + ins pair small enough
 * (MAX_CHAR_CELLS) is diffed character by character. `words` counts the word-level changes,
 * as diffStats does for the unrefined parts.
 */
export function diffChars(a: string, b: string, options: DiffOptions = {}): DiffResult & { words: { inserted: number; deleted: number } } {
  const d = diffWords(a, b, options);
  const words = diffStats(d.parts);
  const out: DiffPart[] = [];
  for (let i = 0; i < d.parts.length; i++) {
    const p = d.parts[i]!;
    const q = d.parts[i + 1];
    if (p.op === 'del' && q?.op === 'ins') {
      const ca = Array.from(p.text);
      const cb = Array.from(q.text);
      if (ca.length * cb.length <= MAX_CHAR_CELLS) {
        out.push(...lcsDiff(ca, cb));
        i++;
        continue;
      }
    }
    out.push(p);
  }
  return { parts: normalizeParts(out), mode: d.mode, words };
}
