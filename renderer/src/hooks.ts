import { useCallback, useEffect, useRef, useState } from 'react';
import { getTransport } from './transport';

/** Current location hash without the leading '#', e.g. '/runs/abc'. */
export function useHashRoute(): string {
  const read = (): string => window.location.hash.replace(/^#/, '') || '/runs';
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = (): void => setRoute(read());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function navigate(path: string): void {
  window.location.hash = path;
}

/**
 * Subscribe to runsChanged, throttled: the callback runs at most once per `intervalMs`
 * (leading and trailing edge) with the union of the run ids seen since its last call.
 * An empty id list means "anything may have changed" (e.g. after a reconnect).
 */
export function useRunsChanged(cb: (ids: string[] | 'all') => void, intervalMs = 250): void {
  const cbRef = useRef(cb);
  cbRef.current = cb;
  useEffect(() => {
    let pending: Set<string> | 'all' | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let last = 0;
    const flush = (): void => {
      timer = null;
      last = Date.now();
      const ids = pending;
      pending = null;
      if (ids) cbRef.current(ids === 'all' ? 'all' : [...ids]);
    };
    const off = getTransport().on('runsChanged', (payload) => {
      const ids = Array.isArray(payload?.ids) ? payload.ids : [];
      if (ids.length === 0) pending = 'all';
      else if (pending !== 'all') {
        pending ??= new Set();
        for (const id of ids) pending.add(id);
      }
      if (timer) return;
      const wait = Math.max(0, last + intervalMs - Date.now());
      timer = setTimeout(flush, wait);
    });
    return () => {
      off();
      if (timer) clearTimeout(timer);
    };
  }, [intervalMs]);
}

export interface Live<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Load `fetcher()` now, again whenever `deps` change, and whenever reload() is called.
 * Never runs two fetches at once: a reload during a fetch runs once after it.
 */
export function useLive<T>(fetcher: () => Promise<T>, deps: unknown[]): Live<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;
  const state = useRef({ inFlight: false, again: false, gen: 0 });

  const run = useCallback(() => {
    const s = state.current;
    if (s.inFlight) {
      s.again = true;
      return;
    }
    s.inFlight = true;
    const gen = s.gen;
    fetcherRef
      .current()
      .then(
        (d) => {
          if (gen !== state.current.gen) return;
          setData(d);
          setError(null);
        },
        (err: unknown) => {
          if (gen !== state.current.gen) return;
          setError(err instanceof Error ? err.message : String(err));
        },
      )
      .finally(() => {
        s.inFlight = false;
        if (gen === state.current.gen) setLoading(false);
        if (s.again) {
          s.again = false;
          run();
        }
      });
  }, []);

  useEffect(() => {
    // New deps: forget what the old ones loaded.
    state.current = { inFlight: false, again: false, gen: state.current.gen + 1 };
    setData(undefined);
    setError(null);
    setLoading(true);
    run();
    // deps is the caller's dependency list, passed through as useEffect's own; the rule cannot see into it (run is stable)
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);

  return { data, error, loading, reload: run };
}

/** Date.now(), re-rendered every `ms` while `active`. */
export function useNow(active: boolean, ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [active, ms]);
  return now;
}

/** Run `cb` every `ms` while `active`. */
export function useInterval(cb: () => void, ms: number, active: boolean): void {
  const ref = useRef(cb);
  ref.current = cb;
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => ref.current(), ms);
    return () => clearInterval(t);
  }, [ms, active]);
}

export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/** Width of an element in CSS pixels, following resizes. */
export function useElementWidth<E extends HTMLElement>(): [(el: E | null) => void, number] {
  const [width, setWidth] = useState(0);
  const observer = useRef<ResizeObserver | null>(null);
  const ref = useCallback((el: E | null) => {
    observer.current?.disconnect();
    observer.current = null;
    if (!el) return;
    setWidth(Math.floor(el.getBoundingClientRect().width));
    observer.current = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width;
      if (w !== undefined) setWidth(Math.floor(w));
    });
    observer.current.observe(el);
  }, []);
  return [ref, width];
}

/**
 * Check `input` with the service as the user edits: `ms` after the last change `check` runs
 * (returning null means there is nothing to check yet: the result is cleared); an answer that
 * arrives after a newer check started is dropped. `stale`: the input changed since the last
 * check was started, so its result does not describe what is on screen.
 */
export function useCheckAsYouType<I, R>(
  input: I,
  check: (input: I) => Promise<R> | null,
  ms = 300,
): { result: R | null; checking: boolean; error: string | null; stale: boolean } {
  const debounced = useDebounced(input, ms);
  const [result, setResult] = useState<R | null>(null);
  const [checking, setChecking] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const seq = useRef(0);
  const checkRef = useRef(check);
  checkRef.current = check;
  useEffect(() => {
    const s = ++seq.current;
    const pending = checkRef.current(debounced);
    if (!pending) {
      setResult(null);
      setChecking(false);
      return;
    }
    setChecking(true);
    pending.then(
      (r) => {
        if (s !== seq.current) return;
        setResult(r);
        setChecking(false);
        setError(null);
      },
      (err: unknown) => {
        if (s !== seq.current) return;
        setResult(null);
        setChecking(false);
        setError((err as Error).message);
      },
    );
  }, [debounced]);
  return { result, checking, error, stale: debounced !== input };
}

/**
 * A button's action on a run (stop, resume): `pending` while it runs, `message` when the
 * service refused it or the call failed; `onDone` after an answer either way.
 */
export function useRunAction(
  action: () => Promise<{ ok: boolean; message: string }>,
  onDone: () => void,
): { pending: boolean; message: string | null; run: () => void } {
  const [pending, setPending] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const run = (): void => {
    setPending(true);
    setMessage(null);
    action()
      .then((r) => {
        if (!r.ok) setMessage(r.message);
        onDone();
      })
      .catch((err: unknown) => setMessage((err as Error).message))
      .finally(() => setPending(false));
  };
  return { pending, message, run };
}
