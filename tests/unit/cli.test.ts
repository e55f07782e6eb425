import { execFile, execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { databasePath, runsDir } from '../../core/paths';
import { openDatabase } from '../../db/open';
import { insertRun } from '../../db/queries';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, FAKE_PYTHON, REPO, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI from source (tsx) as its own process. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Out> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'cli/main.ts', ...args],
      { cwd: REPO, env: { ...process.env, STARLAB_PYTHON: FAKE_PYTHON, ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const base = ['--variant', 'star', '--dataset', 'addition', '--preset', 'tiny'];

describe('starlab CLI', () => {
  it('refuses an invalid config with field errors and exit 2', async () => {
    const dir = tempDir();
    const r = await cli(['launch', ...base, '--set', 'loop.lr=-3', '--set', 'loop.iterations=0', '--json', '--data-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/loop\.lr: /);
    expect(r.stderr).toMatch(/loop\.iterations: /);
    const j = JSON.parse(r.stdout) as { ok: boolean; errors: { field: string }[] };
    expect(j.ok).toBe(false);
    expect(j.errors.map((e) => e.field).sort()).toEqual(['loop.iterations', 'loop.lr']);
    const r2 = await cli(['launch', '--variant', 'nope', '--dataset', 'addition', '--preset', 'tiny', '--data-dir', dir]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/variant: unknown variant/);
    const list = await cli(['list', '--json', '--data-dir', dir]);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it('launch --wait --json prints the show object and exits 0 on completion; list/show shapes', async () => {
    const dir = tempDir();
    const r = await cli(['launch', ...base, '--seed', '7', '--set', 'loop.iterations=2', '--wait', '--json', '--data-dir', dir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout);
    expect(shown).toMatchObject({
      status: 'completed',
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      seed: 7,
      model: 'tiny-llama',
      statusReason: null,
    });
    expect(shown.config.loop.iterations).toBe(2);
    expect(shown.metrics['eval/accuracy']).toEqual([
      { iteration: 0, step: 0, value: 0.5 },
      { iteration: 1, step: 1, value: 0.6 },
    ]);
    expect(shown.startedAt).toEqual(expect.any(Number));
    expect(shown.endedAt).toEqual(expect.any(Number));
    expect(shown.durationS).toEqual(expect.any(Number));

    const list = await cli(['list', '--json', '--data-dir', dir]);
    expect(list.code).toBe(0);
    const runs = JSON.parse(list.stdout);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ id: shown.id, status: 'completed', latestAccuracy: 0.6 });

    const show = await cli(['show', shown.id.slice(0, 17), '--json', '--data-dir', dir]);
    expect(JSON.parse(show.stdout)).toEqual(shown);
    const text = await cli(['show', shown.id, '--data-dir', dir]);
    expect(text.stdout).toMatch(/status\s+completed/);
    const missing = await cli(['show', 'zzz', '--data-dir', dir]);
    expect(missing.code).toBe(1);
  });

  it('a run launched without --wait is ingested by list/show, and stop stops it', async () => {
    const dir = tempDir();
    const env = { STARLAB_FAKE_MODE: 'hang' };
    const t0 = Date.now();
    const r = await cli(['launch', ...base, '--json', '--data-dir', dir], env);
    expect(r.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000); // does not wait for the (endless) run
    const { id } = JSON.parse(r.stdout) as { id: string };
    const shown = JSON.parse((await cli(['show', id, '--json', '--data-dir', dir])).stdout);
    expect(shown.status).toBe('running');
    expect(shown.metrics['eval/accuracy']).toHaveLength(1);
    const stop = await cli(['stop', id, '--json', '--data-dir', dir]);
    expect(stop.code).toBe(0);
    expect(JSON.parse(stop.stdout)).toMatchObject({ ok: true, id, status: 'stopped' });
    const again = await cli(['stop', id, '--data-dir', dir]);
    expect(again.code).toBe(1);
  });

  it('show finalises a run whose process died while nobody was watching', async () => {
    const dir = tempDir();
    const r = await cli(['launch', ...base, '--json', '--data-dir', dir], { STARLAB_FAKE_MODE: 'hang' });
    const { id } = JSON.parse(r.stdout) as { id: string };
    const running = JSON.parse((await cli(['show', id, '--json', '--data-dir', dir])).stdout);
    expect(running.status).toBe('running');
    process.kill(running.pid, 'SIGKILL');
    await new Promise((res) => setTimeout(res, 200));
    const d = JSON.parse((await cli(['show', id, '--json', '--data-dir', dir])).stdout);
    expect(d.status).toBe('failed');
    expect(d.statusReason).toBe('process disappeared without a run_end event');
  });

  it('ablate --wait --json queues the grid, runs it to the end and prints {id, runs}', async () => {
    const dir = tempDir();
    const args = [
      'ablate',
      '--variants',
      'star,star-norat',
      '--datasets',
      'addition',
      '--seeds',
      '0,1',
      '--preset',
      'tiny',
      '--set',
      'loop.iterations=2',
    ];
    const dry = await cli([...args, '--dry-run', '--data-dir', dir]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('star-norat/addition/seed 1');
    expect(dry.stdout).toMatch(/^4 runs$/m);
    const r = await cli([...args, '--wait', '--json', '--data-dir', dir]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { id: string; runs: string[]; statuses: Record<string, string> };
    expect(j.runs).toHaveLength(4);
    expect(Object.values(j.statuses)).toEqual(['completed', 'completed', 'completed', 'completed']);
    const list = JSON.parse((await cli(['list', '--json', '--data-dir', dir])).stdout) as { id: string; groupId: string }[];
    expect(
      list
        .filter((x) => x.groupId === j.id)
        .map((x) => x.id)
        .sort(),
    ).toEqual([...j.runs].sort());
    const bad = await cli([
      'ablate',
      '--variants',
      'star,nope',
      '--datasets',
      'addition',
      '--seeds',
      '0',
      '--preset',
      'tiny',
      '--json',
      '--data-dir',
      dir,
    ]);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).errors[0].field).toBe('variant');
  }, 60_000);

  it('bundle export / import (twice) and backup, with exit codes', async () => {
    const a = tempDir();
    const db = openDatabase(databasePath(a));
    for (const id of ['20240101-000000-aaaa', '20240101-000000-bbbb']) {
      const runDir = join(runsDir(a), id);
      mkdirSync(join(runDir, 'checkpoint'), { recursive: true });
      writeFileSync(join(runDir, 'config.json'), '{}\n');
      writeFileSync(join(runDir, 'checkpoint', 'weights.bin'), 'w'.repeat(5000));
      insertRun(db, {
        id,
        variant: 'star',
        dataset: 'addition',
        preset: 'tiny',
        seed: 0,
        model: 'm',
        config_json: '{}',
        config_hash: 'h',
        status: 'completed',
        created_at: 1,
        run_dir: runDir,
      });
    }
    db.close();
    const file = join(tempDir(), 'runs.tar');
    const none = await cli(['bundle', 'export', '-o', file, '--data-dir', a]);
    expect(none.code).toBe(2);
    const unknown = await cli(['bundle', 'export', 'zzz', '-o', file, '--data-dir', a]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no run "zzz"/);
    const ex = await cli([
      'bundle',
      'export',
      '20240101-000000-a',
      '20240101-000000-bbbb',
      '-o',
      file,
      '--no-checkpoints',
      '--json',
      '--data-dir',
      a,
    ]);
    expect(ex.stderr).toBe('');
    expect(ex.code).toBe(0);
    expect(JSON.parse(ex.stdout)).toMatchObject({ ok: true, runIds: ['20240101-000000-aaaa', '20240101-000000-bbbb'], files: 2 });

    const b = tempDir();
    const im = await cli(['bundle', 'import', file, '--data-dir', b]);
    expect(im.code).toBe(0);
    expect(im.stdout).toBe('imported 20240101-000000-aaaa\nimported 20240101-000000-bbbb\n');
    expect(existsSync(join(runsDir(b), '20240101-000000-aaaa', 'config.json'))).toBe(true);
    expect(existsSync(join(runsDir(b), '20240101-000000-aaaa', 'checkpoint'))).toBe(false);
    const again = await cli(['bundle', 'import', file, '--json', '--data-dir', b]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      imported: [],
      skipped: [
        { id: '20240101-000000-aaaa', reason: 'already present' },
        { id: '20240101-000000-bbbb', reason: 'already present' },
      ],
    });
    const list = await cli(['list', '--json', '--data-dir', b]);
    expect(JSON.parse(list.stdout)).toHaveLength(2);

    const damaged = join(tempDir(), 'damaged.tar');
    const bytes = readFileSync(file);
    bytes[bytes.indexOf('{}\n') + 1] = 0x41;
    writeFileSync(damaged, bytes);
    const bad = await cli(['bundle', 'import', damaged, '--data-dir', tempDir()]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/starlab: .*damaged.tar is damaged: runs\/20240101-000000-aaaa\/config.json does not match its checksum/);

    const backup = join(tempDir(), 'starlab-backup.db');
    const bk = await cli(['backup', backup, '--json', '--data-dir', b]);
    expect(bk.code).toBe(0);
    expect(JSON.parse(bk.stdout)).toMatchObject({ ok: true, file: backup });
    const copy = openDatabase(backup, { check: true });
    expect(copy.prepare('SELECT count(*) AS n FROM runs').get()).toEqual({ n: 2 });
    copy.close();
    const exists = await cli(['backup', backup, '--data-dir', b]);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/exists/);
  }, 60_000);

  it('paths: backup/bundle/ratings refuse FIFOs, folders and planted links in one sentence, exit 1, no raw errno or stack', async () => {
    const data = tempDir();
    const d = tempDir();
    const oneLine = (r: Out) => {
      expect(r.code).toBe(1);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^starlab: cannot /);
      expect(r.stderr).not.toMatch(/^starlab: E[A-Z]+:|\n\s+at /);
    };
    // backup --force onto a FIFO: refused, the FIFO stays a FIFO
    const fifo = join(d, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const onFifo = await cli(['backup', fifo, '--force', '--data-dir', data]);
    oneLine(onFifo);
    expect(onFifo.stderr).toBe(
      `starlab: cannot write the backup: ${fifo} is a FIFO (named pipe), not a regular file; choose another name\n`,
    );
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    // backup onto a folder
    const onDir = await cli(['backup', d, '--force', '--data-dir', data]);
    oneLine(onDir);
    expect(onDir.stderr).toBe(
      `starlab: cannot write the backup: ${d} is a folder; give a file name such as ${join(d, 'starlab-backup.db')}\n`,
    );
    // an existing backup without --force names the option
    const old = join(d, 'old.db');
    writeFileSync(old, 'x');
    const noForce = await cli(['backup', old, '--data-dir', data]);
    oneLine(noForce);
    expect(noForce.stderr).toMatch(/old\.db already exists; choose another name, or pass --force to replace it/);
    // bundle import of a path that does not exist
    const nope = await cli(['bundle', 'import', join(d, 'nope.tar'), '--data-dir', data]);
    oneLine(nope);
    expect(nope.stderr).toBe(`starlab: cannot read the bundle: ${join(d, 'nope.tar')} does not exist; check the path\n`);
    // with --json the service's answer is on stdout too (as import-data and reindex print theirs)
    const nopeJson = await cli(['bundle', 'import', join(d, 'nope.tar'), '--json', '--data-dir', data]);
    oneLine(nopeJson);
    expect(JSON.parse(nopeJson.stdout)).toEqual({
      ok: false,
      message: `cannot read the bundle: ${join(d, 'nope.tar')} does not exist; check the path`,
    });
    // bundle export -o through a planted link: refused even with --force, the link target untouched
    const db = openDatabase(databasePath(data));
    const runDir = join(runsDir(data), '20240101-000000-aaaa');
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, 'config.json'), '{}\n');
    insertRun(db, {
      id: '20240101-000000-aaaa',
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      seed: 0,
      model: 'm',
      config_json: '{}',
      config_hash: 'h',
      status: 'completed',
      created_at: 1,
      run_dir: runDir,
    });
    db.close();
    const victim = join(tempDir(), 'bashrc');
    writeFileSync(victim, 'alias ls=ls\n');
    symlinkSync(victim, join(d, 'runs.tar'));
    const viaLink = await cli(['bundle', 'export', '--all', '-o', join(d, 'runs.tar'), '--force', '--data-dir', data]);
    oneLine(viaLink);
    expect(viaLink.stderr).toMatch(/runs\.tar is a symbolic link; STaR Lab does not write through links/);
    expect(readFileSync(victim, 'utf8')).toBe('alias ls=ls\n');
    // ratings --csv: an existing file needs --force; a planted link never
    const csv = join(d, 'ratings.csv');
    writeFileSync(csv, 'mine');
    const csvExists = await cli(['ratings', '--csv', csv, '--data-dir', data]);
    oneLine(csvExists);
    expect(csvExists.stderr).toMatch(/ratings\.csv already exists; choose another name, or pass --force to replace it/);
    expect(readFileSync(csv, 'utf8')).toBe('mine');
    const csvForced = await cli(['ratings', '--csv', csv, '--force', '--data-dir', data]);
    expect(csvForced.code).toBe(0);
    expect(readFileSync(csv, 'utf8')).not.toBe('mine');
    symlinkSync(victim, join(d, 'linked.csv'));
    const csvLink = await cli(['ratings', '--csv', join(d, 'linked.csv'), '--force', '--data-dir', data]);
    oneLine(csvLink);
    expect(readFileSync(victim, 'utf8')).toBe('alias ls=ls\n');
    expect(readdirSync(d).filter((n) => n.includes('.tmp-'))).toEqual([]);
  }, 60_000);
});
