/**
 * Packaging: the beforePack/afterPack hooks (build/pack-hooks.cjs) with a substituted
 * rebuild (the real one needs Electron's headers from the network), and the layout checks
 * of scripts/check-package.ts on small hand-made asar archives. The full pack runs in
 * `npm run check:package` (about 10 s), not here.
 */
import { createPackageWithOptions } from '@electron/asar';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXPECTED_FUSES, inspectApp, makeStandInDist, NEVER_PACKED, readFuseWire, type Row } from '../../scripts/check-package';
import { flipFuses, FuseV1Options, FuseVersion } from '@electron/fuses';
import { spawnSync } from 'node:child_process';

type RebuildOpts = Record<string, unknown>;
type Deps = { rebuild?: (o: RebuildOpts) => Promise<void>; moduleDir?: string; log?: (m: string) => void };
const hooks = createRequire(import.meta.url)('../../build/pack-hooks.cjs') as {
  beforePack: (ctx: unknown, deps?: Deps) => Promise<{ skipped: boolean; abi?: number }>;
  afterPack: (ctx: unknown, deps?: Deps) => Promise<void>;
  electronAbi: (v: string) => number;
  configGypiAbi: (t: string) => number | null;
  targetOf: (ctx: unknown) => { electronVersion: string; arch: string; platform: string; projectDir: string };
};

const BINARY = 'build/Release/better_sqlite3.node';

