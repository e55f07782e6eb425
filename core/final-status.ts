/**
 * How a run ended, decided once its process is gone: the experiment's own run_end event
 * first, then a stop request, then the exit. Pure (the supervisor reads the row and writes
 * the result).
 */

export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

export type FinalStatus = 'completed' | 'failed' | 'stopped';

/** "killed by SIGKILL" / "exited with code 1", or null when the exit is unknown. */
export function describeExit(exit: ExitInfo | null | undefined): string | null {
  if (!exit) return null;
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

export interface FinalStatusInput {
  /** The run_end event's status, if one was ingested. */
  endStatus: string | null;
  /** The run_end event's error. */
  endError: string | null;
  stopRequested: boolean;
  /** The process's exit, when known (reported by its parent or recorded on the row). */
  exit: ExitInfo | null | undefined;
  /** What happened to the events file (no event, a torn line, a full disk…), appended to the reason. */
  notes: string[];
}

export interface FinalStatusDecision {
  status: FinalStatus;
  reason: string | null;
  /** Worth a warning in the run's log: run_end said completed but the process did not exit cleanly. */
  warning: string | null;
}

export function decideFinalStatus(i: FinalStatusInput): FinalStatusDecision {
  const exitDesc = describeExit(i.exit);
  let status: FinalStatus;
  let reason: string | null;
  let warning: string | null = null;
  if (i.endStatus === 'completed' || i.endStatus === 'failed' || i.endStatus === 'stopped') {
    status = i.endStatus;
    reason =
      status === 'completed'
        ? null
        : (i.endError ??
          (status === 'stopped' ? (i.stopRequested ? 'stopped by user' : 'stopped') : (exitDesc ?? 'the experiment reported failure')));
    if (status === 'completed' && i.exit && (i.exit.code !== 0 || i.exit.signal))
      warning = `run_end reported completed but the process ${exitDesc}`;
  } else if (i.stopRequested) {
    status = 'stopped';
    reason = `stopped by user${exitDesc ? ` (${exitDesc})` : ''}`;
  } else {
    status = 'failed';
    reason = exitDesc
      ? i.exit!.code === 0
        ? 'exited with code 0 without a run_end event'
        : exitDesc
      : 'process disappeared without a run_end event';
  }
  if (i.notes.length) reason = reason ? `${reason}; ${i.notes.join('; ')}` : i.notes.join('; ');
  return { status, reason, warning };
}
