/** Addition prompts shown in normal digit order beside gold and answers (renderer/src/task-display.ts). */
import { describe, expect, it } from 'vitest';
import { promptNote, readableQuestion } from '../../renderer/src/task-display';

describe('readableQuestion', () => {
  it('turns a reversed-digit addition prompt into the sum a person reads', () => {
    expect(readableQuestion('374+982:')).toBe('473 + 289');
    expect(readableQuestion('01+9:')).toBe('10 + 9'); // 10 is prompted as 01
    expect(readableQuestion('8+4(21):')).toBe('8 + 4, hint 12'); // a rationalization prompt
    expect(promptNote('374+982:')).toMatch(/374\+982: \(digits least significant first\)/);
  });
  it('leaves every other question as it is', () => {
    for (const q of ['Natalia sold clips to 48 of her friends…', '374+982', '3+4=?', 'Q: 12+3:']) expect(readableQuestion(q)).toBe(q);
    expect(promptNote('What is 2+2?')).toBeNull();
  });
});
