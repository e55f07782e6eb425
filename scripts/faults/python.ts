/** Fault family 4: Python missing, too old, or without torch: refused before launch, nothing created. */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createService } from '../../core/service';
import { clearPythonCheckCache } from '../../core/python-check';
import { type Row, tempDir } from './lib';

const SPEC = { variant: 'star', dataset: 'addition', preset: 'tiny', seed: 1 } as const;

async function refused(fault: string, python: string, want: RegExp): Promise<Row> {
  clearPythonCheckCache();
  const dataDir = tempDir();
  const s = createService({ dataDir, pythonPath: python, watch: false });
  let message: string;
  try {
    try {
      const r = await s.launchRun(SPEC);
      message = r.ok ? `LAUNCHED ${r.id}` : r.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    } catch (e) {
      message = `${(e as Error).name}: ${(e as Error).message}`;
    }
    const created = s.listRuns().length;
    const ok = want.test(message) && created === 0;
    console.log(`  ${fault}: ${message}`);
    return {
      fault,
      runs: created,
      written: 0,
      ingested: 0,
      duplicates: 0,
      lost: 0,
      status: ok ? `ok: refused before launch` : `FAIL: ${message} (${created} runs created)`,
    };
  } finally {
    s.close();
  }
}

export async function pythonFaults(): Promise<Row[]> {
  const dir = tempDir();
  // an interpreter that is really there but too old: a script answering as Python 3.9.2 does
  const old = join(dir, 'python3.9');
  writeFileSync(old, `#!/bin/sh\necho '{"starlab_check": 1, "version": [3, 9, 2], "executable": "${old}", "modules": {}, "errors": {}}'\n`);
  chmodSync(old, 0o755);
  const rows = [
    await refused('python missing', join(dir, 'no-such-python'), /Python interpreter not found: .*no-such-python/),
    await refused('python 3.9', old, /is 3\.9\.2; STaR Lab needs Python >= 3\.10/),
  ];
  // a real interpreter without torch: the system Python when it lacks it
  const system = '/usr/bin/python3';
  if (existsSync(system)) {
    const r = await refused(
      'python without torch (/usr/bin/python3)',
      system,
      /cannot import torch.*-m pip install -r .*requirements\.txt/,
    );
    rows.push(
      r.status.startsWith('FAIL') && /LAUNCHED|runs created/.test(r.status)
        ? { ...r, status: `skipped: ${system} has torch installed` }
        : r,
    );
  } else
    rows.push({ fault: 'python without torch', runs: 0, written: 0, ingested: 0, duplicates: 0, lost: 0, status: `skipped: no ${system}` });
  return rows;
}
