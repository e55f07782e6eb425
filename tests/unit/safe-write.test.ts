/**
 * Writing user-visible output files (core/safe-write.ts): links planted where a file goes are
 * never written through, non-regular targets are refused, existing files only replaced when
 * allowed, and a failed write leaves neither half a file nor its temporary file. Plus the
 * one-sentence messages of core/fs-errors.ts.
 */
import { execFileSync } from 'node:child_process';
import fs, { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeFsError, FsProblem } from '../../core/fs-errors';
import { checkOutputTarget, ensureOutputFolder, writeFileSafely, writeFilesSafely } from '../../core/safe-write';
import { cleanupTempDirs, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

/** A file outside the output folder that a planted link points at (a stand-in for ~/.bashrc). */
function victim(): string {
  const f = join(tempDir(), 'bashrc');
  writeFileSync(f, 'export SECRET=1\n');
  return f;
}

const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.includes('.tmp-'));

/** Replace one function of node:fs for the length of `body` (named ESM imports see it too). */
function patchFs<K extends keyof typeof fs>(name: K, make: (orig: (typeof fs)[K]) => (typeof fs)[K], body: () => void): void {
  const orig = fs[name];
  (fs as Record<string, unknown>)[name] = make(orig);
  syncBuiltinESMExports();
  try {
    body();
  } finally {
    (fs as Record<string, unknown>)[name] = orig;
    syncBuiltinESMExports();
  }
}

describe('writeFileSafely', () => {
  it('writes a new file and replaces an existing one only with overwrite', () => {
    const dir = tempDir();
    const f = join(dir, 'table.tex');
    writeFileSafely(f, 'one');
    expect(readFileSync(f, 'utf8')).toBe('one');
    expect(() => writeFileSafely(f, 'two')).toThrow(/table\.tex already exists/);
    expect(() => writeFileSafely(f, 'two', { force: '--force' })).toThrow(/pass --force to replace it/);
    expect(readFileSync(f, 'utf8')).toBe('one');
    writeFileSafely(f, 'two', { overwrite: true });
    expect(readFileSync(f, 'utf8')).toBe('two');
    expect(leftovers(dir)).toEqual([]);
  });

  it('never writes through a symbolic link planted where the file goes, with or without overwrite', () => {
    const target = victim();
    const dir = tempDir();
    const f = join(dir, 'table.tex');
    symlinkSync(target, f);
    for (const overwrite of [false, true]) {
      expect(() => writeFileSafely(f, 'pwned', { overwrite })).toThrow(FsProblem);
      expect(() => writeFileSafely(f, 'pwned', { overwrite })).toThrow(/table\.tex is a symbolic link/);
    }
    expect(readFileSync(target, 'utf8')).toBe('export SECRET=1\n');
    expect(lstatSync(f).isSymbolicLink()).toBe(true);
    // a dangling link (to where a file would be created) is refused too
    const dangling = join(dir, 'fig.svg');
    symlinkSync(join(tempDir(), 'created-elsewhere'), dangling);
    expect(() => writeFileSafely(dangling, 'x')).toThrow(/symbolic link/);
    expect(existsSync(join(dir, 'created-elsewhere'))).toBe(false);
    expect(leftovers(dir)).toEqual([]);
  });

  it('does not follow a link planted while the file was being written (the data went to a new temporary file)', () => {
    const target = victim();
    const dir = tempDir();
    for (const [name, overwrite] of [
      ['table.tex', true],
      ['fresh.tex', false],
    ] as const) {
      const f = join(dir, name);
      if (overwrite) writeFileSync(f, 'old');
      // the link appears after the first check (an attacker wins the race)
      let planted = false;
      patchFs(
        'fsyncSync',
        (orig) =>
          ((fd: number) => {
            (orig as (fd: number) => void)(fd);
            if (!planted) {
              planted = true;
              fs.rmSync(f, { force: true });
              symlinkSync(target, f);
            }
          }) as typeof fs.fsyncSync,
        () => {
          expect(() => writeFileSafely(f, 'new', { overwrite })).toThrow(/symbolic link/);
        },
      );
      expect(planted).toBe(true);
      expect(lstatSync(f).isSymbolicLink()).toBe(true);
    }
    expect(readFileSync(target, 'utf8')).toBe('export SECRET=1\n');
    expect(leftovers(dir)).toEqual([]);
  });

  it('refuses a FIFO, a folder and a device, even with overwrite', () => {
    const dir = tempDir();
    const fifo = join(dir, 'pipe.csv');
    execFileSync('mkfifo', [fifo]);
    expect(() => writeFileSafely(fifo, 'x', { overwrite: true })).toThrow(/pipe\.csv is a FIFO \(named pipe\), not a regular file/);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    const folder = join(dir, 'out.db');
    mkdirSync(folder);
    expect(() => writeFileSafely(folder, 'x', { overwrite: true, suggest: 'starlab-backup.db' })).toThrow(
      `${folder} is a folder; give a file name such as ${join(folder, 'starlab-backup.db')}`,
    );
    expect(() => checkOutputTarget('/dev/null', { overwrite: true })).toThrow(/\/dev\/null is a device, not a regular file/);
    expect(leftovers(dir)).toEqual([]);
  });

  it('leaves neither a partial file nor its temporary file when the write fails', () => {
    const dir = tempDir();
    const f = join(dir, 'fig.pdf');
    writeFileSync(f, 'the old figure');
    const fresh = join(dir, 'new.pdf');
    patchFs(
      'writeSync',
      () =>
        (() => {
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }) as typeof fs.writeSync,
      () => {
        expect(() => writeFileSafely(f, Buffer.alloc(4096, 1), { overwrite: true })).toThrow(/ENOSPC/);
        expect(() => writeFileSafely(fresh, Buffer.alloc(4096, 1))).toThrow(/ENOSPC/);
      },
    );
    expect(readFileSync(f, 'utf8')).toBe('the old figure');
    expect(existsSync(fresh)).toBe(false);
    expect(leftovers(dir)).toEqual([]);
  });
});

