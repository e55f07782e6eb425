/**
 * Names, tags and notes (issue 17): edited through the service (the UI's and the CLI's path),
 * kept in the row and in run.json, so a reindex of an emptied database restores them; bulk
 * tagging; bad labels refused by the contract; a planted run.json link is not written through.
 */
import { readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { commandArgs } from '../../shared/contract';
import { runName } from '../../shared/run-name';
import { createService, type Service } from '../../core/service';
import { databasePath } from '../../core/paths';
import { cleanupTempDirs, completedRun, fakeCommand, tempDir } from '../fixtures/helpers';

const open: Service[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
afterAll(cleanupTempDirs);

function service(dataDir: string): Service {
  const s = createService({ dataDir, pollMs: 50, commandFor: fakeCommand('complete') });
  open.push(s);
  return s;
}

describe('run labels', () => {
  it('names, tags and notes a run; a reindex of an emptied database gives them back', async () => {
    const dataDir = tempDir();
    const s = service(dataDir);
    const id = await completedRun(s, 0);
    expect(runName(s.getRun(id)!)).toBe('star · addition · s0'); // the default
    expect(s.editRun(id, { name: 'baseline', tags: ['paper', 'fig 2', 'paper'], notes: 'lr from the appendix' })).toMatchObject({
      ok: true,
    });
    expect(s.listRuns()[0]).toMatchObject({ name: 'baseline', tags: ['paper', 'fig 2'], notes: 'lr from the appendix' });
    // only what the patch names changes
    expect(s.editRun(id, { notes: '   ' }).ok).toBe(true);
    expect(s.getRun(id)).toMatchObject({ name: 'baseline', tags: ['paper', 'fig 2'], notes: null });
    const record = JSON.parse(readFileSync(join(s.getRun(id)!.runDir, 'run.json'), 'utf8'));
    expect(record).toMatchObject({ id, labels: { name: 'baseline', tags: ['paper', 'fig 2'], notes: null } });
    expect(record.createdAt).toBeTypeOf('number'); // what run.json held before is kept
    s.close();

    for (const f of ['', '-wal', '-shm']) rmSync(databasePath(dataDir) + f, { force: true });
    const again = service(dataDir);
    expect(await again.reindexRuns()).toMatchObject({ ok: true, added: [id] });
    expect(again.getRun(id)).toMatchObject({ name: 'baseline', tags: ['paper', 'fig 2'], status: 'completed' });
    expect(again.editRun(id, { name: null }).ok).toBe(true);
    expect(runName(again.getRun(id)!)).toBe('star · addition · s0');
  });

  it('tags many runs at once and says how many changed', async () => {
    const s = service(tempDir());
    const a = await completedRun(s, 1);
    const b = await completedRun(s, 2);
    expect(s.editRun(a, { tags: ['old'] }).ok).toBe(true);
    expect(s.tagRuns([a, b], { add: ['sweep-3'], remove: ['old'] })).toMatchObject({ ok: true, changed: 2 });
    expect(s.getRun(a)!.tags).toEqual(['sweep-3']);
    expect(s.getRun(b)!.tags).toEqual(['sweep-3']);
    expect(s.tagRuns([a, b], { add: ['sweep-3'], remove: [] })).toMatchObject({ ok: true, changed: 0 });
    expect(s.tagRuns([a, 'nope'], { add: ['x'], remove: [] })).toMatchObject({ ok: false, message: expect.stringContaining('"nope"') });
  });

  it('refuses bad labels before anything is written', () => {
    const bad: [unknown, RegExp][] = [
      [{ tags: ['a,b'] }, /no comma/],
      [{ tags: ['x'.repeat(41)] }, /at most 40/],
      [{ name: '   ' }, /not empty/],
      [{ colour: 'red' }, /colour/],
    ];
    for (const [patch, why] of bad) {
      const r = commandArgs.editRun.safeParse(['20261207-000000-abcd', patch]);
      expect(r.success, JSON.stringify(patch)).toBe(false);
      expect(JSON.stringify(r.error!.issues)).toMatch(why);
    }
    expect(commandArgs.editRun.safeParse(['20261207-000000-abcd', { name: ' trimmed ', tags: [' t '] }]).data?.[1]).toEqual({
      name: 'trimmed',
      tags: ['t'],
    });
  });

  it('does not write through a run.json that is a link, and changes nothing then', async () => {
    const s = service(tempDir());
    const id = await completedRun(s, 3);
    const dir = s.getRun(id)!.runDir;
    const target = join(tempDir(), 'elsewhere.json');
    writeFileSync(target, 'untouched');
    rmSync(join(dir, 'run.json'));
    symlinkSync(target, join(dir, 'run.json'));
    const r = s.editRun(id, { name: 'x' });
    expect(r.ok).toBe(false);
    expect(r.message).toMatch(/link/);
    expect(readFileSync(target, 'utf8')).toBe('untouched');
    expect(s.getRun(id)!.name).toBeNull();
  });
});
