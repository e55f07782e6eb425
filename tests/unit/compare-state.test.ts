import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_METRIC,
  MAX_FILTER_CHARS,
  MAX_HASH_CHARS,
  MAX_METRIC_CHARS,
  MAX_TEMPLATE_CHARS,
  MAX_URL_RUNS,
  compareViewFromHash,
  compareViewFromQuery,
  compareViewToHash,
  compareViewToQuery,
  defaultCompareView,
  isCompareHash,
  roundSmoothing,
  sameCompareView,
  roundRange,
  updateCompareView,
  type CompareView,
} from '../../renderer/src/compare-state';
import { X_OPTIONS } from '../../renderer/src/compare';

const view = (patch: Partial<CompareView> = {}): CompareView => ({ ...defaultCompareView(), ...patch });
const KEYS = [
  'group',
  'runs',
  'metric',
  'x',
  'yLog',
  'smoothing',
  'groupBy',
  'band',
  'showRuns',
  'perDifficulty',
  'template',
  'filter',
  'xRange',
].sort();

describe('compare view defaults', () => {
  it('the bare route and a group route', () => {
    expect(compareViewFromHash('#/compare')).toEqual({
      group: null,
      runs: [],
      metric: DEFAULT_METRIC,
      x: 'iteration',
      yLog: false,
      smoothing: 0,
      groupBy: 'none',
      band: 'std',
      showRuns: false,
      perDifficulty: false,
      template: null,
      filter: '',
      xRange: null,
    });
    // opened from a group: its runs (runs null) grouped by variant, as the group page's Compare link did
    expect(compareViewFromHash('#/compare?group=g1')).toEqual({ ...defaultCompareView(), group: 'g1', runs: null, groupBy: 'variant' });
    expect(compareViewToHash(defaultCompareView())).toBe('#/compare');
    expect(compareViewToHash(defaultCompareView('g1'))).toBe('#/compare?group=g1');
  });

  it('reads the links made before the view was in the URL', () => {
    expect(compareViewFromHash('#/compare?runs=a,b').runs).toEqual(['a', 'b']);
    expect(compareViewFromHash('/compare?runs=a,b').runs).toEqual(['a', 'b']); // the router's path, no '#'
    expect(compareViewFromHash('#/compare?group=g1').groupBy).toBe('variant');
  });
});

