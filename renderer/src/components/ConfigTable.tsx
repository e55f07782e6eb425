import type { ReactElement } from 'react';

/** Leaf paths of a nested config: [['loop.iterations', 5], …] in document order. */
export function flatten(obj: unknown, prefix = ''): [string, unknown][] {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return [[prefix, obj]];
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) out.push(...flatten(v, prefix ? `${prefix}.${k}` : k));
  return out;
}

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * A config as a dense key/value table, grouped by section; values that differ from
 * `base` (the preset's) are marked with the preset value beside them. Clicking a key
 * calls `onPick(key, value)` (the launch form adds it to the overrides).
 */
export function ConfigTable({
  config,
  base,
  onPick,
  testId,
}: {
  config: Record<string, unknown>;
  base?: Record<string, unknown>;
  onPick?: (key: string, value: unknown) => void;
  testId?: string;
}): ReactElement {
  const baseMap = new Map(base ? flatten(base) : []);
  const sections = new Map<string, [string, unknown][]>();
  for (const [k, v] of flatten(config)) {
    const sec = k.includes('.') ? k.slice(0, k.indexOf('.')) : '';
    if (!sections.has(sec)) sections.set(sec, []);
    sections.get(sec)!.push([k, v]);
  }
  return (
    <div className="config-table" data-testid={testId}>
      {[...sections].map(([sec, rows]) => (
        <table key={sec || '(top)'} className="table compact config-section">
          {sec ? (
            <thead>
              <tr>
                <th colSpan={2}>{sec}</th>
              </tr>
            </thead>
          ) : null}
          <tbody>
            {rows.map(([k, v]) => {
              const b = baseMap.get(k);
              const changed = base !== undefined && baseMap.has(k) && show(b) !== show(v);
              return (
                <tr key={k} className={changed ? 'changed' : undefined} data-testid={`config-row-${k}`} data-value={show(v)}>
                  <td className="mono key">
                    {onPick && sec ? (
                      <button type="button" className="linkish" title="add as an override" onClick={() => onPick(k, v)}>
                        {sec ? k.slice(sec.length + 1) : k}
                      </button>
                    ) : sec ? (
                      k.slice(sec.length + 1)
                    ) : (
                      k
                    )}
                  </td>
                  <td className="mono">
                    {show(v)}
                    {changed ? <span className="muted"> (preset {show(b)})</span> : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ))}
    </div>
  );
}
