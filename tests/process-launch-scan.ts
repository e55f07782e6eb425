/**
 * Static check that no source launches a process through a shell: every child process is
 * started with a program and an argument array (spawn/execFile/fork), never `exec`/`execSync`
 * (which always go through /bin/sh or cmd.exe), never with `shell:` enabled, never with a
 * command line written as one string. Parsed with the TypeScript compiler, so `regex.exec()`
 * or `db.exec(sql)` are not confused with child_process.exec.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

export type Finding = { file: string; line: number; problem: string };

const CHILD_PROCESS = new Set(['child_process', 'node:child_process']);
/** child_process functions that always run their first argument through a shell. */
const SHELL_ALWAYS = new Set(['exec', 'execSync']);
/** child_process functions that take (program, args[], options). */
const ARGV_CALLS = new Set(['spawn', 'spawnSync', 'execFile', 'execFileSync', 'fork']);

function isChildProcessSpecifier(node: ts.Node | undefined): boolean {
  return !!node && ts.isStringLiteralLike(node) && CHILD_PROCESS.has(node.text);
}

function isRequireOfChildProcess(node: ts.Expression | undefined): boolean {
  return (
    !!node &&
    ts.isCallExpression(node) &&
    ts.isIdentifier(node.expression) &&
    node.expression.text === 'require' &&
    isChildProcessSpecifier(node.arguments[0])
  );
}

/** A string written in the source (literal or template) that holds a space: a command line. */
function isCommandLineString(node: ts.Expression): boolean {
  if (ts.isStringLiteralLike(node)) return /\s/.test(node.text);
  if (ts.isTemplateExpression(node)) return true; // built by interpolation: a command line, not a program path
  return false;
}

export function scanSource(code: string, file = 'source.ts'): Finding[] {
  const sf = ts.createSourceFile(file, code, ts.ScriptTarget.Latest, true, file.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const findings: Finding[] = [];
  const add = (node: ts.Node, problem: string): void => {
    findings.push({ file, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1, problem });
  };
  /** local name → child_process member it stands for */
  const members = new Map<string, string>();
  /** local names bound to the whole module (import * as cp, import cp, const cp = require(...)) */
  const modules = new Set<string>();

  // Pass 1: bindings.
  const bind = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && isChildProcessSpecifier(node.moduleSpecifier) && node.importClause) {
      const c = node.importClause;
      if (c.name) modules.add(c.name.text);
      const nb = c.namedBindings;
      if (nb && ts.isNamespaceImport(nb)) modules.add(nb.name.text);
      if (nb && ts.isNamedImports(nb)) for (const el of nb.elements) members.set(el.name.text, (el.propertyName ?? el.name).text);
    }
    if (ts.isVariableDeclaration(node) && isRequireOfChildProcess(node.initializer)) {
      if (ts.isIdentifier(node.name)) modules.add(node.name.text);
      else if (ts.isObjectBindingPattern(node.name))
        for (const el of node.name.elements)
          if (ts.isIdentifier(el.name))
            members.set(el.name.text, el.propertyName && ts.isIdentifier(el.propertyName) ? el.propertyName.text : el.name.text);
    }
    ts.forEachChild(node, bind);
  };
  bind(sf);

  const memberCalled = (callee: ts.Expression): string | undefined => {
    if (ts.isIdentifier(callee)) return members.get(callee.text);
    if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && modules.has(callee.expression.text))
      return callee.name.text;
    if (ts.isPropertyAccessExpression(callee) && isRequireOfChildProcess(callee.expression)) return callee.name.text;
    return undefined;
  };

  // Pass 2: calls and options.
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node)) {
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword && isChildProcessSpecifier(node.arguments[0]))
        add(node, 'dynamic import of child_process: import it statically so its use can be checked');
      const m = memberCalled(node.expression);
      if (m && SHELL_ALWAYS.has(m)) add(node, `child_process.${m} runs a shell command string: use execFile/spawn with an argument array`);
      if (m && ARGV_CALLS.has(m)) {
        const [program, args] = node.arguments;
        if (program && isCommandLineString(program))
          add(program, `child_process.${m} given a command line as one string: pass the program and an argument array`);
        if (args && (ts.isStringLiteralLike(args) || ts.isTemplateExpression(args)))
          add(args, `child_process.${m} given its arguments as a string: pass an array`);
      }
    }
    // `shell: <anything but false>` in any options object, also `{ shell }`
    if (ts.isPropertyAssignment(node) && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name)) && node.name.text === 'shell') {
      if (node.initializer.kind !== ts.SyntaxKind.FalseKeyword)
        add(node, 'a `shell` option other than false: processes are started without a shell');
    }
    if (ts.isShorthandPropertyAssignment(node) && node.name.text === 'shell')
      add(node, 'a `shell` option other than false: processes are started without a shell');
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return findings;
}

const SOURCE_EXT = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/;

/** Every source file under `dirs` (relative to `root`), skipping node_modules and build output. */
export function sourceFiles(root: string, dirs: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name === 'out' || name.startsWith('.')) continue;
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (SOURCE_EXT.test(name) && !name.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const d of dirs) walk(join(root, d));
  return out.sort();
}

export function scanTree(root: string, dirs: readonly string[]): { files: string[]; findings: Finding[] } {
  const files = sourceFiles(root, dirs);
  const findings = files.flatMap((f) => scanSource(readFileSync(f, 'utf8'), relative(root, f)));
  return { files, findings };
}
