/**
 * A run directory's files as the supervisor, the service and reindex read and write them:
 * ids, config.json, events.jsonl, the checkpoint's state.json, the tail of stderr.log.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants as fsConstants,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statfsSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../shared/canonical-json';
import type { ExperimentConfig } from '../shared/experiment-config';

/** The checkpoint format experiments/starlab/checkpoint.py writes (safetensors and JSON only). */
export const CHECKPOINT_FORMAT = 2;

/** Bytes of stderr.log kept with a failed run (its status reason's context). */
export const STDERR_TAIL_BYTES = 4096;

/** The run's log files are appended to, never through a symbolic link planted in their place. */
export const APPEND_NO_LINKS = fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | (fsConstants.O_NOFOLLOW ?? 0);

/** Below this much free space the run's disk counts as full in the status reason. */
export const DISK_FULL_BYTES = 1024 * 1024;

/**
 * A run directory's checkpoint (experiments/starlab/checkpoint.py): its iteration and format
 * (state.json's "format"; absent before format 2, which held pickles), or null when none.
 */
export function checkpointInfo(runDir: string): { iteration: number; format: number } | null {
  // checkpoint.old holds the previous one only if a crash fell between the two renames of a save
  for (const dir of ['checkpoint', 'checkpoint.old']) {
    try {
      const state = JSON.parse(readFileSync(join(runDir, dir, 'state.json'), 'utf8')) as { iteration?: unknown; format?: unknown };
      if (typeof state.iteration === 'number')
        return { iteration: state.iteration, format: typeof state.format === 'number' ? state.format : 1 };
    } catch {
      // not there (or unreadable): try the next
    }
  }
  return null;
}

/** The iteration of a run directory's checkpoint, or null. */
export function checkpointIteration(runDir: string): number | null {
  return checkpointInfo(runDir)?.iteration ?? null;
}

export function eventsPathOf(runDir: string): string {
  return join(runDir, 'events.jsonl');
}

/** Sortable run id: UTC yyyymmdd-hhmmss-xxxx. */
export function newRunId(date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp =
    `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}-` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`;
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

/** sha256 of the config's canonical JSON (shared/canonical-json.ts: the same text, hence the
 * same hash, as experiments/starlab/config.py config_hash). */
export function configHash(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

/** The run row's columns that come from its config (launch, enqueue and reindex write the same). */
export function configColumns(config: ExperimentConfig) {
  return {
    variant: config.variant,
    dataset: config.dataset,
    preset: config.preset,
    seed: config.seed,
    model: config.model.name,
    config_json: JSON.stringify(config),
    config_hash: configHash(config),
  };
}

/**
 * A new run directory under `runsDir` with artifacts/ and config.json, named by a fresh run
 * id that neither a directory nor (per `taken`) a database row has. Throws (leaving nothing)
 * when the directory or its config cannot be written.
 */
export function createRunDir(
  runsDir: string,
  config: ExperimentConfig,
  taken: (id: string) => boolean,
): { id: string; runDir: string; configPath: string } {
  let id = newRunId();
  while (existsSync(join(runsDir, id)) || taken(id)) id = newRunId();
  const runDir = join(runsDir, id);
  const configPath = join(runDir, 'config.json');
  try {
    mkdirSync(join(runDir, 'artifacts'), { recursive: true });
    writeConfigFile(configPath, config);
  } catch (e) {
    rmSync(runDir, { recursive: true, force: true }); // (a full disk): no directory without its config
    throw e;
  }
  return { id, runDir, configPath };
}

export function writeConfigFile(path: string, config: ExperimentConfig): void {
  writeFileSync(path, JSON.stringify(config, null, 2) + '\n');
}

/** The last `bytes` of a file as text (a partial first character dropped), or null. */
export function readTail(file: string, bytes = STDERR_TAIL_BYTES): string | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return null;
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    const n = readSync(fd, buf, 0, buf.length, start);
    let b = buf.subarray(0, n);
    if (start > 0) {
      let i = 0;
      while (i < b.length && i < 4 && (b[i]! & 0xc0) === 0x80) i++; // skip UTF-8 continuation bytes
      b = b.subarray(i);
    }
    return b.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Bytes available to this user on the file system holding dir (null when unknown). */
export function freeBytes(dir: string): number | null {
  try {
    const st = statfsSync(dir);
    return st.bavail * st.bsize;
  } catch {
    return null;
  }
}
