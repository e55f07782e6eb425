/**
 * The run page's account of what ingest could not interpret or would not apply: malformed
 * lines (skipped), events of an unknown type or a newer protocol version (kept, not
 * interpreted) and events kept but not applied (after run_end, another run's run_start, a seq
 * repeated with other content). The counts come with the run; the lines load when the note is
 * opened.
 */
import { useState, type ReactElement } from 'react';
import type { EventIssues, RunDetail } from '../../../shared/contract';
import { call } from '../transport';

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

export function EventIssuesNote({ run }: { run: RunDetail }): ReactElement | null {
  const [issues, setIssues] = useState<EventIssues | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (run.malformedLines === 0 && run.unknownEvents === 0 && run.ignoredEvents === 0) return null;

  const load = (): void => {
    call('getEventIssues', run.id)
      .then((r) => ('ok' in r ? setError(r.message) : setIssues(r)))
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  };

  return (
    <details className="warning-note" data-testid="run-warnings" onToggle={(e) => (e.currentTarget.open && !issues ? load() : undefined)}>
      <summary>
        {run.malformedLines > 0 ? `${plural(run.malformedLines, 'malformed event line')} skipped. ` : ''}
        {run.unknownEvents > 0 ? `${plural(run.unknownEvents, 'event')} of an unknown type or version kept but not interpreted. ` : ''}
        {run.ignoredEvents > 0
          ? `${plural(run.ignoredEvents, 'event line')} kept but not applied (after the run ended, from another run, or repeating a seq).`
          : ''}
      </summary>
      {error ? <p className="error">{error}</p> : null}
      {issues ? (
        <div className="event-issues" data-testid="event-issues">
          {issues.unknownKinds.length ? (
            <p>
              Kept:{' '}
              {issues.unknownKinds
                .map((k) => `${k.count} × "${k.type}"${k.version !== null ? ` (protocol v${k.version})` : ''}`)
                .join(', ')}
              . A newer STaR Lab may interpret them; they stay in the database.
            </p>
          ) : null}
          {issues.malformed.length ? (
            <table className="data">
              <thead>
                <tr>
                  <th>line</th>
                  <th>why skipped</th>
                  <th>text</th>
                </tr>
              </thead>
              <tbody>
                {issues.malformed.map((m) => (
                  <tr key={m.lineNo}>
                    <td>{m.lineNo}</td>
                    <td>{m.reason}</td>
                    <td>
                      <code>{m.text}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          {issues.malformedTotal > issues.malformed.length ? (
            <p>… and {issues.malformedTotal - issues.malformed.length} more malformed lines.</p>
          ) : null}
          {issues.unknown.length ? (
            <table className="data">
              <thead>
                <tr>
                  <th>seq</th>
                  <th>type</th>
                  <th>event</th>
                </tr>
              </thead>
              <tbody>
                {issues.unknown.map((u) => (
                  <tr key={u.seq}>
                    <td>{u.seq}</td>
                    <td>{u.type}</td>
                    <td>
                      <code>{u.raw}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          {issues.unknownTotal > issues.unknown.length ? (
            <p>… and {issues.unknownTotal - issues.unknown.length} more kept events.</p>
          ) : null}
          {issues.ignored.length ? (
            <table className="data" data-testid="ignored-events">
              <thead>
                <tr>
                  <th>seq / line</th>
                  <th>why not applied</th>
                  <th>event</th>
                </tr>
              </thead>
              <tbody>
                {issues.ignored.map((g) => (
                  <tr key={g.seq !== null ? `s${g.seq}` : `l${g.lineNo}`}>
                    <td>{g.seq !== null ? `seq ${g.seq}` : `line ${g.lineNo}`}</td>
                    <td>{g.reason}</td>
                    <td>
                      <code>{g.raw}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          {issues.ignoredTotal > issues.ignored.length ? (
            <p>… and {issues.ignoredTotal - issues.ignored.length} more events not applied.</p>
          ) : null}
        </div>
      ) : null}
    </details>
  );
}
