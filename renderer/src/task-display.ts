/**
 * Questions as a person reads them. The `addition` task gives the model its operands least
 * significant digit first (`473+289` is prompted as `374+982:`, experiments/starlab/tasks/
 * addition.py), while answers and gold are in normal order: shown side by side, `374+982:`
 * beside gold `762` reads as wrong arithmetic. The prompt stays one hover away.
 */

// the prompt, with the rationalization hint (the reversed answer in parentheses) when it was given
const REVERSED_SUM = /^(\d+)\+(\d+)(?:\((\d+)\))?:$/;

/** The question in normal digit order ("473 + 289", "473 + 289, hint 762") where it is an addition prompt; else as it is. */
export function readableQuestion(question: string): string {
  const m = REVERSED_SUM.exec(question.trim());
  if (!m) return question;
  const rev = (s: string) => String(Number([...s].reverse().join('')));
  return `${rev(m[1]!)} + ${rev(m[2]!)}${m[3] !== undefined ? `, hint ${rev(m[3])}` : ''}`;
}

/** Why the prompt differs from the readable question (the hover's text), or null when it does not. */
export function promptNote(question: string): string | null {
  return readableQuestion(question) === question ? null : `the model's prompt: ${question.trim()} (digits least significant first)`;
}
