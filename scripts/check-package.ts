/**
 * CI check of the packaged app's layout, offline: packs `electron-builder --dir --linux`
 * against a stand-in Electron dist (no Electron binary can be downloaded here), with the
 * native rebuild explicitly skipped (STARLAB_SKIP_NATIVE_REBUILD=1, see build/pack-hooks.cjs),
 * then opens resources/app.asar and checks what is inside: the built app, the production
 * dependencies and nothing else; better-sqlite3's binary unpacked; experiments/ beside it;
 * and that every package out/main imports loads from the packed copy.
 *
 *   node --import tsx scripts/check-package.ts [--keep] [--max-asar-mb N]
 *
 * Run `npx electron-vite build` first. Exits 1 when a check fails.
 */
import { extractAll, extractFile, getRawHeader } from '@electron/asar';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(import.meta.dirname, '..');
/** app.asar holds out/ (~2.5 MB) and the production node_modules (~10 MB); 90 MB is what leaking React & co. into dependencies did. */
export const DEFAULT_MAX_ASAR_MB = 20;
/** Packages that must never be in the app even if someone moves them to dependencies. */
export const NEVER_PACKED = [
  'electron',
  'electron-builder',
  'electron-vite',
  'vite',
  'vitest',
  'react',
  'react-dom',
  'recharts',
  'typescript',
  'playwright-core',
  'tsx',
  'fast-check',
  '@electron/rebuild',
];
/** The native modules the app may carry, all unpacked. */
const ALLOWED_NATIVE = [
  /^node_modules\/better-sqlite3\/build\/Release\/better_sqlite3\.node$/,
  /^node_modules\/@resvg\/resvg-js-[^/]+\/[^/]+\.node$/,
];

export type Row = { check: string; ok: boolean; detail: string };
type Entry = { path: string; size: number; unpacked: boolean };
type Header = { files?: Record<string, Header>; size?: number | string; unpacked?: boolean; link?: string };

/** Every file in an asar, with its size and whether it lives in app.asar.unpacked. */
export function asarEntries(asarPath: string): Entry[] {
  const out: Entry[] = [];
  const walk = (node: Header, prefix: string): void => {
    for (const [name, child] of Object.entries(node.files ?? {})) {
      const p = prefix ? `${prefix}/${name}` : name;
      if (child.files) walk(child, p);
      else if (child.link === undefined) out.push({ path: p, size: Number(child.size ?? 0), unpacked: child.unpacked === true });
    }
  };
  walk(getRawHeader(asarPath).header as Header, '');
  return out;
}

type ProjectPackage = { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };

