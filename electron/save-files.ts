/**
 * Saving exported files in the desktop app: the renderer hands over the files the service
 * produced, main asks where (native save dialog for one file, a folder for a figure set)
 * and writes them. Names must be plain file names: nothing is written outside the folder.
 */
import { z } from 'zod';
import { asFsProblem } from '../core/fs-errors';
import { writeFileSafely, writeFilesSafely } from '../core/safe-write';

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

/**
 * Write the files into `dir` (the folder the user chose); returns their paths. Files of the
 * same names are replaced (a re-export into the same folder), but never through a link planted
 * there, and never a folder, FIFO or device (core/safe-write.ts): such a name refuses the whole
 * set before anything is written.
 */
export function writeFilesInto(dir: string, files: readonly SaveFile[]): string[] {
  try {
    return writeFilesSafely(
      dir,
      files.map((f) => ({ name: f.name, data: Buffer.from(f.base64, 'base64') })),
      { overwrite: true },
    );
  } catch (e) {
    throw asFsProblem(e, { action: 'save the files', path: dir, want: 'folder' });
  }
}

/**
 * Write one file where the save dialog said (it asked before replacing an existing file), by a
 * temporary file renamed into place: a link there is refused, not written through.
 */
export function writeSavedFile(path: string, file: SaveFile): string {
  try {
    writeFileSafely(path, Buffer.from(file.base64, 'base64'), { overwrite: true });
  } catch (e) {
    throw asFsProblem(e, { action: 'save the file', path });
  }
  return path;
}
