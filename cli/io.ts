/** The CLI's output conventions: stdout for results, stderr for messages, field errors, exit statuses. */
import { Option } from 'commander';
import type { FieldError } from '../shared/experiment-config';

/** Exit status for a refused (invalid) launch. */
export const EXIT_INVALID = 2;

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}
export function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
}

export function printFieldErrors(errors: FieldError[]): void {
  for (const e of errors) err(`error: ${e.field}: ${e.message}`);
}

/** Refuse a command's input: the field errors (also as JSON with --json) and exit status EXIT_INVALID. */
export function refuse(errors: FieldError[], json: boolean | undefined): void {
  if (json) out(JSON.stringify({ ok: false, errors }));
  printFieldErrors(errors);
  process.exitCode = EXIT_INVALID;
}

/** A command's failure as the service said it: `starlab: <message>` (and the answer as JSON with --json), exit status 1. */
export function fail(r: { ok: false; message: string }, json: boolean | undefined): void {
  if (json) out(JSON.stringify(r));
  err(`starlab: ${r.message}`);
  process.exitCode = 1;
}

/** commander's collector for a repeatable option. */
export function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export const dataDirOption = () =>
  new Option('--data-dir <dir>', 'data directory (default: $STARLAB_DATA_DIR or the platform app-data dir)');

export const fmtTime = (t: number | null) => (t == null ? '-' : new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19));
export const fmtNum = (v: number | null | undefined, digits = 4) => (v == null ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(digits));

export function fmtBytes(n: number): string {
  return n < 1024
    ? `${n} B`
    : n < 2 ** 20
      ? `${(n / 1024).toFixed(1)} KiB`
      : n < 2 ** 30
        ? `${(n / 2 ** 20).toFixed(1)} MiB`
        : `${(n / 2 ** 30).toFixed(2)} GiB`;
}
