/** The launch and ablation forms' executor fields: text → ExecutorSpec, errors per field, remembered. */
import { describe, expect, it } from 'vitest';
import {
  LOCAL_EXECUTOR,
  parseExecutorForm,
  rememberedExecutor,
  rememberExecutor,
  type ExecutorFormState,
} from '../../renderer/src/executor-form';

const slurm = (o: Partial<ExecutorFormState['slurm']>): ExecutorFormState => ({ kind: 'slurm', slurm: { ...LOCAL_EXECUTOR.slurm, ...o } });

describe('executor form', () => {
  it('this machine needs no spec', () => {
    expect(parseExecutorForm({ ...LOCAL_EXECUTOR, slurm: { ...LOCAL_EXECUTOR.slurm, cpus: 'x' } })).toEqual({
      spec: undefined,
      errors: [],
    });
  });

  it('turns the filled-in Slurm fields into the spec the service checks', () => {
    expect(parseExecutorForm(slurm({ partition: ' gpu ', gpus: '2', nodes: '4', time: '1-00:00:00', mem: '64G' }))).toEqual({
      spec: { kind: 'slurm', slurm: { partition: 'gpu', gpus: 2, nodes: 4, time: '1-00:00:00', mem: '64G' } },
      errors: [],
    });
    expect(parseExecutorForm(slurm({})).spec).toEqual({ kind: 'slurm', slurm: {} });
  });

  it('names each bad field and quotes its value', () => {
    const r = parseExecutorForm(slurm({ partition: 'gpu;rm', cpus: 'two', time: 'soon', mem: '64GB', nodes: '0' }));
    expect(r.spec).toBeUndefined();
    expect(r.errors.map((e) => e.field).sort()).toEqual([
      'executor.slurm.cpus',
      'executor.slurm.mem',
      'executor.slurm.nodes',
      'executor.slurm.partition',
      'executor.slurm.time',
    ]);
    expect(r.errors.find((e) => e.field === 'executor.slurm.cpus')!.message).toBe('"two" is not a whole number');
    expect(r.errors.find((e) => e.field === 'executor.slurm.partition')!.message).toMatch(/^"gpu;rm": letters, digits/);
  });

  it('remembers the last executor, and starts from this machine when what is stored is not one', () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    expect(rememberedExecutor(storage)).toEqual(LOCAL_EXECUTOR);
    rememberExecutor(slurm({ partition: 'gpu' }), storage);
    expect(rememberedExecutor(storage)).toEqual(slurm({ partition: 'gpu' }));
    store.set('starlab.executor.v1', '{"kind":"mainframe"}');
    expect(rememberedExecutor(storage)).toEqual(LOCAL_EXECUTOR);
    store.set('starlab.executor.v1', 'not json');
    expect(rememberedExecutor(storage)).toEqual(LOCAL_EXECUTOR);
  });
});
