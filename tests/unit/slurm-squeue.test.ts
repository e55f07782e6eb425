/**
 * The Slurm executor asks squeue without stalling the app: after the first answer, an older
 * one is renewed in the background while polls go on with it. A fake squeue on PATH answers
 * the first question at once and holds the next until the test lets it go.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SlurmExecutor } from '../../core/slurm-executor';
import { cleanupTempDirs, tempDir, waitFor } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

describe('squeue in the background', () => {
  it('answers polls from the last snapshot while squeue is slow, then from the new one', async () => {
    const bin = tempDir();
    const release = join(bin, 'release');
    const calls = join(bin, 'calls');
    // 1st call: the job is running; later calls wait for `release` (up to 60 s), then list nothing (it ended)
    writeFileSync(
      join(bin, 'squeue'),
      `#!/bin/sh
echo x >> '${calls}'
if [ "$(wc -l < '${calls}')" -eq 1 ]; then echo "123 RUNNING starlab-r1"; exit 0; fi
i=0; while [ ! -e '${release}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
exit 0
`,
    );
    chmodSync(join(bin, 'squeue'), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const ex = new SlurmExecutor({ root: process.cwd(), dataDir: bin });
      const h = { pid: null, startTime: null, jobId: '123', runId: 'r1' };
      expect(ex.alive(h)).toBe(true); // the first answer is waited for
      await new Promise((r) => setTimeout(r, 1100)); // the snapshot is now older than its second
      const t0 = Date.now();
      for (let i = 0; i < 20; i++) expect(ex.alive(h)).toBe(true); // the old snapshot, while squeue hangs
      expect(Date.now() - t0).toBeLessThan(5000); // (a blocking squeue would hold each poll until release)
      const asked = (): number => (existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').length - 1 : 0);
      await waitFor(() => asked() === 2, 5000, 'the background squeue');
      expect(existsSync(release)).toBe(false);
      writeFileSync(release, '');
      await waitFor(() => !ex.alive(h), 10_000, 'the new snapshot, without the job');
    } finally {
      process.env.PATH = path;
      writeFileSync(release, '');
    }
  }, 30_000);
});