describe('compareViewToHash / compareViewFromHash', () => {
  it('writes every key, defaults left out, in a fixed order', () => {
    const v = view({
      group: 'grp-1',
      runs: ['r2', 'r1'],
      metric: 'eval/accuracy/digits_3',
      x: 'tokens',
      yLog: true,
      smoothing: 0.6,
      groupBy: 'loop.lr',
      band: 'ci95',
      showRuns: true,
      perDifficulty: true,
      template: '{variant} lr={loop.lr}',
      filter: 'star seed=1',
    });
    const h = compareViewToHash(v);
    expect(h).toBe(
      '#/compare?group=grp-1&runs=r2,r1&metric=eval/accuracy/digits_3&x=tokens&ylog=1&smooth=0.6&by=loop.lr&band=ci95&showruns=1&perdiff=1&label=%7Bvariant%7D%20lr%3D%7Bloop.lr%7D&filter=star%20seed%3D1',
    );
    expect(compareViewFromHash(h)).toEqual(v);
  });

  it('round trips: the same view back, the same hash again', () => {
    const cases: CompareView[] = [
      defaultCompareView(),
      defaultCompareView('g'),
      view({ group: 'g', runs: [] }), // a group view with every run unticked
      view({ group: 'g', runs: null, groupBy: 'none' }), // a group view grouped by run
      view({ runs: ['a'], template: '' }), // an emptied label template is not the default one
      view({ runs: ['a', 'b', 'c'], smoothing: 0.99, metric: 'a b&c=d#e?f%g+h', filter: '  spaced  ' }),
      view({ groupBy: 'variant+dataset', template: 'ünïcødé ✓ {id}' }),
    ];
    for (const v of cases) {
      const h = compareViewToHash(v);
      expect(compareViewFromHash(h), h).toEqual(v);
      expect(compareViewToHash(compareViewFromHash(h))).toBe(h);
    }
  });

  it('round trips any valid view (property)', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
    // eslint-disable-next-line no-control-regex -- the property: no control characters
    const safeText = (max: number) => fc.string({ maxLength: max, unit: 'grapheme' }).filter((s) => !/[\u0000-\u001f\u007f]/.test(s));
    const arb = fc.record({
      group: fc.option(id, { nil: null }),
      runs: fc.uniqueArray(id, { maxLength: 20 }),
      runsNull: fc.boolean(),
      metric: safeText(MAX_METRIC_CHARS).filter((s) => s.trim() !== ''),
      x: fc.constantFrom(...X_OPTIONS.map((o) => o.id)),
      yLog: fc.boolean(),
      smoothing: fc.integer({ min: 0, max: 99 }).map((n) => n / 100),
      groupBy: fc.oneof(
        fc.constantFrom('none', 'variant', 'dataset', 'variant+dataset'),
        fc.stringMatching(/^[a-z_]{1,10}(\.[a-z_]{1,10}){0,3}$/),
      ),
      band: fc.constantFrom('std' as const, 'ci95' as const),
      showRuns: fc.boolean(),
      perDifficulty: fc.boolean(),
      template: fc.option(safeText(MAX_TEMPLATE_CHARS), { nil: null }),
      filter: safeText(MAX_FILTER_CHARS),
      // as the page keeps a zoomed range (roundRange)
      xRange: fc.option(
        fc
          .tuple(fc.double({ min: -1e9, max: 1e9, noNaN: true }), fc.double({ min: 1e-6, max: 1e9, noNaN: true }))
          .map(([a, d]) => roundRange([a, a + d]))
          .filter((r): r is [number, number] => r !== null),
        { nil: null },
      ),
    });
    fc.assert(
      fc.property(arb, ({ runsNull, ...r }) => {
        if (['__proto__', 'prototype', 'constructor'].some((s) => r.groupBy.split('.').includes(s))) return;
        const v: CompareView = { ...r, runs: runsNull && r.group !== null ? null : r.runs };
        const h = compareViewToHash(v);
        expect(compareViewFromHash(h)).toEqual(v);
        expect(compareViewToHash(compareViewFromHash(h))).toBe(h);
      }),
      { numRuns: 300, seed: 15 },
    );
  });

  it('rounds a zoomed range to its own width, so zooms nested deep far from 0 keep their shape', () => {
    let r: [number, number] | null = [1_200_000, 1_300_000];
    for (let k = 0; k < 6 && r; k++) {
      const w: number = r[1] - r[0];
      r = roundRange([r[0] + 0.3 * w, r[0] + 0.6 * w]);
      expect(r, `zoom ${k}`).not.toBeNull();
      expect((r![1] - r![0]) / (0.3 * w)).toBeCloseTo(1, 3);
    }
    expect(roundRange([5, 5])).toBeNull();
    expect(roundRange([1, Number.NaN])).toBeNull();
  });

  it('keeps a zoomed x range, drops a bad one, and forgets it with another x axis', () => {
    const v = compareViewFromHash('#/compare?runs=a&x=step&xrange=120,4500.5');
    expect(v.xRange).toEqual([120, 4500.5]);
    expect(compareViewToHash(v)).toBe('#/compare?runs=a&x=step&xrange=120,4500.5');
    for (const bad of ['5,5', '9,1', 'a,b', '1', '1,2,3', ',2', `1,${'9'.repeat(70)}`])
      expect(compareViewFromHash(`#/compare?xrange=${bad}`).xRange, bad).toBeNull();
    expect(updateCompareView(v, { x: 'iteration' }).xRange).toBeNull();
    expect(updateCompareView(v, { smoothing: 0.5 }).xRange).toEqual([120, 4500.5]);
    expect(updateCompareView(v, { xRange: null }).xRange).toBeNull();
  });

  it('the order of the keys in the URL does not matter; the written order is always the same', () => {
    const a = compareViewFromHash('#/compare?x=step&band=ci95&runs=a,b&ylog=1&group=g');
    const b = compareViewFromHash('#/compare?group=g&ylog=1&runs=a,b&band=ci95&x=step');
    expect(a).toEqual(b);
    expect(compareViewToHash(a)).toBe('#/compare?group=g&runs=a,b&x=step&ylog=1&band=ci95');
    // the object's own key order does not matter either
    const shuffled = Object.fromEntries(Object.entries(a).reverse()) as unknown as CompareView;
    expect(compareViewToHash(shuffled)).toBe(compareViewToHash(a));
    // the runs' order is kept (it picks the colours)
    expect(compareViewFromHash('#/compare?runs=b,a').runs).toEqual(['b', 'a']);
  });

  it('takes a query with or without "?"', () => {
    expect(compareViewFromQuery('?x=time')).toEqual(compareViewFromQuery('x=time'));
    expect(compareViewFromQuery('x=time').x).toBe('time');
    expect(compareViewToQuery(defaultCompareView())).toBe('');
  });
});

