/** The unblinded export of blind ratings: one CSV row per rating, sources by label, both rationales. */
import type { DB } from './open';
import type { RatingChoice } from '../shared/analysis';
import { unblindChoice } from '../shared/rating-stats';

/** A plain decimal number: a spreadsheet reads it as a number, never as a formula. */
const PLAIN_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * One RFC 4180 field. Formula injection: a spreadsheet runs a cell that starts with = + - @
 * (or tab / CR) as a formula, and rationales are model output, so such a cell gets a leading
 * apostrophe (OWASP "CSV injection"). Plain numbers such as "-3" are left alone: they cannot
 * be formulas and answers must stay comparable to the gold.
 */
export function csvCell(v: string | number | null): string {
  if (v === null) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s) && !PLAIN_NUMBER.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

export const RATINGS_CSV_HEADER = [
  'task_id',
  'task_name',
  'rater',
  'position',
  'question_id',
  'source_a',
  'source_b',
  'a_shown_on',
  'choice',
  'flag_a',
  'flag_b',
  'rated_at',
  'question',
  'gold',
  'a_iteration',
  'a_answer',
  'a_correct',
  'a_via_hint',
  'a_text',
  'b_iteration',
  'b_answer',
  'b_correct',
  'b_via_hint',
  'b_text',
] as const;

/**
 * Every rating (or one task's), unblinded: the sources by label, which side A was shown on,
 * the choice as a / b / both / neither, the flags per source, both rationales. CRLF line ends.
 */
export function ratingsCsv(db: DB, taskId?: number): string {
  const rows = db
    .prepare(
      `SELECT t.id AS task_id, t.name, r.rater, i.position, i.question_id, t.a_label, t.b_label, i.a_left, r.choice,
              r.flag_left, r.flag_right, r.rated_at, i.question, i.gold,
              i.a_iteration, i.a_answer, i.a_correct, i.a_hint_used, i.a_text,
              i.b_iteration, i.b_answer, i.b_correct, i.b_hint_used, i.b_text
       FROM ratings r JOIN rating_items i ON i.task_id = r.task_id AND i.position = r.position
       JOIN rating_tasks t ON t.id = r.task_id
       ${taskId === undefined ? '' : 'WHERE t.id = @task'}
       ORDER BY t.id, i.position`,
    )
    .all({ task: taskId }) as {
    task_id: number;
    name: string;
    rater: string;
    position: number;
    question_id: string;
    a_label: string;
    b_label: string;
    a_left: number;
    choice: RatingChoice;
    flag_left: number;
    flag_right: number;
    rated_at: number;
    question: string;
    gold: string;
    a_iteration: number;
    a_answer: string | null;
    a_correct: number;
    a_hint_used: number;
    a_text: string;
    b_iteration: number;
    b_answer: string | null;
    b_correct: number;
    b_hint_used: number;
    b_text: string;
  }[];
  const lines = [RATINGS_CSV_HEADER.join(',')];
  for (const r of rows) {
    const aLeft = r.a_left === 1;
    const cells: (string | number | null)[] = [
      r.task_id,
      r.name,
      r.rater,
      r.position,
      r.question_id,
      r.a_label,
      r.b_label,
      aLeft ? 'left' : 'right',
      unblindChoice(r.choice, aLeft),
      aLeft ? r.flag_left : r.flag_right,
      aLeft ? r.flag_right : r.flag_left,
      new Date(r.rated_at * 1000).toISOString(),
      r.question,
      r.gold,
      r.a_iteration,
      r.a_answer,
      r.a_correct,
      r.a_hint_used,
      r.a_text,
      r.b_iteration,
      r.b_answer,
      r.b_correct,
      r.b_hint_used,
      r.b_text,
    ];
    lines.push(cells.map(csvCell).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}
