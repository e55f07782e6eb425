/**
 * The config hash is the same in the app (core/supervisor.ts configHash over
 * shared/canonical-json.ts) and in the Python runner (experiments/starlab/config.py
 * config_hash): for every preset config, as the app writes it and as Python resolves it, and
 * on the number forms where JSON.stringify and json.dumps disagree (5e-5 / 5e-05, 1 / 1.0).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { configHash } from '../../core/run-files';
import { repoRoot, resolvePython } from '../../core/paths';
import { canonicalJson, canonicalNumber } from '../../shared/canonical-json';
import { DATASETS, PRESETS, VARIANTS, resolveConfig } from '../../shared/experiment-config';

const root = repoRoot();

// One Python process for everything: canonical text and hash of each JSON text (parsed by
// json.loads, as the runner reads config.json), and of each preset config Python resolves itself.
const PY = `
import json, sys
from starlab.config import canonical_json, config_hash, preset_config, validate_config
req = json.load(sys.stdin)
def one(obj):
    return [canonical_json(obj), config_hash(obj)]
out = {"texts": [one(json.loads(t)) for t in req["texts"]], "presets": []}
for v, d, p, seed in req["presets"]:
    cfg, errors = validate_config(preset_config(v, d, p, seed))
    out["presets"].append(one(cfg) if cfg is not None else ["invalid", json.dumps(errors)])
print(json.dumps(out))
`;

interface PyOut {
  texts: [string, string][];
  presets: [string, string][];
}

function python(texts: string[], presets: [string, string, string, number][]): PyOut {
  const { python: exe } = resolvePython({ root });
  const out = execFileSync(exe, ['-c', PY], {
    input: JSON.stringify({ texts, presets }),
    env: { ...process.env, PYTHONPATH: join(root, 'experiments') },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as PyOut;
}

const EDGE_TEXTS = [
  '{"lr":5e-05}',
  '{"lr":0.00005}',
  '{"x":1e21}',
  '{"x":1e-7}',
  '{"x":0.30000000000000004}',
  '{"x":-0.0}',
  '{"x":1.0}',
  '{"x":1}',
  '{"x":1e16}',
  '{"x":9999999999999998}',
  '{"x":123456789012345678901234567890}',
  '{"x":-1.5e-300,"y":5e-324,"z":1.7976931348623157e308}',
  '{"b":{"d":[1.0,2.5e-10,{"z":null,"a":true}],"c":"é\\n\\"\\u0001\\u2028"},"a":-123456789012345678,"":[]}',
  '{"\\ud83d\\ude00":1,"\\uff61":2,"B":3,"a":4,"10":5,"9":6}',
];

describe('config hash (TypeScript = Python)', () => {
  it('writes the agreed canonical form', () => {
    expect(canonicalJson({ lr: 5e-5, t: 1.0, z: -0, big: 1e21, small: 1e-7, s: 0.1 + 0.2 })).toBe(
      '{"big":1e+21,"lr":5e-05,"s":0.30000000000000004,"small":1e-07,"t":1,"z":0}',
    );
    expect(canonicalJson({ b: [1, { y: null, x: 'q' }], a: true, u: undefined })).toBe('{"a":true,"b":[1,{"x":"q","y":null}]}');
    expect(canonicalNumber(1e16)).toBe('1e+16');
    expect(canonicalNumber(123.0)).toBe('123');
    expect(canonicalNumber(0.0001)).toBe('0.0001');
    expect(canonicalNumber(1.5e-5)).toBe('1.5e-05');
    expect(canonicalNumber(1234567.125)).toBe('1234567.125');
    expect(canonicalNumber(-2.5e22)).toBe('-2.5e+22');
    expect(() => canonicalNumber(NaN)).toThrow();
    expect(() => canonicalJson({ x: Infinity })).toThrow();
  });

  it('is the same for every preset config and for the edge cases', () => {
    const configs: { name: string; config: unknown }[] = [];
    const presets: [string, string, string, number][] = [];
    for (const variant of VARIANTS)
      for (const dataset of DATASETS)
        for (const preset of PRESETS) {
          const r = resolveConfig({ variant, dataset, preset, seed: 1 });
          if (!r.ok) throw new Error(`${variant}/${dataset}/${preset}: ${JSON.stringify(r.errors)}`);
          configs.push({ name: `${variant}/${dataset}/${preset}`, config: r.config });
          presets.push([variant, dataset, preset, 1]);
        }
    expect(configs.length).toBe(VARIANTS.length * DATASETS.length * PRESETS.length);
    const edges = EDGE_TEXTS.map((t) => ({ name: t, config: JSON.parse(t) as unknown }));
    // the texts Python parses: the config file the app writes (JSON.stringify), and the edge texts as written
    const texts = [...configs.map((c) => JSON.stringify(c.config)), ...EDGE_TEXTS];
    const py = python(texts, presets);
    const all = [...configs, ...edges];
    all.forEach((c, i) => {
      const [pyText, pyHash] = py.texts[i]!;
      expect(canonicalJson(c.config), c.name).toBe(pyText);
      expect(configHash(c.config), c.name).toBe(pyHash);
    });
    // Python's own resolution (presets.json read by json.load: 1.0 and 0.0 stay floats there)
    configs.forEach((c, i) => {
      const [pyText, pyHash] = py.presets[i]!;
      expect(pyText, c.name).toBe(canonicalJson(c.config));
      expect(pyHash, c.name).toBe(configHash(c.config));
    });
    // what json.dumps and JSON.stringify used to disagree on
    expect(canonicalJson(JSON.parse('{"lr":5e-05}'))).toBe('{"lr":5e-05}');
    expect(py.texts[texts.indexOf('{"x":1.0}')]![0]).toBe('{"x":1}');
    expect(py.texts[texts.indexOf('{"x":-0.0}')]![0]).toBe('{"x":0}');
  }, 60_000);

  it('writes every double as Python does (random doubles)', () => {
    const xs = fc.sample(fc.double({ noNaN: true, noDefaultInfinity: true }), { numRuns: 3000, seed: 14 });
    xs.push(...fc.sample(fc.integer({ min: -(2 ** 53), max: 2 ** 53 }), { numRuns: 300, seed: 4 }));
    xs.push(...[-4, -5, -6, -7, 15, 16, 17, 20, 21, 22].flatMap((e) => [10 ** e, 1.5 * 10 ** e, -(10 ** e) / 3]));
    const text = `[${xs.map((x) => String(x)).join(',')}]`; // JSON numbers as JavaScript writes them
    const py = python([text], []);
    expect(py.texts[0]![0]).toBe(canonicalJson(xs));
  }, 60_000);
});