describe('malformed and hostile URLs', () => {
  it('unknown keys are ignored, bad values fall back to their defaults', () => {
    const v = compareViewFromHash(
      '#/compare?foo=bar&x=parsecs&band=iqr&ylog=maybe&smooth=lots&showruns=2&perdiff=&by=&metric=&group=../etc&runs=ok,b%20ad,,ok,a/b,x',
    );
    expect(v).toEqual({ ...defaultCompareView(), runs: ['ok', 'x'] });
    // and the canonical URL drops them
    expect(compareViewToHash(v)).toBe('#/compare?runs=ok,x');
  });

  it('booleans: 1/0 and true/false', () => {
    expect(compareViewFromHash('#/compare?ylog=true&showruns=1&perdiff=false')).toMatchObject({
      yLog: true,
      showRuns: true,
      perDifficulty: false,
    });
  });

  it('smoothing is clamped to [0, 0.99] and rounded to the slider step', () => {
    expect(compareViewFromHash('#/compare?smooth=5').smoothing).toBe(0.99);
    expect(compareViewFromHash('#/compare?smooth=-1').smoothing).toBe(0);
    expect(compareViewFromHash('#/compare?smooth=0.456').smoothing).toBe(0.46);
    expect(compareViewFromHash('#/compare?smooth=NaN').smoothing).toBe(0);
    expect(compareViewFromHash('#/compare?smooth=Infinity').smoothing).toBe(0);
    expect(compareViewFromHash(`#/compare?smooth=0.${'5'.repeat(100)}`).smoothing).toBe(0);
    expect(roundSmoothing(Number.NaN)).toBe(0);
  });

  it('strings are bounded and may not hold control characters', () => {
    expect(compareViewFromHash(`#/compare?metric=${'m'.repeat(MAX_METRIC_CHARS)}`).metric).toBe('m'.repeat(MAX_METRIC_CHARS));
    expect(compareViewFromHash(`#/compare?metric=${'m'.repeat(MAX_METRIC_CHARS + 1)}`).metric).toBe(DEFAULT_METRIC);
    expect(compareViewFromHash(`#/compare?label=${'t'.repeat(MAX_TEMPLATE_CHARS + 1)}`).template).toBeNull();
    expect(compareViewFromHash(`#/compare?filter=${'f'.repeat(MAX_FILTER_CHARS + 1)}`).filter).toBe('');
    expect(compareViewFromHash('#/compare?metric=a%0Ab').metric).toBe(DEFAULT_METRIC);
    expect(compareViewFromHash('#/compare?label=%00').template).toBeNull();
    expect(compareViewFromHash(`#/compare?runs=${'a'.repeat(65)},b`).runs).toEqual(['b']);
  });

  it('at most MAX_URL_RUNS runs, duplicates dropped, and a huge hash is read only so far', () => {
    const ids = Array.from({ length: MAX_URL_RUNS + 50 }, (_, i) => `r${i}`);
    const v = compareViewFromHash(`#/compare?runs=${[...ids, 'r1', 'r2'].join(',')}`);
    expect(v.runs).toHaveLength(MAX_URL_RUNS);
    expect(v.runs).toEqual(ids.slice(0, MAX_URL_RUNS));
    expect(compareViewFromHash('#/compare?runs=a,b,a,b').runs).toEqual(['a', 'b']);
    const huge = `#/compare?x=step&filter=${'z'.repeat(MAX_HASH_CHARS * 4)}`;
    const t = Date.now();
    const h = compareViewFromHash(huge);
    expect(Date.now() - t).toBeLessThan(1000);
    expect(h.x).toBe('step');
    expect(h.filter).toBe('');
    // the written hash of a longer selection keeps the first MAX_URL_RUNS
    expect(compareViewFromHash(compareViewToHash(view({ runs: ids }))).runs).toHaveLength(MAX_URL_RUNS);
  });

  it("no prototype pollution, no keys but the view's", () => {
    const hostile = [
      '#/compare?__proto__=x&constructor=y&prototype=z&__proto__[polluted]=1&toString=1&hasOwnProperty=1',
      '#/compare?__proto__.polluted=1&constructor.prototype.polluted=1',
      '#/compare?by=__proto__&label={__proto__}&metric=__proto__&filter=constructor',
      '#/compare?by=constructor.prototype',
      '#/compare?by=loop.__proto__.x',
    ];
    for (const h of hostile) {
      const v = compareViewFromHash(h);
      expect(Object.keys(v).sort()).toEqual(KEYS);
      expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
      expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
      expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
    }
    // a config key through the object plumbing falls back to the default grouping; plain strings are just strings
    expect(compareViewFromHash('#/compare?by=__proto__').groupBy).toBe('none');
    expect(compareViewFromHash('#/compare?by=constructor.prototype').groupBy).toBe('none');
    expect(compareViewFromHash('#/compare?metric=__proto__').metric).toBe('__proto__');
  });

  it('never throws on arbitrary text, and what it reads is canonical (property)', () => {
    const chunk = fc.oneof(
      fc.string({ maxLength: 30, unit: 'binary' }),
      fc.constantFrom(
        '?',
        '&',
        '=',
        '%',
        '%zz',
        '%E0%A4%A',
        '#',
        ',',
        '+',
        'runs=',
        'group=',
        'x=',
        'smooth=',
        'by=',
        'label=',
        '__proto__',
        '/compare',
      ),
    );
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 30 }), (parts) => {
        const s = parts.join('');
        const v = compareViewFromHash(s);
        expect(Object.keys(v).sort()).toEqual(KEYS);
        const h = compareViewToHash(v);
        expect(compareViewFromHash(h)).toEqual(v);
        expect(compareViewToHash(compareViewFromHash(h))).toBe(h);
      }),
      { numRuns: 500, seed: 17 },
    );
  });
});

