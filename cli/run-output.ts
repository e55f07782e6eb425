/** How runs are printed: `show` (text and JSON), `list`, and the progress line while following one. */
import { runName } from '../shared/run-name';
import type { MetricPoint, RunDetail, RunSummary } from '../shared/contract';
import type { Service } from '../core/service';
import { transientDbError } from '../core/db-errors';
import { err, fmtNum, fmtTime, out } from './io';

/** Wait for a run to end (first Ctrl-C stops it, the second stops waiting), then print it. */
export async function waitAndShow(service: Service, id: string, json: boolean | undefined): Promise<void> {
  let interrupts = 0;
  const onInt = () => {
    interrupts++;
    if (interrupts === 1) {
      const s = service.stopRun(id);
      err(`${s.message} — press Ctrl-C again to stop waiting (the run keeps going)`);
    } else {
      err(`no longer waiting; the run continues (starlab show ${id})`);
      process.exit(130);
    }
  };
  process.on('SIGINT', onInt);
  // A lock held by another process or a full disk does not end the wait: say so once per cause
  // and keep following (the child's exit code is kept until it can be recorded).
  const onWait = (why: string) => err(`waiting: ${why}; the run goes on and is still followed (Ctrl-C stops it)`);
  const progress = json ? null : setInterval(() => reportProgress(service, id), 1000);
  let d: RunDetail | null;
  try {
    d = await service.waitForRun(id, { onWait });
  } finally {
    if (progress) clearInterval(progress);
    process.off('SIGINT', onInt);
  }
  if (!d) throw new Error(`run ${id} vanished`);
  out(json ? JSON.stringify(showObject(d, allMetricPoints(service, id)), null, 2) : showText(d));
  process.exitCode = d.status === 'completed' ? 0 : 1;
}

/**
 * Every point of every metric of a run, exact: getRun's metrics are bounded (downsampled past
 * 2,000 points a name), so `show --json` pages through getMetricPoints instead (local, no limit).
 */
export function allMetricPoints(service: Pick<Service, 'metricNames' | 'getMetricPoints'>, id: string): Record<string, MetricPoint[]> {
  const out: Record<string, MetricPoint[]> = {};
  for (const { name } of service.metricNames([id])) {
    const pts: MetricPoint[] = [];
    let after: { step: number; seq: number } | undefined;
    do {
      const page = service.getMetricPoints(id, { name, ...(after ? { after } : {}) });
      if (!page) break;
      pts.push(...page.points);
      after = page.next ?? undefined;
    } while (after);
    out[name] = pts;
  }
  return out;
}

/** The object `show --json` prints; `metrics`: every point (allMetricPoints), else the detail's (bounded) ones. */
export function showObject(d: RunDetail, allPoints: Record<string, MetricPoint[]> = d.metrics) {
  const metrics: Record<string, { iteration: number; step: number; value: number }[]> = {};
  for (const [name, pts] of Object.entries(allPoints))
    metrics[name] = pts.map((p) => ({ iteration: p.iteration, step: p.step, value: p.value }));
  const end = d.endedAt ?? (d.status === 'running' ? Date.now() / 1000 : null);
  return {
    id: d.id,
    status: d.status,
    statusReason: d.statusReason,
    variant: d.variant,
    dataset: d.dataset,
    preset: d.preset,
    seed: d.seed,
    model: d.model,
    config: d.config,
    configHash: d.configHash,
    metrics,
    latestAccuracy: d.latestAccuracy,
    createdAt: d.createdAt,
    startedAt: d.startedAt,
    endedAt: d.endedAt,
    durationS: d.startedAt != null && end != null ? Math.round((end - d.startedAt) * 1000) / 1000 : null,
    currentIteration: d.currentIteration,
    currentPhase: d.currentPhase,
    progressDone: d.progressDone,
    progressTotal: d.progressTotal,
    phases: d.phases,
    artifacts: d.artifacts,
    env: d.env,
    hashes: d.hashes,
    runDir: d.runDir,
    pid: d.pid,
    executor: d.executor,
    jobId: d.jobId,
    exitCode: d.exitCode,
    signal: d.signal,
    stderrTail: d.stderrTail,
    malformedLines: d.malformedLines,
    unknownEvents: d.unknownEvents,
  };
}

