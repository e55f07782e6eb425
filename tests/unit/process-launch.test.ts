/**
 * No process is launched through a shell anywhere in the app's sources (see
 * tests/process-launch-scan.ts). The scanner is tested on samples first, so a clean tree
 * means something.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanSource, scanTree } from '../process-launch-scan';

const root = resolve(import.meta.dirname, '../..');
const problems = (code: string): string[] => scanSource(code).map((f) => `${f.line}: ${f.problem}`);

describe('process-launch scanner', () => {
  it('flags exec/execSync however child_process is imported', () => {
    expect(problems(`import { exec } from 'node:child_process';\nexec('ls -la');`)).toEqual([
      '2: child_process.exec runs a shell command string: use execFile/spawn with an argument array',
    ]);
    expect(problems(`import cp from 'child_process';\ncp.execSync(cmd);`)).toHaveLength(1);
    expect(problems(`import * as cp from 'node:child_process';\n\ncp.exec(x, cb);`)[0]).toMatch(/^3: child_process\.exec /);
    expect(problems(`import { exec as run } from 'node:child_process';\nrun(cmd);`)).toHaveLength(1);
    expect(problems(`const { execSync: sh } = require('child_process');\nsh('make');`)).toHaveLength(1);
    expect(problems(`const cp = require('node:child_process');\ncp.exec('x');`)).toHaveLength(1);
    expect(problems(`require('child_process').exec('x');`)).toHaveLength(1);
  });

  it('flags a shell option and command lines written as one string', () => {
    expect(problems(`import { spawn } from 'node:child_process';\nspawn('python', ['a.py'], { shell: true });`)).toEqual([
      '2: a `shell` option other than false: processes are started without a shell',
    ]);
    expect(problems(`const o = { shell: '/bin/bash' };`)).toHaveLength(1);
    expect(problems(`const shell = true; f({ shell });`)).toHaveLength(1);
    expect(problems(`import { spawn } from 'node:child_process';\nspawn('python train.py --fast');`)).toEqual([
      '2: child_process.spawn given a command line as one string: pass the program and an argument array',
    ]);
    expect(problems('import { execFile } from "child_process";\nexecFile(`${py} -m starlab`, cb);')).toHaveLength(1);
    expect(problems(`import { spawnSync } from 'node:child_process';\nspawnSync('git', 'status --short');`)).toEqual([
      '2: child_process.spawnSync given its arguments as a string: pass an array',
    ]);
    expect(problems(`const cp = await import('node:child_process');`)[0]).toMatch(/dynamic import of child_process/);
  });

  it('accepts programs with argument arrays and unrelated exec methods', () => {
    const ok = [
      `import { spawn, execFile } from 'node:child_process';`,
      `spawn(cmd.command, cmd.args, { cwd, detached: true, shell: false });`,
      `spawn('python', ['-m', 'starlab.train', '--config', 'a b.json']);`,
      `execFile(python, args, { timeout: 1000 }, cb);`,
      `const m = /^(\\d+)$/.exec(s); db.exec('CREATE TABLE t (x)'); utilityProcess.fork(path, args);`,
      // (a sample for the scanner, split so no "imports electron in a test" check mistakes it for one)
      `import { shell } from 'elec` + `tron'; void shell.openExternal(url);`,
    ].join('\n');
    expect(problems(ok)).toEqual([]);
    // a local function called exec is not child_process.exec
    expect(problems(`function exec(s: string) { return s; }\nexec('ls -la');`)).toEqual([]);
  });
});

describe('the app sources', () => {
  it('launch no process through a shell', () => {
    const dirs = ['core', 'electron', 'server', 'cli', 'shared', 'bin', 'scripts'].filter((d) => existsSync(resolve(root, d)));
    expect(dirs).toEqual(expect.arrayContaining(['core', 'electron', 'server', 'cli']));
    const { files, findings } = scanTree(root, dirs);
    // the tree really was read: the supervisor's spawn and the dataset preparation's execFile are in it
    expect(files.map((f) => f.slice(root.length + 1))).toEqual(
      expect.arrayContaining(['core/local-executor.ts', 'core/datasets.ts', 'electron/main.ts']),
    );
    expect(findings.map((f) => `${f.file}:${f.line}: ${f.problem}`)).toEqual([]);
  });
});