/** The checks on an unpacked app directory (release/linux-unpacked). */
export function inspectApp(appOutDir: string, pkg: ProjectPackage, maxAsarMb = DEFAULT_MAX_ASAR_MB): { rows: Row[]; entries: Entry[] } {
  const rows: Row[] = [];
  const add = (check: string, ok: boolean, detail: string): void => void rows.push({ check, ok, detail });
  const resources = join(appOutDir, 'resources');
  const asarPath = join(resources, 'app.asar');
  if (!existsSync(asarPath)) {
    add('app.asar exists', false, `${asarPath} is missing`);
    return { rows, entries: [] };
  }
  const asarMb = statSync(asarPath).size / 1e6;
  add('app.asar size', asarMb <= maxAsarMb, `${asarMb.toFixed(1)} MB (limit ${maxAsarMb} MB)`);
  const entries = asarEntries(asarPath);
  const has = new Set(entries.map((e) => e.path));

  const required = [
    'package.json',
    'out/main/index.js',
    'out/main/service-host.js',
    'out/main/integrity-worker.js',
    'out/preload/index.cjs',
    'out/renderer/index.html',
  ];
  const missing = required.filter((p) => !has.has(p));
  add('built app inside', missing.length === 0, missing.length ? `missing: ${missing.join(', ')}` : required.join(', '));

  const stray = entries.filter((e) => !/^(out\/|node_modules\/|package\.json$)/.test(e.path)).map((e) => e.path);
  add('nothing but out/, package.json, node_modules', stray.length === 0, stray.length ? `stray: ${stray.slice(0, 5).join(', ')}` : 'ok');
  const maps = entries.filter((e) => e.path.endsWith('.map')).map((e) => e.path);
  add('no source maps', maps.length === 0, maps.length ? maps.slice(0, 3).join(', ') : 'ok');

  const sqlite = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
  const sqliteEntry = entries.find((e) => e.path === sqlite);
  const onDisk = join(resources, 'app.asar.unpacked', sqlite);
  add(
    'better_sqlite3.node unpacked',
    !!sqliteEntry?.unpacked && existsSync(onDisk),
    existsSync(onDisk) ? `app.asar.unpacked/${sqlite} (${(statSync(onDisk).size / 1e6).toFixed(1)} MB)` : `${onDisk} missing`,
  );
  const natives = entries.filter((e) => e.path.endsWith('.node'));
  const badNative = natives.filter((e) => !e.unpacked || !ALLOWED_NATIVE.some((r) => r.test(e.path))).map((e) => e.path);
  add(
    'only the app’s native modules, all unpacked',
    badNative.length === 0,
    badNative.length ? badNative.join(', ') : natives.map((e) => e.path.split('/').pop()).join(', '),
  );

  const packages = new Set(entries.map((e) => /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(e.path)?.[1]).filter((x): x is string => !!x));
  const dev = [...new Set([...Object.keys(pkg.devDependencies ?? {}), ...NEVER_PACKED])].filter(
    (d) => !(pkg.dependencies ?? {})[d] || NEVER_PACKED.includes(d),
  );
  const leaked = dev.filter((d) => packages.has(d));
  add(
    'no devDependencies',
    leaked.length === 0,
    leaked.length ? `inside: ${leaked.join(', ')}` : `${dev.length} checked, ${packages.size} packages inside`,
  );
  const prod = Object.keys(pkg.dependencies ?? {});
  const absent = prod.filter((d) => !has.has(`node_modules/${d}/package.json`));
  add('every dependency inside', absent.length === 0, absent.length ? `missing: ${absent.join(', ')}` : prod.join(', '));

  if (has.has('package.json')) {
    const packedPkg = JSON.parse(extractFile(asarPath, 'package.json').toString('utf8')) as Record<string, unknown>;
    const extra = ['devDependencies', 'scripts'].filter((k) => k in packedPkg);
    add(
      'packed package.json has no devDependencies/scripts',
      extra.length === 0,
      extra.length ? `has ${extra.join(', ')}` : `main: ${String(packedPkg['main'])}`,
    );
  }

  const exp = join(resources, 'experiments');
  const pycache = existsSync(exp) ? readdirSync(exp, { recursive: true, encoding: 'utf8' }).filter((p) => p.includes('__pycache__')) : [];
  const expOk = existsSync(join(exp, 'starlab', '__init__.py')) && existsSync(join(exp, 'requirements.txt')) && pycache.length === 0;
  add('experiments/ in resources', expOk, expOk ? 'starlab/, requirements.txt, no __pycache__' : `${exp} incomplete or has __pycache__`);
  return { rows, entries };
}

/** Load every bare import of out/main from the packed copy (extracted), as the app would. */
export function loadFromPackage(appOutDir: string, work: string): Row {
  const dir = join(work, 'extracted');
  extractAll(join(appOutDir, 'resources', 'app.asar'), dir); // copies the unpacked files too
  const script = `
    import { createRequire } from 'node:module';
    const req = createRequire(${JSON.stringify(join(dir, 'out/main/index.js'))});
    const Database = req('better-sqlite3');
    const db = new Database(':memory:');
    if (db.prepare('select 6*7 as x').get().x !== 42) throw new Error('sqlite answered wrong');
    const { jsPDF } = req('jspdf');
    const pdf = new jsPDF().text('x', 10, 10).output('arraybuffer');
    if (pdf.byteLength < 500) throw new Error('jspdf made no pdf');
    const { Resvg } = req('@resvg/resvg-js');
    const png = new Resvg('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>').render().asPng();
    if (png.length < 50) throw new Error('resvg made no png');
    req('zod'); req('commander');
    console.log('ok');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  const ok = r.status === 0 && r.stdout.trim() === 'ok';
  return {
    check: 'packed dependencies load (Node ABI copy)',
    ok,
    detail: ok ? 'better-sqlite3, jspdf, @resvg/resvg-js, zod, commander' : (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | '),
  };
}

/** @electron/fuses' marker before the fuse wire in an Electron binary. */
const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
/** Electron's own defaults, V1 wire: RunAsNode, CookieEncryption, NodeOptions, CliInspect, AsarIntegrity, OnlyFromAsar, V8Snapshot, FileProtocolPrivileges. */
const STOCK_FUSES = '10110001';
/** What build/electron-builder.yml's electronFuses must leave in the packed binary ('0' off, '1' on). */
export const EXPECTED_FUSES = '01000101';

/** The fuse wire of a binary as '0'/'1' characters. */
export function readFuseWire(binary: Buffer): string | null {
  const at = binary.indexOf(FUSE_SENTINEL);
  if (at < 0) return null;
  const p = at + FUSE_SENTINEL.length;
  const length = binary[p + 1] ?? 0;
  return binary.subarray(p + 2, p + 2 + length).toString('latin1');
}

/**
 * A stand-in for an Electron dist: what electron-builder copies for --dir on Linux. The
 * "binary" is a shell script that refuses to run, carrying a fuse wire after its exit so
 * that electron-builder's fuse flipping has something real to flip.
 */
export function makeStandInDist(dir: string, version: string): string {
  mkdirSync(join(dir, 'resources'), { recursive: true });
  const script = '#!/bin/sh\necho "stand-in Electron dist: layout check only" >&2\nexit 1\n';
  writeFileSync(
    join(dir, 'electron'),
    Buffer.concat([
      Buffer.from(`${script}# `),
      Buffer.from(FUSE_SENTINEL),
      Buffer.from([1, STOCK_FUSES.length]),
      Buffer.from(`${STOCK_FUSES}\n`),
    ]),
  );
  chmodSync(join(dir, 'electron'), 0o755);
  writeFileSync(join(dir, 'version'), `v${version}`);
  writeFileSync(join(dir, 'LICENSE'), 'stand-in for the Electron LICENSE\n');
  return dir;
}