export function showText(d: RunDetail): string {
  const o = showObject(d);
  const lines = [
    `run        ${o.id}`,
    `status     ${o.status}${o.statusReason ? ` (${o.statusReason})` : ''}`,
    `experiment ${o.variant} / ${o.dataset} / ${o.preset}  seed ${o.seed}  model ${o.model}`,
    `created    ${fmtTime(o.createdAt)}   started ${fmtTime(o.startedAt)}   ended ${fmtTime(o.endedAt)}   duration ${o.durationS == null ? '-' : `${o.durationS.toFixed(1)} s`}`,
  ];
  if (o.status === 'running')
    lines.push(
      `position   iteration ${o.currentIteration ?? '-'} ${o.currentPhase ?? ''} ${o.progressTotal ? `${o.progressDone}/${o.progressTotal}` : ''}`.trimEnd(),
    );
  lines.push(`run dir    ${o.runDir}`);
  if (o.executor === 'slurm') lines.push(`slurm job  ${o.jobId ?? 'not submitted'}`);
  if (o.malformedLines || o.unknownEvents) lines.push(`ingest     ${o.malformedLines} malformed lines, ${o.unknownEvents} unknown events`);
  const names = Object.keys(o.metrics);
  if (names.length) {
    lines.push('metrics');
    const w = Math.max(...names.map((n) => n.length));
    for (const n of names) {
      const pts = o.metrics[n]!;
      const last = pts[pts.length - 1]!;
      lines.push(
        `  ${n.padEnd(w)}  ${fmtNum(last.value)}  (iteration ${last.iteration}, step ${last.step}; ${d.metricCounts?.[n] ?? pts.length} points)`,
      );
    }
    if (d.metricNamesOmitted) lines.push(`  … and ${d.metricNamesOmitted} more metrics (show --json prints them all)`);
  }
  if (o.artifacts.length) {
    lines.push('artifacts');
    for (const a of o.artifacts) lines.push(`  ${a.name} (${a.kind}) ${a.path}`);
  }
  if (o.stderrTail && o.status !== 'completed') {
    lines.push('stderr (tail)');
    const tail = o.stderrTail.trimEnd().split('\n').slice(-15);
    for (const l of tail) lines.push(`  ${l}`);
  }
  return lines.join('\n');
}

export function listText(runs: RunSummary[]): string {
  if (!runs.length) return 'no runs';
  const rows = [
    ['ID', 'NAME', 'STATUS', 'VARIANT', 'DATASET', 'PRESET', 'SEED', 'ACCURACY', 'PROGRESS', 'CREATED', 'TAGS'],
    ...runs.map((r) => [
      r.id,
      runName(r),
      r.status,
      r.variant,
      r.dataset,
      r.preset,
      String(r.seed),
      fmtNum(r.latestAccuracy),
      r.status === 'running' ? `it ${r.currentIteration ?? '-'} ${r.currentPhase ?? ''}`.trim() : '',
      fmtTime(r.createdAt),
      r.tags.join(','),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

let lastProgress = '';
export function reportProgress(service: Service, id: string): void {
  let r: RunSummary | undefined;
  try {
    r = service.listRuns().find((x) => x.id === id);
  } catch (e) {
    // locked or full: the follower waits it out and says so; a progress line can wait too
    const why = transientDbError(e);
    if (why === null) throw e;
    return;
  }
  if (!r || r.status !== 'running') return;
  const line = `iteration ${r.currentIteration ?? '-'} ${r.currentPhase ?? ''}${r.progressTotal ? ` ${r.progressDone}/${r.progressTotal}` : ''}${
    r.latestAccuracy != null ? `  eval/accuracy ${fmtNum(r.latestAccuracy)}` : ''
  }`;
  if (line !== lastProgress) err(line);
  lastProgress = line;
}