describe('writing odd strings', () => {
  it('a lone surrogate (which encodeURIComponent throws on) is written as U+FFFD', () => {
    const v = view({ filter: 'a\uD800b', template: '\uDC00' });
    const h = compareViewToHash(v);
    expect(compareViewFromHash(h)).toMatchObject({ filter: 'a\uFFFDb', template: '\uFFFD' });
  });
});

describe('isCompareHash', () => {
  it('the compare page only', () => {
    for (const h of ['#/compare', '#/compare/', '#/compare?x=step', '/compare?runs=a', '#/compare/?x=step'])
      expect(isCompareHash(h), h).toBe(true);
    for (const h of ['', '#/', '#/runs', '#/runs/x/traces?q=1', '#/comparex', '#/groups/compare']) expect(isCompareHash(h), h).toBe(false);
  });
});

describe('updateCompareView', () => {
  it('returns the same object when nothing changed', () => {
    const v = view({ runs: ['a', 'b'] });
    expect(updateCompareView(v, {})).toBe(v);
    expect(updateCompareView(v, { x: 'iteration', runs: ['a', 'b'] })).toBe(v);
    expect(updateCompareView(v, { smoothing: 0.001 })).toBe(v); // rounds to 0
  });

  it('another grouping forgets the typed label template unless it sets one', () => {
    const v = view({ groupBy: 'variant', template: 'mine {variant}' });
    expect(updateCompareView(v, { groupBy: 'dataset' }).template).toBeNull();
    expect(updateCompareView(v, { groupBy: 'dataset', template: '{dataset}!' }).template).toBe('{dataset}!');
    expect(updateCompareView(v, { yLog: true }).template).toBe('mine {variant}');
  });

  it("the run list loses duplicates and keeps its order; selecting by hand leaves the group's runs", () => {
    expect(updateCompareView(view(), { runs: ['b', 'a', 'b'] }).runs).toEqual(['b', 'a']);
    const g = defaultCompareView('g');
    const picked = updateCompareView(g, { runs: ['r1'] });
    expect(picked).toMatchObject({ group: 'g', runs: ['r1'], groupBy: 'variant' });
    expect(compareViewToHash(picked)).toBe('#/compare?group=g&runs=r1');
  });

  it('clamps smoothing; sameCompareView compares run lists by content', () => {
    expect(updateCompareView(view(), { smoothing: 2 }).smoothing).toBe(0.99);
    expect(sameCompareView(view({ runs: ['a'] }), view({ runs: ['a'] }))).toBe(true);
    expect(sameCompareView(view({ runs: ['a'] }), view({ runs: ['b'] }))).toBe(false);
    expect(sameCompareView(view({ group: 'g', runs: null }), view({ group: 'g', runs: [] }))).toBe(false);
  });
});

