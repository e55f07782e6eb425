/**
 * The canonical JSON text a config hash is taken over — the same text as
 * experiments/starlab/config.py `canonical_json` produces, so that a run's config hash is the
 * same in the app (core/supervisor.ts `configHash`) and in the Python runner (`config_hash`).
 *
 * The form:
 * - objects: keys sorted by UTF-16 code units (JavaScript's default sort; Python sorts by
 *   `key.encode('utf-16-be')`), `"key":value` joined by `,`, no spaces; keys whose value is
 *   `undefined` are left out (as JSON.stringify does: Python never sees them);
 * - arrays: `[a,b]`; strings as JSON.stringify writes them (no escapes beyond `"`, `\` and
 *   control characters, lone surrogates as `\udxxx`); true/false/null;
 * - numbers are compared as IEEE doubles (a Python int is its double). An integral value whose
 *   magnitude is below 1e16 is written as an integer (`1`, `0` for -0, also for Python's
 *   1.0: JavaScript cannot tell 1.0 from 1); every other number is written as Python's
 *   `repr(float)` writes it: the shortest round-trip digits, in fixed notation for a decimal
 *   exponent in [-4, 16) and in exponent notation otherwise, with a sign and at least two
 *   exponent digits (`5e-05`, `1e-07`, `1.5e-05`, `0.30000000000000004`, `1e+21`).
 *   JSON.stringify would write `5e-5`, `1e-7` and `1e+21`, json.dumps `5e-05`, `1e-07` and
 *   `1.0`: that is why neither is used as is. NaN and ±Infinity are refused (no JSON).
 */

/** Python's repr of a finite, non-zero double whose shortest digits and decimal exponent are given. */
function pythonFloatRepr(negative: boolean, digits: string, exp: number): string {
  const sign = negative ? '-' : '';
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    const frac = digits.slice(exp + 1);
    return `${sign}${int}.${frac || '0'}`;
  }
  const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const e = String(Math.abs(exp)).padStart(2, '0');
  return `${sign}${mant}e${exp < 0 ? '-' : '+'}${e}`;
}

/** The canonical text of a number (see the module doc). */
export function canonicalNumber(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`canonical JSON has no form for ${x}`);
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return x === 0 ? '0' : String(x);
  // Number::toString gives the shortest round-trip digits (closest to x where several are
  // shortest, as Python's repr does); only its layout differs. Read digits and exponent off it.
  const s = String(Math.abs(x));
  const [m = '', e = '0'] = s.split('e');
  const [ip = '', fp = ''] = m.split('.');
  let all = ip + fp;
  let point = ip.length + Number(e);
  const lead = all.length - all.replace(/^0+/, '').length;
  all = all.slice(lead).replace(/0+$/, '');
  point -= lead;
  return pythonFloatRepr(x < 0, all, point - 1);
}

/** The canonical JSON text of a JSON-like value (see the module doc). */
export function canonicalJson(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return canonicalNumber(v);
  if (typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  throw new Error(`canonical JSON has no form for a ${typeof v}`);
}
