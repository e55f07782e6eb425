/** The queue when things go wrong: a vanished run directory; a disk-full note only on failures; torn lines. */
import { rmSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createService, type Service } from '../../core/service';
import { clearPythonCheckCache } from '../../core/python-check';
import { splitTornLine } from '../../db/ingest';
import { cleanupTempDirs, ev, FAKE_PYTHON, fakeCommand, SPEC, tempDir, waitFor } from '../fixtures/helpers';

const open: Service[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
afterAll(cleanupTempDirs);

const spec = { variants: ['star'], datasets: ['addition'], seeds: [0], preset: 'tiny' };

describe('queue faults', () => {
  it('a queued run whose directory vanished fails with the reason, after the background python check, without an unhandled rejection', async () => {
    clearPythonCheckCache();
    const rejections: unknown[] = [];
    const onRejection = (e: unknown) => rejections.push(e);
    process.on('unhandledRejection', onRejection);
    try {
      const dataDir = tempDir();
      const a = createService({ dataDir, watch: false, pythonPath: FAKE_PYTHON });
      const g = a.createAblation(spec);
      if (!g.ok) throw new Error(JSON.stringify(g.errors));
      const id = g.runs[0]!;
      rmSync(a.getRun(id)!.runDir, { recursive: true, force: true });
      a.close();
      const s = createService({ dataDir, pollMs: 50, pythonPath: FAKE_PYTHON });
      open.push(s);
      const run = await waitFor(
        () => {
          const r = s.getRun(id);
          return r && r.status === 'failed' ? r : null;
        },
        20_000,
        'the run to fail',
      );
      expect(run.statusReason).toMatch(/could not start .*ENOENT/);
      await new Promise((r) => setTimeout(r, 100));
      expect(rejections).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
    }
  });

  it('says nothing about the disk for a run that completed', async () => {
    const s = createService({ dataDir: tempDir(), pollMs: 50, commandFor: fakeCommand('complete') });
    open.push(s);
    const r = await s.launchRun(SPEC);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const d = (await s.waitForRun(r.id, { timeoutMs: 20_000 }))!;
    expect(d.status).toBe('completed');
    expect(d.statusReason ?? '').not.toMatch(/disk/);
  });
});

describe('splitTornLine', () => {
  it('recovers an event after a torn fragment, and gives up on a long line of glued events', () => {
    const e5 = ev(5, 'heartbeat');
    const got = splitTornLine(7, `{"v":1,"seq":4,"t":1,"ty${e5}`);
    expect(got?.map((x) => x.parsed.kind)).toEqual(['malformed', 'event']);
    expect(got?.[1]!.text).toBe(e5);
    const glued = Array.from({ length: 20 }, (_, i) => ev(i + 1, 'heartbeat')).join('');
    expect(splitTornLine(1, glued)).toBeNull(); // 19 candidates, only the first 4 are tried
    expect(splitTornLine(1, `garbage ${e5} trailing`)).toBeNull(); // the event must end the line
  });
});
