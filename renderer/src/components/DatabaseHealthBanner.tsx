/**
 * A banner across every page when the database failed its integrity check (on open, or in
 * the background for a large file): the app then refuses to start runs, and the banner says
 * how to recover. Nothing is shown while the database is fine.
 */
import { useEffect, useState, type ReactElement } from 'react';
import type { DatabaseHealth } from '../../../shared/contract';
import { call, getTransport } from '../transport';

export function DatabaseHealthBanner(): ReactElement | null {
  const [health, setHealth] = useState<DatabaseHealth | null>(null);
  useEffect(() => {
    let live = true;
    const off = getTransport().on('databaseHealth', (h) => live && setHealth(h));
    call('getDatabaseHealth')
      .then((h) => live && setHealth((prev) => prev ?? h))
      .catch(() => undefined); // a service that failed to start shows its error on the page
    return () => {
      live = false;
      off();
    };
  }, []);
  if (health?.state !== 'damaged') return null;
  return (
    <div className="db-damaged" role="alert" data-testid="db-damaged">
      <strong>The database failed its integrity check; new runs are refused.</strong> {health.message}
    </div>
  );
}
