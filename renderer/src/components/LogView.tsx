import { useCallback, useEffect, useLayoutEffect, useRef, useState, type ReactElement } from 'react';
import type { LogLine } from '../../../shared/contract';
import { call } from '../transport';
import { useInterval, useRunsChanged } from '../hooks';
import { formatClock } from '../format';

const MAX_LINES = 5000;
const PAGE = 1000;

/** Run logs, appended as they arrive (runsChanged + a poll while live), following the tail. */
export function LogView({ runId, live }: { runId: string; live: boolean }): ReactElement {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [dropped, setDropped] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const cursor = useRef({ runId, afterId: 0, busy: false, again: false });
  const box = useRef<HTMLDivElement | null>(null);
  const stick = useRef(true);

  const fetchMore = useCallback(async (): Promise<void> => {
    const c = cursor.current;
    if (c.busy) {
      c.again = true;
      return;
    }
    c.busy = true;
    try {
      for (let guard = 0; guard < 20; guard++) {
        const batch = await call('getLogs', c.runId, { afterId: c.afterId, limit: PAGE });
        if (cursor.current !== c) return;
        if (batch.length) {
          c.afterId = batch[batch.length - 1]!.id;
          setLines((old) => {
            const next = old.concat(batch);
            if (next.length <= MAX_LINES) return next;
            setDropped((d) => d + next.length - MAX_LINES);
            return next.slice(next.length - MAX_LINES);
          });
        }
        setError(null);
        if (batch.length < PAGE) break;
      }
    } catch (err) {
      if (cursor.current === c) setError((err as Error).message);
    } finally {
      c.busy = false;
      if (c.again && cursor.current === c) {
        c.again = false;
        void fetchMore();
      }
    }
  }, []);

  useEffect(() => {
    cursor.current = { runId, afterId: 0, busy: false, again: false };
    setLines([]);
    setDropped(0);
    stick.current = true;
    void fetchMore();
  }, [runId, fetchMore]);

  useRunsChanged((ids) => {
    if (ids === 'all' || ids.includes(runId)) void fetchMore();
  }, 500);
  useInterval(() => void fetchMore(), 2000, live);

  useLayoutEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  return (
    <div
      className="logs"
      data-testid="run-logs"
      data-lines={lines.length}
      ref={box}
      onScroll={(e) => {
        const el = e.currentTarget;
        stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
      }}
    >
      {dropped > 0 ? <div className="log-line muted">… {dropped} earlier lines not shown</div> : null}
      {lines.length === 0 ? <div className="muted">{error ? `Could not load logs: ${error}` : 'No log lines yet.'}</div> : null}
      {lines.map((l) => (
        <div key={l.id} className={`log-line log-${l.source} log-level-${l.level}`}>
          <span className="log-time">{formatClock(l.t)}</span>
          <span className="log-src">{l.source}</span>
          <span className="log-msg">{l.message}</span>
        </div>
      ))}
    </div>
  );
}