describe('ComparePage opened from a URL', () => {
  const render = async (path: string): Promise<string> => {
    const { createElement } = await import('react');
    const { renderToString } = await import('react-dom/server');
    // a computed specifier: the node tsconfig (no jsx) does not follow it into the .tsx page
    const page = new URL('../../renderer/src/pages/ComparePage.tsx', import.meta.url).pathname;
    const { ComparePage } = (await import(/* @vite-ignore */ page)) as { ComparePage: (p: { path: string }) => unknown };
    return renderToString(createElement(ComparePage as never, { path }));
  };

  it("shows the URL's view in its controls", async () => {
    const html = await render(
      '/compare?runs=a,b&x=tokens&ylog=1&smooth=0.5&band=ci95&showruns=1&by=dataset&label=L%20{dataset}&filter=seed%3D1',
    );
    expect(html).toMatch(/<option value="tokens" selected="">/);
    expect(html).toMatch(/<option value="ci95" selected="">/);
    expect(html).toMatch(/<option value="dataset" selected="">/);
    expect(html).toMatch(/data-testid="compare-ylog"[^>]*checked=""|checked=""[^>]*data-testid="compare-ylog"/);
    expect(html).toMatch(/data-testid="compare-show-runs"[^>]*checked=""|checked=""[^>]*data-testid="compare-show-runs"/);
    expect(html).toContain('value="L {dataset}"');
    expect(html).toContain('value="seed=1"');
    expect(html).toContain('0.50');
  });

  it('says it is loading, not "pick runs" or "no data", before the runs are in', async () => {
    for (const path of ['/compare?runs=a,b', '/compare?group=g1', '/compare']) {
      const html = await render(path);
      expect(html, path).toContain('data-testid="compare-loading"');
      expect(html, path).not.toContain('data-testid="compare-empty"');
      expect(html, path).not.toContain('No data for this metric');
      expect(html, path).toContain('data-series-count="0"');
    }
  });
});
