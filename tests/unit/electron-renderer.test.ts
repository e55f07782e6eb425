/** Pure logic of the renderer (no DOM): the launch form's parsing, metric shaping, LTTB, time formats. */
import { describe, expect, it } from 'vitest';
import { parseForm } from '../../renderer/src/launch-form';
import { difficultyMetrics, downsamplePoints, hasSeveralPerIteration, perIteration, perStep } from '../../renderer/src/metrics';
import { formatDuration, runDurationMs, toMs } from '../../renderer/src/format';
import type { MetricPoint } from '../../shared/contract';

const form = { variant: 'star', dataset: 'addition', preset: 'tiny', seed: '0', overrides: '' };

describe('launch form parsing', () => {
  it('builds a LaunchSpec with overrides, skipping blanks and comments', () => {
    const p = parseForm({ ...form, seed: ' 7 ', overrides: 'loop.iterations=2\n\n# a comment\n warmup.steps = 300 \nmodel.name=a=b' });
    expect(p.local).toEqual([]);
    expect(p.spec).toEqual({
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      seed: 7,
      overrides: { 'loop.iterations': '2', 'warmup.steps': '300', 'model.name': 'a=b' },
    });
    expect(p.lines.get('warmup.steps')).toBe(4);
  });

  it('omits an empty seed and empty overrides', () => {
    const p = parseForm({ ...form, seed: '' });
    expect(p.spec).toEqual({ variant: 'star', dataset: 'addition', preset: 'tiny' });
  });

  it('reports bad seeds and bad lines by field', () => {
    for (const seed of ['-1', '1.5', 'abc', '99999999999999999999']) {
      expect(parseForm({ ...form, seed }).local.map((e) => e.field)).toEqual(['seed']);
    }
    const p = parseForm({ ...form, overrides: 'loop.iterations\n=3\nloop.lr=1\nloop.lr=2' });
    expect(p.local.map((e) => e.field)).toEqual(['overrides', 'overrides', 'overrides.loop.lr']);
    expect(p.local[0]!.message).toMatch(/^line 1: expected key=value/);
    expect(p.local[2]!.message).toMatch(/^line 4: .*set twice/);
  });
});

const pt = (iteration: number, step: number, value: number, t = 0): MetricPoint => ({ iteration, step, value, t });

describe('metric shaping', () => {
  it('keeps the last value per iteration, by step then time', () => {
    const pts = [pt(1, 10, 0.5), pt(0, 0, 0.1), pt(1, 12, 0.6), pt(1, 12, 0.7, 5), pt(2, 20, 0.8)];
    expect(perIteration(pts)).toEqual([
      { x: 0, y: 0.1 },
      { x: 1, y: 0.7 },
      { x: 2, y: 0.8 },
    ]);
    expect(perIteration(undefined)).toEqual([]);
  });

  it('plots step-wise metrics against their step and detects them', () => {
    const pts = [pt(1, 30, 3), pt(0, 10, 1), pt(0, 20, 2)];
    expect(perStep(pts)).toEqual([
      { x: 10, y: 1 },
      { x: 20, y: 2 },
      { x: 30, y: 3 },
    ]);
    expect(hasSeveralPerIteration(pts)).toBe(true);
    expect(hasSeveralPerIteration([pt(0, 1, 1), pt(1, 2, 1)])).toBe(false);
  });

  it('finds per-difficulty accuracy metrics in level order', () => {
    const m = { 'eval/accuracy': [], 'eval/accuracy/digits_10': [], 'eval/accuracy/digits_2': [], 'train/loss': [] };
    expect(difficultyMetrics(m)).toEqual([
      { name: 'eval/accuracy/digits_2', unit: 'digits', level: 2, label: '2-digit' },
      { name: 'eval/accuracy/digits_10', unit: 'digits', level: 10, label: '10-digit' },
    ]);
    expect(difficultyMetrics({ 'eval/accuracy/steps_3': [], 'train/solved_direct/steps_3': [] })).toEqual([
      { name: 'eval/accuracy/steps_3', unit: 'steps', level: 3, label: '3 steps' },
    ]);
  });

  it('downsamples long series with LTTB to the requested size, keeping both ends and spikes', () => {
    const pts = Array.from({ length: 5000 }, (_, i) => ({ x: i, y: i === 2500 ? 100 : Math.sin(i / 50) }));
    const d = downsamplePoints(pts, 600);
    expect(d.length).toBe(600);
    expect(d[0]).toEqual(pts[0]);
    expect(d[d.length - 1]).toEqual(pts[pts.length - 1]);
    expect(d.some((p) => p.y === 100)).toBe(true);
    const short = pts.slice(0, 10);
    expect(downsamplePoints(short, 600)).toBe(short);
  });
});

describe('time formatting', () => {
  it('accepts unix seconds or milliseconds', () => {
    expect(toMs(1_700_000_000)).toBe(1_700_000_000_000);
    expect(toMs(1_700_000_000_000)).toBe(1_700_000_000_000);
  });

  it('formats durations and ticks while running', () => {
    expect(formatDuration(5_400)).toBe('5s');
    expect(formatDuration(125_000)).toBe('2m 05s');
    expect(formatDuration(3_725_000)).toBe('1h 02m');
    const run = { createdAt: 100, startedAt: 100, endedAt: null, status: 'running' };
    expect(runDurationMs(run, 160_000)).toBe(60_000);
    expect(runDurationMs({ ...run, endedAt: 130, status: 'completed' }, 999_999)).toBe(30_000);
    expect(runDurationMs({ ...run, startedAt: null, status: 'queued' }, 160_000)).toBeNull();
  });
});
