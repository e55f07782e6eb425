import { describe, expect, it } from 'vitest';
import {
  countRuns,
  countStatuses,
  formatEstimate,
  groupProgress,
  parseAblationForm,
  parseGpuSlots,
  parseMaxConcurrent,
  parseSeeds,
  parseSweeps,
} from '../../renderer/src/ablation-form';
import { ablationSpecSchema } from '../../shared/contract';

describe('parseSeeds', () => {
  it('reads commas, spaces and ranges', () => {
    expect(parseSeeds('0,1,2')).toEqual({ seeds: [0, 1, 2], errors: [] });
    expect(parseSeeds(' 3 4, 7-9 ').seeds).toEqual([3, 4, 7, 8, 9]);
  });
  it('rejects bad, empty and duplicate seeds', () => {
    expect(parseSeeds('1,x').errors[0]).toMatchObject({ field: 'seeds' });
    expect(parseSeeds('-1').errors).toHaveLength(1);
    expect(parseSeeds('').errors[0]?.message).toMatch(/at least one/);
    expect(parseSeeds('1,2,1').errors[0]?.message).toMatch(/twice/);
    expect(parseSeeds('5-3').errors).toHaveLength(1);
    expect(parseSeeds('99999999999').errors).toHaveLength(1);
  });
});

describe('parseSweeps', () => {
  it('parses key=v1,v2 lines, skipping comments and blanks', () => {
    const r = parseSweeps('# lr\nloop.lr = 0.001, 0.01\n\nloop.iterations=2,3,4\n');
    expect(r.errors).toEqual([]);
    expect(r.grid).toEqual({ 'loop.lr': ['0.001', '0.01'], 'loop.iterations': ['2', '3', '4'] });
    expect(r.lines.get('loop.iterations')).toBe(4);
  });
  it('reports syntax errors, empty values and duplicates', () => {
    expect(parseSweeps('nokey').errors[0]).toMatchObject({ field: 'grid' });
    expect(parseSweeps('a=').errors[0]).toMatchObject({ field: 'grid.a' });
    expect(parseSweeps('a=1\na=2').errors[0]).toMatchObject({ field: 'grid.a' });
    expect(parseSweeps('a=1,1').errors[0]?.message).toMatch(/twice/);
  });
});

describe('parseAblationForm', () => {
  const base = {
    name: '',
    variants: ['star', 'star-norat'],
    datasets: ['addition'],
    seeds: '0,1',
    preset: 'tiny',
    overrides: '',
    sweeps: '',
  };
  it('builds a spec the contract accepts', () => {
    const { spec, local } = parseAblationForm({ ...base, name: ' rat ', overrides: 'loop.iterations=2', sweeps: 'loop.lr=1,2' });
    expect(local).toEqual([]);
    expect(spec).toEqual({
      name: 'rat',
      variants: ['star', 'star-norat'],
      datasets: ['addition'],
      seeds: [0, 1],
      preset: 'tiny',
      overrides: { 'loop.iterations': '2' },
      grid: { 'loop.lr': ['1', '2'] },
    });
    expect(ablationSpecSchema.safeParse(spec).success).toBe(true);
    expect(countRuns(spec)).toBe(8);
  });
  it('omits empty optional parts', () => {
    const { spec } = parseAblationForm(base);
    expect(spec).toEqual({ variants: ['star', 'star-norat'], datasets: ['addition'], seeds: [0, 1], preset: 'tiny' });
  });
  it('reports missing choices and bad lines by field', () => {
    const { local } = parseAblationForm({ ...base, variants: [], datasets: [], seeds: 'x', overrides: 'bad', sweeps: 'a=1\n=2' });
    const fields = local.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['variants', 'datasets', 'seeds', 'overrides', 'grid']));
  });
  it('flags a key both overridden and swept', () => {
    const { local } = parseAblationForm({ ...base, overrides: 'a=1', sweeps: 'a=1,2' });
    expect(local).toEqual([expect.objectContaining({ field: 'grid.a' })]);
  });
});

describe('formatEstimate', () => {
  it('words the estimate', () => {
    expect(formatEstimate(null)).toBe('no earlier runs to estimate from');
    expect(formatEstimate(10)).toBe('about 1 min from earlier runs');
    expect(formatEstimate(600)).toBe('about 10 min from earlier runs');
    expect(formatEstimate(3 * 3600)).toBe('about 3 h from earlier runs');
    expect(formatEstimate(2 * 3600 + 15 * 60)).toBe('about 2 h 15 min from earlier runs');
    expect(formatEstimate(600, { known: 2, of: 2 })).toBe('about 10 min from earlier runs');
    expect(formatEstimate(600, { known: 1, of: 4 })).toMatch(/^about 10 min from earlier runs of 1 of the 4 runs' .* assumed as long\)$/);
  });
});

describe('groupProgress', () => {
  it('orders segments and counts ended runs', () => {
    const p = groupProgress({ queued: 2, completed: 3, failed: 1, running: 2 }, 8);
    expect(p.segments.map((s) => s.status)).toEqual(['completed', 'running', 'failed', 'queued']);
    expect(p.segments[0]!.fraction).toBeCloseTo(3 / 8);
    expect(p.ended).toBe(4);
    expect(p.total).toBe(8);
  });
  it('copes with an empty group', () => {
    expect(groupProgress({}, 0)).toEqual({ segments: [], ended: 0, total: 0 });
  });
  it('counts statuses', () => {
    expect(countStatuses([{ status: 'queued' }, { status: 'queued' }, { status: 'failed' }])).toEqual({ queued: 2, failed: 1 });
  });
});

describe('queue settings', () => {
  it('parses GPU slots', () => {
    expect(parseGpuSlots(' 0 1 ')).toEqual({ slots: ['0', '1'], error: null });
    expect(parseGpuSlots('0,1 2,3').slots).toEqual(['0,1', '2,3']);
    expect(parseGpuSlots('')).toEqual({ slots: [], error: null });
    expect(parseGpuSlots('0;1').error).not.toBeNull();
  });
  it('parses the runs-at-once count', () => {
    expect(parseMaxConcurrent('2')).toEqual({ value: 2, error: null });
    expect(parseMaxConcurrent('')).toEqual({ value: 0, error: null });
    expect(parseMaxConcurrent('-1').error).not.toBeNull();
    expect(parseMaxConcurrent('2000').error).not.toBeNull();
  });
});
