/**
 * Types of the "look inside the runs" commands (issue 5): solve matrices, blind rationale
 * ratings, V-STaR verifier statistics and Quiet-STaR thoughts. The argument schemas live in
 * contract.ts with every other command; the shapes they return live here.
 */
import type { Scorer } from './catalogue';
import type { TraceFilter } from './contract';

// ---------------------------------------------------------------- solve matrix

/**
 * One cell of the solve matrix, a question at an iteration:
 *   S  solved (a correct sample without the hint)
 *   H  right only through the hint (rationalized)
 *   W  attempted, wrong
 *   .  no sample of the question at that iteration
 */
export type SolveCell = 'S' | 'H' | 'W' | '.';
export const SOLVE_SORTS = ['question', 'first-solved', 'solved-count', 'difficulty'] as const;
export type SolveSort = (typeof SOLVE_SORTS)[number];

export interface SolveMatrixQuery {
  split?: 'train' | 'eval';
  filter?: TraceFilter;
  difficulty?: number;
  /** Case-insensitive substring of the question text. */
  search?: string;
  sort?: SolveSort;
  descending?: boolean;
  limit?: number;
  offset?: number;
}

export interface SolveMatrixRow {
  questionId: string;
  /** The question's text (its first 300 characters), for the hover; null when no sample holds it. */
  question: string | null;
  split: string;
  difficulty: number | null;
  /** The first iteration it was solved at, or null. */
  firstSolved: number | null;
  /** Iterations it was solved at. */
  solvedCount: number;
  /** One SolveCell per entry of SolveMatrix.iterations. */
  cells: string;
}

export interface SolveMatrix {
  /** Every iteration with a sample of the split (the matrix's columns). */
  iterations: number[];
  /** Questions matching the query (rows over all pages). */
  total: number;
  rows: SolveMatrixRow[];
  /** Per iteration (same order as `iterations`), over the matching questions: how many cells of each kind. */
  counts: { solved: number; hinted: number; wrong: number }[];
}

// ---------------------------------------------------------------- blind ratings

/** Where the rationales of one side come from: a run at an iteration (null: each question's latest). */
export interface RatingSourceSpec {
  runId: string;
  iteration: number | null;
}

export interface RatingSource extends RatingSourceSpec {
  /** e.g. "star seed 0 · it 3" (shown only in summaries, never while rating). */
  label: string;
}

export interface RatingTaskSummary {
  id: number;
  name: string;
  rater: string;
  createdAt: number;
  a: RatingSource;
  b: RatingSource;
  split: 'train' | 'eval';
  items: number;
  rated: number;
}

export const RATING_CHOICES = ['left', 'right', 'both', 'neither'] as const;
export type RatingChoice = (typeof RATING_CHOICES)[number];

/** One blind pair: the two rationales in the task's fixed random order, with no origin. */
export interface RatingItem {
  taskId: number;
  /** 0-based position in the task. */
  position: number;
  total: number;
  rated: number;
  questionId: string;
  question: string;
  gold: string;
  /** correct: the answer matched gold (only such a side can be "right answer, flawed reasoning"). */
  left: { text: string; answer: string | null; correct: boolean };
  right: { text: string; answer: string | null; correct: boolean };
  /** The stored judgement, if this pair was rated before. */
  choice: RatingChoice | null;
  flagLeft: boolean;
  flagRight: boolean;
}

/** Summary for one pair of sources, from A's point of view. */
export interface RatingSummaryRow {
  a: string;
  b: string;
  /** The split compared: training and held-out ratings of the same two sources are separate rows. */
  split: 'train' | 'eval';
  /** Rated pairs. */
  n: number;
  winsA: number;
  winsB: number;
  /** Both equally good. */
  both: number;
  /** Neither acceptable. */
  neither: number;
  /** winsA / (winsA + winsB), null when no pair was decided. */
  winRateA: number | null;
  /** Wilson 95% interval of winRateA. */
  ciLow: number | null;
  ciHigh: number | null;
  /** Share of A's (B's) rated rationales flagged "right answer, flawed reasoning". */
  flaggedShareA: number | null;
  flaggedShareB: number | null;
  raters: string[];
}

// ---------------------------------------------------------------- V-STaR verifier

export interface VerifierStats {
  ok: true;
  /** Iterations with stored test-time candidates. */
  iterations: number[];
  iteration: number;
  scorer: Scorer;
  /** Histogram of the scorer's value over the iteration's candidates, right vs wrong. */
  bins: { lo: number; hi: number; right: number; wrong: number }[];
  right: { n: number; mean: number | null };
  wrong: { n: number; mean: number | null };
  /** Candidates of the iteration without this score (left out of every count). */
  unscored: number;
  /**
   * Per iteration: the share of (right, wrong) candidate pairs of the same question that the
   * scorer orders correctly (ties count half); null where no question has both.
   */
  pairAccuracy: { iteration: number; value: number | null; pairs: number }[];
}

export interface CandidateQuestion {
  questionId: string;
  question: string;
  gold: string;
  candidates: number;
  correct: number;
}

export interface RankedCandidate {
  rank: number;
  text: string;
  answer: string | null;
  correct: boolean;
  scores: Record<string, number> | null;
}

// ---------------------------------------------------------------- Quiet-STaR thoughts

/** One token of text with the thought sampled after it, its mixing weight and (training) reward. */
export interface ThoughtToken {
  token: string;
  thought: string;
  w: number | null;
  reward: number | null;
}

export interface ThoughtRow {
  /** Evaluation rows: the question and its outcome; training rows: the step and document snippet. */
  questionId: string | null;
  question: string | null;
  gold: string | null;
  correct: boolean | null;
  step: number | null;
  /** Training: the document window the thoughts were sampled on. */
  text?: string | null;
  /** Evaluation: the completion with thoughts, and the same model's without them. */
  completion?: string | null;
  baseCompletion?: string | null;
  baseCorrect?: boolean | null;
  tokens: ThoughtToken[];
}

export type ThoughtsResult =
  | {
      ok: true;
      source: 'eval' | 'train';
      iterations: number[];
      iteration: number;
      rows: ThoughtRow[];
      /** e.g. malformed lines skipped */ message?: string;
    }
  | { ok: false; message: string };
