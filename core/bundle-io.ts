/** File helpers shared by a bundle's export and import. */
import { writeSync } from 'node:fs';

/** A write may take fewer bytes than given: write until all are. */
export function writeAll(fd: number, data: string | Buffer): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

export const isENOENT = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';
