/**
 * The run page and the verifier panel after their split into modules (issue 15): each part still
 * renders its test ids; no React component file is over 400 lines, no core/cli/db/server/electron
 * module over 500.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunDetail } from '../../shared/contract';
import { runSummary } from '../fixtures/helpers';

const ROOT = new URL('../../', import.meta.url).pathname;
const RENDERER_SRC = join(ROOT, 'renderer/src/');

// a computed specifier: the node tsconfig (no jsx) does not follow it into the .tsx modules
const load = async <T>(path: string): Promise<T> =>
  (await import(/* @vite-ignore */ new URL(`../../renderer/src/${path}`, import.meta.url).pathname)) as T;

type Component = (props: never) => unknown;

async function render(component: Component, props: object): Promise<string> {
  const { createElement } = await import('react');
  const { renderToString } = await import('react-dom/server');
  return renderToString(createElement(component as never, props as never));
}

function run(over: Partial<RunDetail> = {}): RunDetail {
  const pt = (iteration: number, value: number) => ({ iteration, step: iteration, value, t: 1_700_000_000_000 + iteration });
  return {
    ...runSummary({
      groupId: 'g1',
      status: 'failed',
      statusReason: 'the experiment exited with code 1',
      dataset: 'gsm8k',
      model: 'tiny-model',
      seed: 3,
      createdAt: 1_700_000_000_000,
      startedAt: 1_700_000_000_000,
      endedAt: 1_700_000_060_000,
      latestAccuracy: 0.5,
      currentIteration: 2,
    }),
    groupName: null,
    config: { loop: { iterations: 4 } },
    configHash: 'abc123',
    env: { python: '3.12' },
    hashes: { dataset: 'def456' },
    runDir: '/data/runs/r1',
    pid: null,
    executor: 'local',
    jobId: null,
    exitCode: 1,
    signal: null,
    stderrTail: 'Traceback …',
    lastEventAt: null,
    metrics: { 'eval/accuracy': [pt(0, 0.25), pt(1, 0.5)], 'train/loss': [pt(1, 2), pt(2, 1.5)], 'custom/thing': [pt(2, 7)] },
    metricsDownsampled: false,
    metricCounts: { 'eval/accuracy': 2, 'train/loss': 2, 'custom/thing': 1 },
    metricNamesOmitted: 0,
    phases: [{ iteration: 1, phase: 'generate', startedAt: 1_700_000_000_000, endedAt: 1_700_000_010_000, durationS: 10 }],
    artifacts: [{ name: 'model', kind: 'checkpoint', path: 'ckpt/1', size: 2048, iteration: 1 }],
    checkpointIteration: 1,
    ...over,
  };
}

describe('run page parts', () => {
  it('the header shows the run, its facts, why it ended and the resume button', async () => {
    const { RunHeader } = await load<{ RunHeader: Component }>('pages/run/header.tsx');
    const html = await render(RunHeader, { run: run(), now: Date.now(), live: false, onChanged: () => undefined });
    for (const id of [
      'run-status',
      'open-traces',
      'resume-button',
      'run-accuracy',
      'run-duration',
      'run-checkpoint',
      'status-reason',
      'stderr-tail',
    ]) {
      expect(html, id).toContain(`data-testid="${id}"`);
    }
    expect(html).not.toContain('data-testid="stop-button"');
    // started to ended: a minute
    expect(html).toMatch(/data-testid="run-duration"[^>]*>1m 00s</);
  });

  it('progress, accuracy, training metrics, artifacts and config keep their test ids', async () => {
    const progress = await load<{
      IterationProgress: Component;
      PhaseTable: Component;
      AccuracyChart: Component;
      accuracyTitle: (r: RunDetail) => string;
    }>('pages/run/progress.tsx');
    const { TrainMetrics } = await load<{ TrainMetrics: Component }>('pages/run/training-panel.tsx');
    const details = await load<{ Artifacts: Component; RunConfig: Component; SamplesPanel: Component }>('pages/run/details.tsx');
    const r = run();
    expect(await render(progress.IterationProgress, { run: r })).toContain('data-total="4"');
    expect(await render(progress.PhaseTable, { phases: r.phases, until: null })).toContain('data-testid="phase-table"');
    expect(await render(progress.AccuracyChart, { run: r })).toContain('data-testid="accuracy-chart"');
    expect(progress.accuracyTitle(r)).toBe('Evaluation accuracy by iteration');
    const training = await render(TrainMetrics, { run: r });
    expect(training).toContain('data-testid="metric-group-training"');
    expect(training).toContain('data-testid="other-metrics"');
    expect(training).toContain('custom/thing');
    expect(await render(details.Artifacts, { run: r })).toContain('data-testid="artifacts"');
    const config = await render(details.RunConfig, { run: r });
    expect(config).toContain('data-testid="run-config"');
    expect(config).toContain('def456');
    expect(await render(details.SamplesPanel, { run: r })).toContain('data-testid="samples-toggle"');
  });

  it('the verifier panel shows for V-STaR runs only', async () => {
    const { VerifierPanel } = await load<{ VerifierPanel: Component }>('components/verifier/index.tsx');
    expect(await render(VerifierPanel, { run: run() })).toBe('');
    const html = await render(VerifierPanel, { run: run({ variant: 'v-star' }) });
    for (const id of [
      'verifier-panel',
      'verifier-iteration',
      'verifier-scorer',
      'verifier-normalized',
      'verifier-curve-chart',
      'verifier-pair-accuracy',
      'verifier-search',
    ]) {
      expect(html, id).toContain(`data-testid="${id}"`);
    }
  });
});

/** Files under `dir` whose name ends with `ext` and that are over `max` lines, as "path (lines)". */
function longFiles(dir: string, ext: string, max: number): string[] {
  const long: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(ext)) {
        const lines = readFileSync(path, 'utf8').split('\n').length - 1;
        if (lines > max) long.push(`${path.slice(ROOT.length)} (${lines})`);
      }
    }
  };
  walk(dir);
  return long;
}

describe('source file sizes (issue 15)', () => {
  it('no React component file is over 400 lines', () => {
    expect(longFiles(RENDERER_SRC, '.tsx', 400)).toEqual([]);
  });

  it('no TypeScript file in core, cli, db, server or electron is over 500 lines', () => {
    expect(['core', 'cli', 'db', 'server', 'electron'].flatMap((d) => longFiles(join(ROOT, d), '.ts', 500))).toEqual([]);
  });
});
