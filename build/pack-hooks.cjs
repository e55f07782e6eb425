/**
 * electron-builder hooks (build/electron-builder.yml: beforePack, afterPack).
 *
 * better-sqlite3 in node_modules is built for Node (the tests run on Node's ABI). The app
 * needs it built for the Electron being packed, so beforePack rebuilds it with
 * @electron/rebuild for that Electron version and arch, checks the ABI it was compiled
 * against, and afterPack puts the Node build back (electron-builder copied the Electron
 * build into the app in between). Never in postinstall: that would break the tests.
 *
 * STARLAB_SKIP_NATIVE_REBUILD=1 skips the rebuild, loudly: only for the CI layout check,
 * which packs against a stand-in Electron dist offline (scripts/check-package.ts). An app
 * packed that way has a Node-ABI better-sqlite3 and will not start.
 */
'use strict';
const { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { dirname, join } = require('node:path');

const MODULE = 'better-sqlite3';
const BINARY = join('build', 'Release', 'better_sqlite3.node');
/** electron-builder's Arch enum (builder-util): index → node arch name. */
const ARCH_NAMES = ['ia32', 'x64', 'armv7l', 'arm64', 'universal'];

/** The NODE_MODULE_VERSION Electron `version` expects (node-abi's registry). */
function electronAbi(version) {
  // the node-abi @electron/rebuild itself uses (not a top-level dependency: better-sqlite3's
  // prebuild-install brings an older one into the app's production tree)
  const rebuildDir = dirname(require.resolve('@electron/rebuild'));
  return Number(require(require.resolve('node-abi', { paths: [rebuildDir] })).getAbi(version, 'electron'));
}

/** node_module_version recorded in node-gyp's build/config.gypi, or null. */
function configGypiAbi(text) {
  const m = /"node_module_version"\s*:\s*(\d+)/.exec(text);
  return m ? Number(m[1]) : null;
}

/** Everything the hook needs from electron-builder's PackContext, checked. */
function targetOf(context) {
  const packager = context && context.packager;
  const electronVersion =
    (packager && packager.config && packager.config.electronVersion) ||
    (packager && packager.info && packager.info.framework && packager.info.framework.version);
  if (!electronVersion) throw new Error('beforePack: the packager context names no Electron version (config.electronVersion)');
  const arch = typeof context.arch === 'number' ? ARCH_NAMES[context.arch] : context.arch;
  if (!arch || arch === 'universal')
    throw new Error(`beforePack: cannot rebuild ${MODULE} for arch ${String(arch ?? context.arch)} (pack one arch at a time)`);
  const projectDir = (packager && packager.info && packager.info.projectDir) || process.cwd();
  return { electronVersion, arch, platform: context.electronPlatformName, projectDir };
}

/** Remove what must not steer node-gyp: npm's nodedir (~/.npmrc nodedir=/usr) builds against Node's headers. */
function scrubNodeGypEnv(env) {
  for (const k of Object.keys(env)) if (/^npm_config_(nodedir|target|runtime|disturl|dist_url)$/i.test(k)) delete env[k];
}

const state = { backup: null, moduleDir: null };

async function defaultRebuild(opts) {
  const { rebuild } = await import('@electron/rebuild');
  await rebuild(opts);
}

/**
 * Rebuild better-sqlite3 for the Electron being packed. `deps` lets tests substitute the
 * rebuild and the module directory; electron-builder calls it with the context only.
 */
async function beforePack(context, deps = {}) {
  const log = deps.log || ((m) => console.log(`  • ${m}`));
  if (process.env.STARLAB_SKIP_NATIVE_REBUILD === '1') {
    log(
      `skipping ${MODULE} rebuild for Electron (stand-in dist): STARLAB_SKIP_NATIVE_REBUILD=1, the packed app keeps the Node-ABI build and is for layout checks only`,
    );
    return { skipped: true };
  }
  const t = targetOf(context);
  if (t.platform !== process.platform)
    throw new Error(
      `beforePack: ${MODULE} cannot be cross-compiled: packing for ${t.platform} on ${process.platform}; build each platform on its own OS`,
    );
  const moduleDir = deps.moduleDir || join(t.projectDir, 'node_modules', MODULE);
  const binary = join(moduleDir, BINARY);
  const want = electronAbi(t.electronVersion);

  // Keep the Node build: afterPack (or a failed rebuild, which deletes build/) restores it.
  const backupDir = mkdtempSync(join(tmpdir(), 'starlab-sqlite-node-'));
  if (existsSync(binary)) copyFileSync(binary, join(backupDir, 'better_sqlite3.node'));
  state.backup = existsSync(binary) ? join(backupDir, 'better_sqlite3.node') : null;
  state.moduleDir = moduleDir;

  log(`rebuilding ${MODULE} for Electron ${t.electronVersion} (ABI ${want}) ${t.platform}-${t.arch}`);
  scrubNodeGypEnv(process.env);
  try {
    await (deps.rebuild || defaultRebuild)({
      buildPath: t.projectDir,
      electronVersion: t.electronVersion,
      arch: t.arch,
      platform: t.platform,
      onlyModules: [MODULE],
      force: true,
      buildFromSource: true, // so build/config.gypi records the ABI it was compiled against
      mode: 'sequential',
    });
    const gypi = join(moduleDir, 'build', 'config.gypi');
    const got = existsSync(gypi) ? configGypiAbi(readFileSync(gypi, 'utf8')) : null;
    if (got !== want)
      throw new Error(
        `${MODULE} was compiled for ABI ${got ?? 'unknown'} but Electron ${t.electronVersion} needs ${want} (is npm's nodedir set?)`,
      );
    if (!existsSync(binary)) throw new Error(`${MODULE} rebuild produced no ${BINARY}`);
  } catch (err) {
    restoreNodeBuild(log);
    throw new Error(
      `beforePack: ${MODULE} rebuild for Electron ${t.electronVersion} failed: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return { skipped: false, abi: want };
}

/** Put the Node-ABI binary back so the tests keep working after packaging. */
function restoreNodeBuild(log) {
  if (!state.backup || !state.moduleDir) return false;
  const binary = join(state.moduleDir, BINARY);
  const { mkdirSync } = require('node:fs');
  mkdirSync(join(state.moduleDir, 'build', 'Release'), { recursive: true });
  copyFileSync(state.backup, binary);
  rmSync(join(state.backup, '..'), { recursive: true, force: true });
  log(`restored the Node build of ${MODULE} in node_modules`);
  state.backup = null;
  state.moduleDir = null;
  return true;
}

async function afterPack(_context, deps = {}) {
  restoreNodeBuild(deps.log || ((m) => console.log(`  • ${m}`)));
}

module.exports = { beforePack, afterPack, electronAbi, configGypiAbi, targetOf, scrubNodeGypEnv, ARCH_NAMES };
