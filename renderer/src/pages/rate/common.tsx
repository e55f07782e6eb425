/** Pieces the rating screens share: the remembered rater name, key caps, error text. */
import { type ReactElement, type ReactNode } from 'react';

export const RATER_KEY = 'starlab.rater';

export function loadRater(): string {
  try {
    return window.localStorage.getItem(RATER_KEY) ?? '';
  } catch {
    return '';
  }
}

export function storeRater(name: string): void {
  try {
    if (name && window.localStorage.getItem(RATER_KEY) !== name) window.localStorage.setItem(RATER_KEY, name);
  } catch {
    // storage unavailable (private mode): the name is simply not remembered
  }
}

export const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

// ---------------------------------------------------------------- shared pieces

export function Key({ children }: { children: ReactNode }): ReactElement {
  return <kbd className="rate-key">{children}</kbd>;
}

/** The summary rows; `taskLabels` (one per row) adds a leading task column for per-task summaries. */
