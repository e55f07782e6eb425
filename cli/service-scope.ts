/** Opening the service for one command, and finding the run a command names. */
import { resolveDataDir } from '../core/paths';
import { createService, type Service } from '../core/service';
import { err } from './io';

export function openService(dataDir: string | undefined): Service {
  return createService({ dataDir: resolveDataDir(dataDir), watch: false });
}

/**
 * Open the service (watching runs with `watch`: a command that runs or follows them), call
 * `body`, and close the service after, whatever happens.
 */
export async function withService<T>(
  dataDir: string | undefined,
  body: (service: Service) => T | Promise<T>,
  o: { watch?: boolean } = {},
): Promise<T> {
  const service = o.watch ? createService({ dataDir: resolveDataDir(dataDir), watch: true }) : openService(dataDir);
  try {
    return await body(service);
  } finally {
    service.close();
  }
}

/** An exact run id, or a unique prefix of one. */
export function resolveRunId(service: Service, arg: string): string | null {
  const runs = service.listRuns();
  if (runs.some((r) => r.id === arg)) return arg;
  const matches = runs.filter((r) => r.id.startsWith(arg));
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length > 1)
    err(
      `"${arg}" matches ${matches.length} runs: ${matches
        .slice(0, 5)
        .map((r) => r.id)
        .join(', ')}…`,
    );
  return null;
}

/**
 * Open the service, reconcile, and call `body` with the run `arg` names (an id or a unique
 * prefix); exit 1 naming it when there is none. The service is closed after.
 */
export async function withRun(
  dataDir: string | undefined,
  arg: string,
  body: (service: Service, id: string) => void | Promise<void>,
): Promise<void> {
  await withService(dataDir, async (service) => {
    service.reconcile();
    const id = resolveRunId(service, arg);
    if (!id) {
      err(`starlab: no run "${arg}"`);
      process.exitCode = 1;
      return;
    }
    await body(service, id);
  });
}
