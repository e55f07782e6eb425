/**
 * A page's state kept in the location hash, so a view can be linked and survives a reload:
 * state -> URL with history.replaceState (no history entry per change), URL -> state when
 * someone else changes the hash (a link, the address bar, back/forward). The same pattern as
 * TracesPage's (which could use this hook too).
 */
import { useEffect, useRef, useState, type Dispatch, type SetStateAction } from 'react';

export interface HashCodec<T> {
  /** The location hash ('#/…') that shows `state`. */
  toHash: (state: T) => string;
  /** The state a location hash shows, or null when the hash is another page's. */
  fromHash: (hash: string) => T | null;
}

/**
 * `useState` whose value lives in the location hash. `initial` is read once (from the route
 * the page was opened with). The URL is written `writeDelayMs` after the last change (0: at
 * once), so a dragged slider or typing does not call replaceState at every event; a write
 * is dropped when the hash has meanwhile become another page's.
 */
export function useHashState<T>(initial: T | (() => T), codec: HashCodec<T>, writeDelayMs = 0): [T, Dispatch<SetStateAction<T>>] {
  const [state, setState] = useState<T>(initial);
  const codecRef = useRef(codec);
  codecRef.current = codec;
  /** The hash this page last wrote or read: its own change, not to be read back. */
  const written = useRef<string | null>(null);

  // ---- state -> URL (replace, not push)
  useEffect(() => {
    const write = (): void => {
      const c = codecRef.current;
      if (c.fromHash(window.location.hash) === null) return; // navigated to another page meanwhile
      const h = c.toHash(state);
      if (window.location.hash !== h) window.history.replaceState(window.history.state, '', h);
      written.current = window.location.hash;
    };
    if (writeDelayMs <= 0) {
      write();
      return;
    }
    const t = setTimeout(write, writeDelayMs);
    return () => clearTimeout(t);
  }, [state, writeDelayMs]);

  // ---- URL -> state, when the hash changes under the page
  useEffect(() => {
    const onHash = (): void => {
      const h = window.location.hash;
      if (h === written.current) return;
      const c = codecRef.current;
      const next = c.fromHash(h);
      if (next === null) return; // another page: the router takes it from here
      written.current = h;
      setState((prev) => (c.toHash(prev) === c.toHash(next) ? prev : next));
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  return [state, setState];
}