function table(rows: Row[]): string {
  const w = Math.max(...rows.map((r) => r.check.length));
  return rows.map((r) => `${r.ok ? 'PASS' : 'FAIL'}  ${r.check.padEnd(w)}  ${r.detail}`).join('\n');
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const keep = argv.includes('--keep');
  const i = argv.indexOf('--max-asar-mb');
  const maxMb = i >= 0 ? Number(argv[i + 1]) : DEFAULT_MAX_ASAR_MB;
  if (!Number.isFinite(maxMb) || maxMb <= 0) throw new Error(`--max-asar-mb: a positive number, got ${argv[i + 1]}`);
  if (!existsSync(join(ROOT, 'out/main/index.js'))) throw new Error('out/main/index.js is missing: run "npx electron-vite build" first');

  const electronVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules/electron/package.json'), 'utf8')) as { version: string })
    .version;
  const work = mkdtempSync(join(tmpdir(), 'starlab-package-'));
  const dist = makeStandInDist(join(work, 'electron-dist'), electronVersion);
  const output = join(work, 'release');
  const t0 = performance.now();
  const args = [
    join(ROOT, 'node_modules/electron-builder/cli.js'),
    '--dir',
    '--linux',
    '--x64',
    '--config',
    'build/electron-builder.yml',
    `-c.electronDist=${dist}`,
    `-c.electronVersion=${electronVersion}`,
    `-c.directories.output=${output}`,
  ];
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, STARLAB_SKIP_NATIVE_REBUILD: '1', CSC_IDENTITY_AUTO_DISCOVERY: 'false' },
    timeout: 300_000,
  });
  const packSeconds = (performance.now() - t0) / 1000;
  const log = `${r.stdout}${r.stderr}`;
  const rows: Row[] = [];
  rows.push({
    check: 'electron-builder --dir',
    ok: r.status === 0,
    detail: `exit ${r.status ?? r.signal}, ${packSeconds.toFixed(1)} s, Electron ${electronVersion} (stand-in dist)`,
  });
  rows.push({
    check: 'native rebuild skipped by the explicit switch',
    ok: log.includes('skipping better-sqlite3 rebuild for Electron (stand-in dist)'),
    detail: 'STARLAB_SKIP_NATIVE_REBUILD=1',
  });
  const appOutDir = join(output, 'linux-unpacked');
  if (r.status === 0) {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as ProjectPackage;
    const { rows: layout, entries } = inspectApp(appOutDir, pkg, maxMb);
    rows.push(...layout);
    const exe = join(appOutDir, 'starlab');
    const wire = existsSync(exe) ? readFuseWire(readFileSync(exe)) : null;
    rows.push({
      check: 'Electron fuses flipped',
      ok: wire === EXPECTED_FUSES,
      detail: `wire ${wire ?? 'missing'} (want ${EXPECTED_FUSES}: RunAsNode, NODE_OPTIONS, --inspect off; cookie encryption, app only from asar on)`,
    });
    if (layout.every((x) => x.ok)) rows.push(loadFromPackage(appOutDir, work));
    const biggest = Object.entries(
      entries
        .filter((e) => !e.unpacked)
        .reduce<Record<string, number>>((acc, e) => {
          const k = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(e.path)?.[1] ?? e.path.split('/').slice(0, 2).join('/');
          acc[k] = (acc[k] ?? 0) + e.size;
          return acc;
        }, {}),
    )
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6);
    console.log(`largest in app.asar: ${biggest.map(([k, v]) => `${k} ${(v / 1e6).toFixed(1)} MB`).join(', ')}`);
  } else {
    console.error(log.split('\n').slice(-30).join('\n'));
  }
  const total = (performance.now() - t0) / 1000;
  console.log(table(rows));
  const failed = rows.filter((x) => !x.ok).length;
  console.log(`${failed ? `${failed} check(s) FAILED` : 'package layout OK'} in ${total.toFixed(1)} s${keep ? `; kept ${work}` : ''}`);
  if (!keep) rmSync(work, { recursive: true, force: true });
  return failed ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      console.error(`check-package: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
