/**
 * Where a run from the launch or ablation form runs: this machine, or a Slurm cluster with the
 * job's resources. The form's text fields become an ExecutorSpec checked by the same schema the
 * service checks (shared/executor-spec.ts), each error naming its field. The last Slurm options
 * used are remembered in this browser (localStorage), so a cluster's partition is typed once.
 */
import { slurmOptionsSchema, type ExecutorSpec, type SlurmOptions } from '../../shared/executor-spec';
import type { FieldError } from '../../shared/experiment-config';

export const SLURM_FIELDS = ['partition', 'account', 'qos', 'time', 'cpus', 'gpus', 'nodes', 'mem'] as const;
export type SlurmField = (typeof SLURM_FIELDS)[number];

export interface ExecutorFormState {
  kind: 'local' | 'slurm';
  slurm: Record<SlurmField, string>;
}

export const EMPTY_SLURM: Record<SlurmField, string> = {
  partition: '',
  account: '',
  qos: '',
  time: '',
  cpus: '',
  gpus: '',
  nodes: '',
  mem: '',
};
export const LOCAL_EXECUTOR: ExecutorFormState = { kind: 'local', slurm: { ...EMPTY_SLURM } };

const INTEGER_FIELDS: readonly SlurmField[] = ['cpus', 'gpus', 'nodes'];

/** The spec the form describes (undefined: this machine) and its errors (fields `executor.slurm.<name>`). */
export function parseExecutorForm(f: ExecutorFormState): { spec: ExecutorSpec | undefined; errors: FieldError[] } {
  if (f.kind === 'local') return { spec: undefined, errors: [] };
  const errors: FieldError[] = [];
  const raw: Record<string, string | number> = {};
  for (const k of SLURM_FIELDS) {
    const v = f.slurm[k].trim();
    if (!v) continue;
    if (INTEGER_FIELDS.includes(k)) {
      if (!/^\d+$/.test(v)) {
        errors.push({ field: `executor.slurm.${k}`, message: `"${v}" is not a whole number` });
        continue;
      }
      raw[k] = Number(v);
    } else raw[k] = v;
  }
  const r = slurmOptionsSchema.safeParse(raw);
  if (!r.success)
    for (const issue of r.error.issues) {
      const k = String(issue.path[0] ?? '');
      errors.push({ field: `executor.slurm.${k}`, message: `"${String(raw[k])}": ${issue.message}` });
    }
  return errors.length ? { spec: undefined, errors } : { spec: { kind: 'slurm', slurm: r.data as SlurmOptions }, errors };
}

const STORAGE_KEY = 'starlab.executor.v1';

/** The executor the forms start with: the last one used here, else this machine. */
export function rememberedExecutor(storage: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage): ExecutorFormState {
  try {
    const v = JSON.parse(storage?.getItem(STORAGE_KEY) ?? 'null') as Partial<ExecutorFormState> | null;
    if (!v || (v.kind !== 'local' && v.kind !== 'slurm') || typeof v.slurm !== 'object' || v.slurm === null) return LOCAL_EXECUTOR;
    const slurm = { ...EMPTY_SLURM };
    for (const k of SLURM_FIELDS)
      if (typeof (v.slurm as Record<string, unknown>)[k] === 'string') slurm[k] = (v.slurm as Record<string, string>)[k]!;
    return { kind: v.kind, slurm };
  } catch {
    return LOCAL_EXECUTOR;
  }
}

export function rememberExecutor(f: ExecutorFormState, storage: Pick<Storage, 'setItem'> | undefined = globalThis.localStorage): void {
  try {
    storage?.setItem(STORAGE_KEY, JSON.stringify(f));
  } catch {
    // private mode or a full storage: the form just starts from this machine next time
  }
}
