/** The compare chart's x ticks: the axes issue 17 found unreadable. */
import { describe, expect, it } from 'vitest';
import { niceDomain, niceTicks } from '../../shared/ticks';

const labels = (kind: Parameters<typeof niceTicks>[0], lo: number, hi: number): string[] => {
  const t = niceTicks(kind, lo, hi);
  return t.ticks.map(t.format);
};

describe('nice ticks', () => {
  it('tick every iteration of a short run (it showed 0, 2, 4, 5)', () => {
    expect(labels('count', 0, 5)).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(labels('count', 0, 1)).toEqual(['0', '1']); // never 0.2, 0.4 …
    expect(labels('count', 0, 40)).toEqual(['0', '5', '10', '15', '20', '25', '30', '35', '40']);
  });

  it('count tokens with SI prefixes (it showed 376711, 576711 …)', () => {
    expect(labels('count', 376_711, 1_132_823)).toEqual(['400k', '500k', '600k', '700k', '800k', '900k', '1M', '1.1M']);
    expect(labels('count', 0, 3.2e9)).toEqual(['0', '500M', '1G', '1.5G', '2G', '2.5G', '3G']);
    expect(labels('count', 0, 2500)).toEqual(['0', '500', '1000', '1500', '2000', '2500']);
  });

  it('show wall time in s, min, h or ms (it showed 20.78, 60.78 … and 0.00s, 0.01s, 0.01s)', () => {
    expect(labels('duration', 20.78, 100.8)).toEqual(['30 s', '45 s', '60 s', '75 s', '90 s']);
    expect(labels('duration', 0, 0.02)).toEqual(['0', '5 ms', '10 ms', '15 ms', '20 ms']);
    expect(labels('duration', 0, 7200)).toEqual(['0', '30 min', '60 min', '90 min', '120 min']);
    expect(labels('duration', 0, 86400)).toEqual(['0', '6 h', '12 h', '18 h', '24 h']);
  });

  it('never gives two ticks one label', () => {
    for (const [kind, lo, hi] of [
      ['count', 0, 3],
      ['count', 999, 1003],
      ['count', 1e6, 1.00004e6],
      ['duration', 0, 0.003],
      ['duration', 59, 61],
      ['value', 0.4417, 0.4418],
    ] as const) {
      const l = labels(kind, lo, hi);
      expect(new Set(l).size, `${kind} ${lo}–${hi}: ${l.join(', ')}`).toBe(l.length);
      expect(l.length).toBeGreaterThan(0);
    }
  });
});

describe("niceDomain (the run page's small charts: the y axis ends on ticks)", () => {
  const of = (lo: number, hi: number) => {
    const d = niceDomain('value', lo, hi, 4);
    return { domain: d.domain, labels: d.ticks.map(d.format) };
  };
  it('widens the data range to the ticks around it', () => {
    expect(of(0.137, 2.93)).toEqual({ domain: [0, 3], labels: ['0', '1', '2', '3'] });
    expect(of(0.4417, 0.4583)).toEqual({ domain: [0.44, 0.46], labels: ['0.440', '0.445', '0.450', '0.455', '0.460'] });
    expect(of(3.1, 96.2)).toEqual({ domain: [0, 100], labels: ['0', '50', '100'] });
  });
  it('gives a flat series room instead of one tick', () => {
    expect(of(0.5, 0.5).labels.length).toBeGreaterThanOrEqual(2);
    expect(of(0, 0)).toMatchObject({ domain: [0, expect.any(Number)] });
    const c = niceDomain('count', 7, 7);
    expect(c.ticks.length).toBeGreaterThanOrEqual(2);
    expect(c.ticks.every(Number.isInteger)).toBe(true);
  });
  it('keeps the data inside and no label twice', () => {
    for (const [lo, hi] of [
      [-3.2, 17.9],
      [1e-4, 3e-4],
      [123456, 123999],
      [-1, -0.5],
    ] as const) {
      const d = niceDomain('value', lo, hi);
      expect(d.domain[0]).toBeLessThanOrEqual(lo);
      expect(d.domain[1]).toBeGreaterThanOrEqual(hi);
      const l = d.ticks.map(d.format);
      expect(new Set(l).size, l.join(', ')).toBe(l.length);
    }
  });
});