describe('build/pack-hooks.cjs', () => {
  let work: string;
  let moduleDir: string;
  let logs: string[];
  const saved = { ...process.env };
  const ctx = (over: Record<string, unknown> = {}) => ({
    packager: { config: { electronVersion: '45.5.0' }, info: { projectDir: work } },
    electronPlatformName: process.platform,
    arch: 1, // Arch.x64
    ...over,
  });
  const binary = () => readFileSync(join(moduleDir, BINARY), 'utf8');

  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'starlab-hooks-'));
    moduleDir = join(work, 'node_modules', 'better-sqlite3');
    mkdirSync(join(moduleDir, 'build', 'Release'), { recursive: true });
    writeFileSync(join(moduleDir, BINARY), 'node build');
    logs = [];
    delete process.env['STARLAB_SKIP_NATIVE_REBUILD'];
  });
  afterEach(() => {
    process.env = { ...saved };
    rmSync(work, { recursive: true, force: true });
  });

  /** A rebuild that leaves what node-gyp would: config.gypi recording the ABI, and the binary. */
  const fakeRebuild = (abi: number, calls: RebuildOpts[]) => async (o: RebuildOpts) => {
    calls.push({ ...o, nodedir: process.env['npm_config_nodedir'] });
    writeFileSync(join(moduleDir, 'build', 'config.gypi'), `{ "variables": { "node_module_version": ${abi}, "target": "45.5.0" } }`);
    writeFileSync(join(moduleDir, BINARY), `electron build abi ${abi}`);
  };

  it('knows the ABI of the Electron in node_modules and reads the one node-gyp compiled for', () => {
    expect(hooks.electronAbi('45.5.0')).toBe(150);
    expect(hooks.electronAbi('40.1.0')).toBe(143);
    expect(hooks.configGypiAbi('{"variables": {\n "node_module_version": 115,\n "napi": 9}}')).toBe(115);
    expect(hooks.configGypiAbi('{}')).toBeNull();
  });

  it('reads version, arch and platform from the packager context', () => {
    expect(hooks.targetOf(ctx({ arch: 3, electronPlatformName: 'darwin' }))).toEqual({
      electronVersion: '45.5.0',
      arch: 'arm64',
      platform: 'darwin',
      projectDir: work,
    });
    const framework = {
      packager: { config: {}, info: { projectDir: work, framework: { version: '44.0.1' } } },
      electronPlatformName: 'linux',
      arch: 0,
    };
    expect(hooks.targetOf(framework)).toMatchObject({ electronVersion: '44.0.1', arch: 'ia32' });
    expect(() => hooks.targetOf({ packager: { config: {}, info: {} }, arch: 1 })).toThrow(/names no Electron version/);
    expect(() => hooks.targetOf(ctx({ arch: 4 }))).toThrow(/arch universal/);
  });

  it('rebuilds better-sqlite3 for the packed Electron, without npm nodedir, and afterPack puts the Node build back', async () => {
    process.env['npm_config_nodedir'] = '/usr';
    const calls: RebuildOpts[] = [];
    const r = await hooks.beforePack(ctx(), { rebuild: fakeRebuild(150, calls), moduleDir, log: (m) => logs.push(m) });
    expect(r).toEqual({ skipped: false, abi: 150 });
    expect(calls).toEqual([
      {
        buildPath: work,
        electronVersion: '45.5.0',
        arch: 'x64',
        platform: process.platform,
        onlyModules: ['better-sqlite3'],
        force: true,
        buildFromSource: true,
        mode: 'sequential',
        nodedir: undefined,
      },
    ]);
    expect(binary()).toBe('electron build abi 150'); // what electron-builder copies into the app
    expect(logs[0]).toBe(`rebuilding better-sqlite3 for Electron 45.5.0 (ABI 150) ${process.platform}-x64`);
    await hooks.afterPack(ctx(), { log: (m) => logs.push(m) });
    expect(binary()).toBe('node build');
    expect(logs.at(-1)).toMatch(/restored the Node build/);
  });

  it('fails the pack when the module was compiled for the wrong ABI, restoring the Node build', async () => {
    const calls: RebuildOpts[] = [];
    await expect(hooks.beforePack(ctx(), { rebuild: fakeRebuild(115, calls), moduleDir, log: (m) => logs.push(m) })).rejects.toThrow(
      /better-sqlite3 was compiled for ABI 115 but Electron 45\.5\.0 needs 150/,
    );
    expect(binary()).toBe('node build');
    // a rebuild that throws (no network for the headers) and took build/ with it
    const failing = async () => {
      rmSync(join(moduleDir, 'build'), { recursive: true });
      throw new Error('getaddrinfo ENOTFOUND www.electronjs.org');
    };
    await expect(hooks.beforePack(ctx(), { rebuild: failing, moduleDir, log: (m) => logs.push(m) })).rejects.toThrow(
      /rebuild for Electron 45\.5\.0 failed: getaddrinfo ENOTFOUND/,
    );
    expect(binary()).toBe('node build');
  });

  it('refuses to cross-compile', async () => {
    const calls: RebuildOpts[] = [];
    const other = process.platform === 'win32' ? 'darwin' : 'win32';
    await expect(hooks.beforePack(ctx({ electronPlatformName: other }), { rebuild: fakeRebuild(150, calls), moduleDir })).rejects.toThrow(
      new RegExp(`cannot be cross-compiled: packing for ${other} on ${process.platform}`),
    );
    expect(calls).toHaveLength(0);
  });

  it('skips only by the explicit switch, and says so', async () => {
    process.env['STARLAB_SKIP_NATIVE_REBUILD'] = '1';
    const calls: RebuildOpts[] = [];
    await expect(hooks.beforePack(ctx(), { rebuild: fakeRebuild(150, calls), moduleDir, log: (m) => logs.push(m) })).resolves.toEqual({
      skipped: true,
    });
    expect(calls).toHaveLength(0);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^skipping better-sqlite3 rebuild for Electron \(stand-in dist\): STARLAB_SKIP_NATIVE_REBUILD=1/);
    expect(binary()).toBe('node build');
    // any other value is not the switch
    process.env['STARLAB_SKIP_NATIVE_REBUILD'] = 'yes';
    await expect(hooks.beforePack(ctx(), { rebuild: fakeRebuild(150, calls), moduleDir, log: (m) => logs.push(m) })).resolves.toMatchObject(
      { skipped: false },
    );
    expect(calls).toHaveLength(1);
    await hooks.afterPack(ctx(), { log: () => {} });
  });
});

