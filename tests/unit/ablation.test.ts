import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { expandAblation, gridCombinations } from '../../shared/ablation';
import { createService, type Service } from '../../core/service';
import { cleanupTempDirs, fakeCommand, tempDir, waitFor } from '../fixtures/helpers';

const open: Service[] = [];
afterEach(() => {
  for (const s of open.splice(0)) {
    for (const r of s.listRuns()) if (r.status === 'running') s.stopRun(r.id);
    s.close();
  }
});
afterAll(cleanupTempDirs);

describe('ablation expansion', () => {
  it('expands variants × datasets × grid × seeds into validated runs with labels', () => {
    expect(gridCombinations({ a: ['1', '2'], b: ['x', 'y', 'z'] })).toHaveLength(6);
    expect(gridCombinations()).toEqual([{}]);
    const r = expandAblation({
      variants: ['star', 'star-norat'],
      datasets: ['addition'],
      seeds: [0, 1, 2],
      preset: 'tiny',
      overrides: { 'loop.iterations': '2' },
      grid: { 'loop.lr': ['0.001', '0.003'] },
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.runs).toHaveLength(2 * 1 * 2 * 3);
    expect(r.runs[0]!.label).toBe('star/addition/seed 0/loop.lr=0.001');
    expect(r.runs.map((p) => p.config.loop!.lr)).toEqual([
      0.001, 0.001, 0.001, 0.003, 0.003, 0.003, 0.001, 0.001, 0.001, 0.003, 0.003, 0.003,
    ]);
    expect(r.runs.every((p) => p.config.loop!.iterations === 2)).toBe(true);
    expect(new Set(r.runs.map((p) => p.label)).size).toBe(12);
  });

  it('refuses the whole ablation when one run is invalid, naming the run', () => {
    const r = expandAblation({
      variants: ['star', 'star-norat'],
      datasets: ['addition'],
      seeds: [0],
      preset: 'tiny',
      grid: { 'loop.p_rationalization': ['0.5'] },
    });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]!.field).toBe('overrides.loop.p_rationalization');
      expect(r.errors[0]!.message).toMatch(/^star-norat\/addition\/seed 0/);
    }
    const empty = expandAblation({ variants: [], datasets: ['addition'], seeds: [0, 0], preset: 'tiny' });
    expect(empty.ok ? [] : empty.errors.map((e) => e.field)).toEqual(['variants', 'seeds']);
  });
});

describe('the queue (real child processes)', () => {
  function svc(mode = 'sleep'): Service {
    const s = createService({ dataDir: tempDir(), pollMs: 50, commandFor: fakeCommand(mode, { STARLAB_FAKE_SLEEP_MS: '600' }) });
    open.push(s);
    return s;
  }
  const spec = { variants: ['star', 'star-norat'], datasets: ['addition'], seeds: [0, 1], preset: 'tiny' };

  it('never runs more than the limit at once, and runs every queued run to completion', async () => {
    const s = svc();
    s.setQueueSettings({ maxConcurrent: 2, gpuSlots: [] });
    const r = s.createAblation(spec);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.runs).toHaveLength(4);
    let peak = 0;
    await waitFor(
      () => {
        const runs = s.getGroup(r.id)!.runs;
        peak = Math.max(peak, runs.filter((x) => x.status === 'running').length);
        return runs.every((x) => x.status === 'completed');
      },
      30_000,
      'the group to complete',
    );
    expect(peak).toBe(2);
    const g = s.listGroups().find((x) => x.id === r.id)!;
    expect(g).toMatchObject({ total: 4, counts: { completed: 4 } });
    expect(g.name).toBe('star vs star-norat on addition (2 seeds)');
    // the compare view's data: only the asked metrics, per run
    const series = s.getSeries(r.runs, ['eval/accuracy', 'no/such']);
    expect(Object.keys(series).sort()).toEqual([...r.runs].sort());
    for (const id of r.runs) {
      expect(Object.keys(series[id]!)).toEqual(['eval/accuracy']);
      expect(series[id]!['eval/accuracy']!.map((p) => p.iteration)).toEqual([0, 1]);
    }
    expect(s.metricNames(r.runs).find((m) => m.name === 'eval/accuracy')).toEqual({ name: 'eval/accuracy', runs: 4 });
    // and every run's config in one read, as getRun gives it (an unknown id left out)
    const configs = s.getRunConfigs([...r.runs, '20000101-000000-dead']);
    expect(Object.keys(configs).sort()).toEqual([...r.runs].sort());
    for (const id of r.runs) expect(configs[id]).toEqual(s.getRun(id)!.config);
  }, 60_000);

  it('gives each queued run its own GPU slot (CUDA_VISIBLE_DEVICES)', async () => {
    const s = svc();
    s.setQueueSettings({ maxConcurrent: 0, gpuSlots: ['0', '1,2'] });
    expect(s.getSettings().gpuSlots).toEqual(['0', '1,2']);
    const r = s.createAblation(spec);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    let peak = 0;
    await waitFor(
      () => {
        const runs = s.getGroup(r.id)!.runs;
        const live = runs
          .filter((x) => x.status === 'running')
          .map((x) => s.getRun(x.id)!.env?.cuda_visible_devices)
          .filter(Boolean);
        expect(new Set(live).size).toBe(live.length); // no slot shared
        peak = Math.max(peak, runs.filter((x) => x.status === 'running').length);
        return runs.every((x) => x.status === 'completed');
      },
      30_000,
      'the group to complete',
    );
    expect(peak).toBeLessThanOrEqual(2);
    const slots = s.getGroup(r.id)!.runs.map((x) => s.getRun(x.id)!.env?.cuda_visible_devices);
    expect(new Set(slots)).toEqual(new Set(['0', '1,2']));
  }, 60_000);

  it('cancels queued runs, stops a group, and retries a failed run as a new queued run', async () => {
    const s = svc('hang');
    s.setQueueSettings({ maxConcurrent: 1, gpuSlots: [] });
    const r = s.createAblation(spec);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    await waitFor(() => s.getGroup(r.id)!.runs.some((x) => x.status === 'running'), 10_000, 'the first run to start');
    const queued = s.getGroup(r.id)!.runs.filter((x) => x.status === 'queued');
    expect(queued).toHaveLength(3);
    expect(s.cancelRun(queued[0]!.id).ok).toBe(true);
    expect(s.getRun(queued[0]!.id)).toMatchObject({ status: 'stopped', statusReason: 'cancelled before it started', startedAt: null });
    expect(s.cancelRun(queued[0]!.id).ok).toBe(false);
    expect(s.stopGroup(r.id).message).toBe('cancelled 2 queued and stopped 1 running run(s)');
    await waitFor(() => s.getGroup(r.id)!.runs.every((x) => x.status === 'stopped'), 20_000, 'the group to stop');
    const retried = s.retryRun(queued[0]!.id);
    expect(retried.ok).toBe(true);
    const again = s.getRun(retried.id!)!;
    expect(again.groupId).toBe(r.id);
    expect(['queued', 'running']).toContain(again.status);
    expect(s.retryRun(retried.id!).ok).toBe(false); // not failed/stopped
  }, 60_000);
});
