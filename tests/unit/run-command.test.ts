/** The command a run starts with, one process or several under torchrun (runtime.nproc). */
import { describe, expect, it } from 'vitest';
import { runCommand, type LaunchContext } from '../../core/executor';
import { resolveConfig } from '../../shared/experiment-config';

function ctx(overrides: Record<string, string>, resume = false): LaunchContext {
  const r = resolveConfig({ variant: 'star', dataset: 'addition', preset: 'tiny', overrides });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return {
    runId: 'r1',
    runDir: '/d/r1',
    configPath: '/d/r1/config.json',
    eventsPath: '/d/r1/events.jsonl',
    python: '/py',
    config: r.config,
    resume,
  };
}

describe('runCommand', () => {
  it('starts one process by default', () => {
    expect(runCommand(ctx({}))).toEqual({ command: '/py', args: ['-m', 'starlab', 'run', '--config', '/d/r1/config.json'] });
    expect(runCommand(ctx({ 'runtime.nproc': '1' }), undefined).args).not.toContain('torch.distributed.run');
  });

  it('starts runtime.nproc processes under torchrun, on one node with a free rendezvous port', () => {
    expect(runCommand(ctx({ 'runtime.nproc': '2' }, true))).toEqual({
      command: '/py',
      args: [
        '-m',
        'torch.distributed.run',
        '--standalone',
        '--nproc-per-node=2',
        '-m',
        'starlab',
        'run',
        '--config',
        '/d/r1/config.json',
        '--resume',
      ],
    });
  });

  it('refuses runtime.fsdp with one process, for Quiet-STaR and with LoRA (the messages test_config.py holds, the value quoted)', () => {
    const fsdpErrors = (variant: string, overrides: Record<string, string>) => {
      const r = resolveConfig({ variant, dataset: 'addition', preset: 'tiny', overrides: { 'runtime.fsdp': 'true', ...overrides } });
      return r.ok ? [] : r.errors.filter((e) => e.field === 'runtime.fsdp').map((e) => e.message);
    };
    expect(fsdpErrors('star', { 'runtime.nproc': '2' })).toEqual([]);
    expect(fsdpErrors('star', {})).toEqual(['shards the fine-tunes over the processes of runtime.nproc: set runtime.nproc > 1 (got true)']);
    expect(fsdpErrors('quiet-star', { 'runtime.nproc': '2' })).toEqual([
      'quiet-star trains steps that are not sharded (whole copies per GPU): runtime.fsdp is for star and star-norat (got true)',
    ]);
    expect(fsdpErrors('v-star', { 'runtime.nproc': '2' })).toEqual([
      'v-star trains steps that are not sharded (whole copies per GPU): runtime.fsdp is for star and star-norat (got true)',
    ]);
    expect(fsdpErrors('star', { 'runtime.nproc': '2', 'loop.finetune': '"lora"' })).toEqual([
      'LoRA trains small adapters, which DDP handles: drop runtime.fsdp (got true)',
    ]);
  });

  it('accepts runtime.nproc > 1 for every variant (each runs under torchrun)', () => {
    for (const variant of ['star', 'star-norat', 'v-star', 'quiet-star'])
      expect(resolveConfig({ variant, dataset: 'addition', preset: 'tiny', overrides: { 'runtime.nproc': '2' } }).ok, variant).toBe(true);
  });
});