describe('scripts/check-package.ts layout checks', () => {
  let work: string;
  const pkg = { dependencies: { 'better-sqlite3': '^12', zod: '^4' }, devDependencies: { react: '^19', vitest: '^4' } };

  /** A linux-unpacked directory whose app.asar holds `files` (*.node unpacked). */
  async function makeApp(files: Record<string, string>, experiments = true): Promise<string> {
    const src = join(work, 'src');
    rmSync(src, { recursive: true, force: true });
    for (const [p, text] of Object.entries(files)) {
      mkdirSync(dirname(join(src, p)), { recursive: true });
      writeFileSync(join(src, p), text);
    }
    const app = join(work, 'linux-unpacked');
    rmSync(app, { recursive: true, force: true });
    mkdirSync(join(app, 'resources'), { recursive: true });
    await createPackageWithOptions(src, join(app, 'resources', 'app.asar'), { unpack: '*.node' });
    if (experiments) {
      mkdirSync(join(app, 'resources', 'experiments', 'starlab'), { recursive: true });
      writeFileSync(join(app, 'resources', 'experiments', 'starlab', '__init__.py'), '');
      writeFileSync(join(app, 'resources', 'experiments', 'requirements.txt'), 'torch\n');
    }
    return app;
  }
  const good: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'starlab', main: 'out/main/index.js', dependencies: pkg.dependencies }),
    'out/main/index.js': 'x',
    'out/main/service-host.js': 'x',
    'out/main/integrity-worker.js': 'x',
    'out/preload/index.cjs': 'x',
    'out/renderer/index.html': 'x',
    'node_modules/better-sqlite3/package.json': '{}',
    'node_modules/better-sqlite3/build/Release/better_sqlite3.node': 'binary',
    'node_modules/zod/package.json': '{}',
  };
  const failed = (rows: Row[]) => rows.filter((r) => !r.ok).map((r) => `${r.check}: ${r.detail}`);

  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'starlab-layout-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('passes a good layout', async () => {
    const app = await makeApp(good);
    expect(existsSync(join(app, 'resources', 'app.asar.unpacked', 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'))).toBe(
      true,
    );
    const { rows, entries } = inspectApp(app, pkg);
    expect(failed(rows)).toEqual([]);
    expect(entries.find((e) => e.path.endsWith('better_sqlite3.node'))).toMatchObject({ unpacked: true, size: 6 });
  });

  it('fails on dev dependencies, strays, maps, a missing app file and a dev field in package.json', async () => {
    const { 'out/preload/index.cjs': _dropped, ...rest } = good;
    const app = await makeApp({
      ...rest,
      'package.json': JSON.stringify({ name: 'starlab', devDependencies: {} }),
      'node_modules/react/package.json': '{}',
      'node_modules/@electron/rebuild/package.json': '{}',
      'electron/main.ts': 'source',
      'out/main/index.js.map': '{}',
    });
    expect(failed(inspectApp(app, pkg).rows)).toEqual([
      'built app inside: missing: out/preload/index.cjs',
      'nothing but out/, package.json, node_modules: stray: electron/main.ts',
      'no source maps: out/main/index.js.map',
      `no devDependencies: inside: react, @electron/rebuild`,
      'packed package.json has no devDependencies/scripts: has devDependencies',
    ]);
    expect(NEVER_PACKED).toContain('@electron/rebuild');
  });

  it('fails when the native module is packed inside the asar, another one sneaks in, or a dependency is missing', async () => {
    const { 'node_modules/zod/package.json': _z, ...rest } = good;
    const app = await makeApp({ ...rest, 'node_modules/better-sqlite3/build/Release/test_extension.node': 'x' }, false);
    const rows = inspectApp(app, pkg).rows;
    expect(failed(rows)).toEqual([
      'only the app’s native modules, all unpacked: node_modules/better-sqlite3/build/Release/test_extension.node',
      'every dependency inside: missing: zod',
      expect.stringMatching(/^experiments\/ in resources: .* incomplete/),
    ]);
    rmSync(join(app, 'resources', 'app.asar.unpacked'), { recursive: true });
    expect(failed(inspectApp(app, pkg).rows)[0]).toMatch(/^better_sqlite3\.node unpacked: .* missing$/);
  });

  it('fails over the size limit', async () => {
    const app = await makeApp({ ...good, 'out/renderer/big.js': 'x'.repeat(300_000) });
    expect(failed(inspectApp(app, pkg, 0.2).rows)).toEqual([expect.stringMatching(/^app\.asar size: 0\.3 MB \(limit 0\.2 MB\)$/)]);
  });
});

describe('stand-in Electron dist', () => {
  it('refuses to run, and carries a stock fuse wire that @electron/fuses can flip to the expected one', async () => {
    const dir = makeStandInDist(mkdtempSync(join(tmpdir(), 'starlab-dist-')), '45.5.0');
    const exe = join(dir, 'electron');
    expect(readFileSync(join(dir, 'version'), 'utf8')).toBe('v45.5.0');
    const run = spawnSync(exe, [], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/stand-in Electron dist/);
    expect(readFuseWire(readFileSync(exe))).toBe('10110001');
    await flipFuses(exe, {
      version: FuseVersion.V1,
      [FuseV1Options.RunAsNode]: false,
      [FuseV1Options.EnableCookieEncryption]: true,
      [FuseV1Options.EnableNodeOptionsEnvironmentVariable]: false,
      [FuseV1Options.EnableNodeCliInspectArguments]: false,
      [FuseV1Options.OnlyLoadAppFromAsar]: true,
    });
    expect(readFuseWire(readFileSync(exe))).toBe(EXPECTED_FUSES);
    expect(readFuseWire(Buffer.from('no wire here'))).toBeNull();
    rmSync(dir, { recursive: true, force: true });
  });
});
