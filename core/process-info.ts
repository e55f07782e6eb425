/**
 * Process identity: a pid alone can be recycled, so a run is identified by its pid and the
 * pid's start time (field 22 of /proc/<pid>/stat, clock ticks since boot) on Linux.
 * Elsewhere only liveness is checked.
 */
import { readFileSync } from 'node:fs';

export interface ProcStat {
  state: string;
  ppid: number;
  pgrp: number;
  startTime: number;
}

/** Parse /proc/<pid>/stat; null where there is no /proc or no such process. */
export function readProcStat(pid: number): ProcStat | null {
  if (process.platform !== 'linux') return null;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid pgrp ..." — comm may contain spaces and parentheses.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field n is rest[n - 3].
  const state = rest[0];
  const ppid = Number(rest[4 - 3]);
  const pgrp = Number(rest[5 - 3]);
  const startTime = Number(rest[22 - 3]);
  if (!state || !Number.isFinite(startTime)) return null;
  return { state, ppid, pgrp, startTime };
}

/** The pid's start time (Linux), or null where unknown. */
export function pidStartTime(pid: number): number | null {
  return readProcStat(pid)?.startTime ?? null;
}

/** Is a process with this pid alive (zombies count as dead)? */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const st = readProcStat(pid);
  if (st && (st.state === 'Z' || st.state === 'X')) return false;
  return true;
}

/**
 * Is the process we recorded still the one running under this pid? With a recorded start
 * time (Linux) the current start time must match; without one, liveness is all we know.
 */
export function isSameProcess(pid: number | null, startTime: number | null): boolean {
  if (pid == null) return false;
  if (!isAlive(pid)) return false;
  if (startTime == null) return true;
  const now = pidStartTime(pid);
  if (now == null) return process.platform !== 'linux';
  return now === startTime;
}

/** Send a signal to a process group (negative pid); falls back to the single process. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  if (process.platform !== 'win32') {
    try {
      process.kill(-pid, signal);
      return true;
    } catch {
      // no such group: try the process itself
    }
  }
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}
