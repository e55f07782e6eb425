/**
 * Saving exported files in the desktop app: the renderer hands over the files the service
 * produced, main asks where (native save dialog for one file, a folder for a figure set)
 * and writes them. Names must be plain file names: nothing is written outside the folder.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const exportFile = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._@-]{0,199}$/, 'a plain file name (letters, digits, . _ @ -)'),
    mime: z.string().max(100),
    base64: z
      .string()
      .max(64 * 1024 * 1024)
      .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64'),
  })
  .strict();

export const saveFilesArgs = z.tuple([z.array(exportFile).min(1).max(500)]);
export type SaveFile = z.infer<typeof exportFile>;

/** What the preload's saveFiles resolves to. */
export type SaveFilesResult = { saved: string[] } | { cancelled: true };

/** Validate saveFiles' IPC arguments: the files, or a message naming the first problem. */
export function parseSaveFiles(args: unknown[]): { ok: true; files: SaveFile[] } | { ok: false; error: string } {
  const r = saveFilesArgs.safeParse(args);
  if (r.success) return { ok: true, files: r.data[0] };
  const i = r.error.issues[0]!;
  return { ok: false, error: `saveFiles: ${i.path.join('.') || 'args'}: ${i.message}` };
}

/** Write the files into `dir`; returns their paths. */
export function writeFilesInto(dir: string, files: readonly SaveFile[]): string[] {
  return files.map((f) => {
    const path = join(dir, f.name);
    writeFileSync(path, Buffer.from(f.base64, 'base64'));
    return path;
  });
}