describe('writeFilesSafely', () => {
  it('checks every target before writing any: one existing file or link refuses the whole set', () => {
    const target = victim();
    const dir = tempDir();
    writeFileSync(join(dir, 'b.csv'), 'keep');
    expect(() =>
      writeFilesSafely(dir, [
        { name: 'a.svg', data: 'a' },
        { name: 'b.csv', data: 'b' },
      ]),
    ).toThrow(/b\.csv already exists/);
    expect(existsSync(join(dir, 'a.svg'))).toBe(false);
    symlinkSync(target, join(dir, 'c.tex'));
    expect(() =>
      writeFilesSafely(
        dir,
        [
          { name: 'a.svg', data: 'a' },
          { name: 'c.tex', data: 'c' },
        ],
        { overwrite: true },
      ),
    ).toThrow(/c\.tex is a symbolic link/);
    expect(existsSync(join(dir, 'a.svg'))).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('export SECRET=1\n');
    expect(() => writeFilesSafely(dir, [{ name: '../escape.txt', data: 'x' }])).toThrow(/not a plain file name/);
  });

  it('creates the folder, follows a folder link the user named, and refuses a file given as the folder', () => {
    const real = tempDir();
    const link = join(tempDir(), 'figs');
    symlinkSync(real, link);
    expect(writeFilesSafely(link, [{ name: 'a.svg', data: 'a' }])).toEqual([join(link, 'a.svg')]);
    expect(readFileSync(join(real, 'a.svg'), 'utf8')).toBe('a');
    const nested = join(tempDir(), 'x', 'y');
    writeFilesSafely(nested, [{ name: 'a.svg', data: 'a' }]);
    expect(readFileSync(join(nested, 'a.svg'), 'utf8')).toBe('a');
    const file = join(tempDir(), 'notes.txt');
    writeFileSync(file, 'mine');
    expect(() => ensureOutputFolder(file)).toThrow(`${file} exists and is not a folder`);
    expect(readFileSync(file, 'utf8')).toBe('mine');
  });
});

describe('describeFsError', () => {
  const errno = (code: string, path?: string) =>
    Object.assign(new Error(`${code}: raw message, open '${path}'`), { code, ...(path ? { path } : {}) });

  it('turns raw errno codes into one sentence naming the path and what to do', () => {
    const cases: [unknown, Parameters<typeof describeFsError>[1], string][] = [
      [
        errno('EISDIR', '/x'),
        { action: 'write the backup', path: '/x', suggest: 'starlab-backup.db' },
        'cannot write the backup: /x is a folder; give a file name such as /x/starlab-backup.db',
      ],
      [
        errno('EEXIST', '/out'),
        { action: 'export the figures', path: '/out', want: 'folder' },
        'cannot export the figures: /out exists and is not a folder; give a folder (it is created if missing) or remove that file',
      ],
      [
        errno('EEXIST', '/f.tar'),
        { action: 'write the bundle', path: '/f.tar', force: '--force' },
        'cannot write the bundle: /f.tar already exists; choose another name, or pass --force to replace it',
      ],
      [
        errno('ENOENT', '/nope.tar'),
        { action: 'read the bundle', path: '/nope.tar', mode: 'read' },
        'cannot read the bundle: /nope.tar does not exist; check the path',
      ],
      [
        errno('ENOSPC', '/data/runs/r1/config.json'),
        { action: 'start the run', path: '/data/runs', again: 'launch again' },
        'cannot start the run: the disk holding /data/runs is full (ENOSPC); free space and launch again',
      ],
      [
        Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }),
        { action: 'start the run', path: '/data/starlab.db', again: 'launch again' },
        'cannot start the run: the disk holding /data/starlab.db is full (database or disk is full); free space and launch again',
      ],
      [
        Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' }),
        { action: 'write the backup', path: '/b.db' },
        'cannot write the backup: the disk holding /b.db reported an I/O error (disk I/O error); check the disk and try again',
      ],
      [
        errno('EACCES', '/root/x'),
        { action: 'write the bundle', path: '/root/x' },
        'cannot write the bundle: permission denied writing /root/x; choose a location you can write to',
      ],
      [
        errno('ENOTDIR', '/a/file/b'),
        { action: 'write the backup', path: '/a/file/b' },
        'cannot write the backup: a part of /a/file/b is a file, not a folder; choose another location',
      ],
    ];
    for (const [e, ctx, want] of cases) {
      const got = describeFsError(e, ctx)!;
      expect(got).toBe(want);
      expect(got).not.toMatch(/raw message/);
    }
    expect(describeFsError(errno('EROFS', '/ro/x'), { action: 'write the backup' })).toBe(
      'cannot write the backup: /ro/x is on a read-only file system; choose another location',
    );
    expect(describeFsError(new Error('something else'), { action: 'x' })).toBeNull();
    expect(
      describeFsError(new FsProblem('/x is a FIFO (named pipe), not a regular file; choose another name'), { action: 'write the backup' }),
    ).toBe('cannot write the backup: /x is a FIFO (named pipe), not a regular file; choose another name');
  });
});
