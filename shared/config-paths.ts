/** Configs as dotted paths: flattened, read at a path, shown as text (the compare view's diff, the runs table's columns). */

/**
 * Flatten nested plain objects to dotted keys; arrays and other values are leaves. The result
 * has no prototype: a key such as "__proto__" or "constructor" (a config is read from a run
 * directory) is an ordinary key, never Object.prototype's.
 */
export function flattenConfig(obj: unknown, prefix = '', out: Record<string, unknown> = Object.create(null)): Record<string, unknown> {
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
    const entries = Object.entries(obj as Record<string, unknown>);
    if (!entries.length && prefix) out[prefix] = {};
    for (const [k, v] of entries) flattenConfig(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out[prefix] = obj;
  return out;
}

/** The value at a dotted path of a nested object (undefined when absent). */
export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (!Object.hasOwn(cur, part)) return undefined; // own keys only: not "constructor" and the like
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function formatValue(v: unknown): string {
  if (v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
}
