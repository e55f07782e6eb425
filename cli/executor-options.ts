/** The options that send runs to Slurm (`launch`, `ablate`): --executor slurm and the job's resources. */
import { Option, type Command } from 'commander';
import { executorSpecSchema, type ExecutorSpec } from '../shared/executor-spec';
import { fieldErrors, type FieldError } from '../shared/experiment-config';

export interface ExecutorFlags {
  executor?: string;
  partition?: string;
  account?: string;
  qos?: string;
  time?: string;
  cpus?: string;
  gpus?: string;
  nodes?: string;
  mem?: string;
}

export function addExecutorOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--executor <kind>', 'where the runs run: local (this machine) or slurm (one batch job each)').choices(['local', 'slurm']),
    )
    .option('--partition <name>', 'Slurm partition')
    .option('--account <name>', 'Slurm account')
    .option('--qos <name>', 'Slurm QoS')
    .option('--time <limit>', 'Slurm time limit (minutes, HH:MM:SS or D-HH:MM:SS)')
    .option('--cpus <n>', 'Slurm CPUs per task')
    .option('--gpus <n>', 'Slurm GPUs (per node with --nodes)')
    .option('--nodes <n>', 'Slurm nodes: srun starts torchrun on each (runtime.nproc processes per node)')
    .option('--mem <size>', 'Slurm memory, e.g. 16G');
}

/** The executor the flags ask for (none: this machine), or field errors naming the bad flag. */
export function executorSpecOf(o: ExecutorFlags): { spec?: ExecutorSpec; errors: FieldError[] } {
  const slurmFlags = {
    partition: o.partition,
    account: o.account,
    qos: o.qos,
    time: o.time,
    cpus: o.cpus,
    gpus: o.gpus,
    nodes: o.nodes,
    mem: o.mem,
  };
  const given = Object.entries(slurmFlags).filter(([, v]) => v !== undefined);
  if (o.executor !== 'slurm') {
    if (given.length) return { errors: given.map(([k]) => ({ field: k, message: `--${k} needs --executor slurm` })) };
    return { errors: [] };
  }
  const errors: FieldError[] = [];
  const int = (k: 'cpus' | 'gpus' | 'nodes', v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n)) errors.push({ field: k, message: `--${k} must be a whole number, got "${v}"` });
    return n;
  };
  const slurm = Object.fromEntries(
    Object.entries({ ...slurmFlags, cpus: int('cpus', o.cpus), gpus: int('gpus', o.gpus), nodes: int('nodes', o.nodes) }).filter(
      ([, v]) => v !== undefined,
    ),
  );
  if (errors.length) return { errors };
  const parsed = executorSpecSchema.safeParse({ kind: 'slurm', ...(Object.keys(slurm).length ? { slurm } : {}) });
  if (!parsed.success) return { errors: fieldErrors(parsed.error).map((e) => ({ ...e, field: e.field.replace(/^slurm\./, '') })) };
  return { spec: parsed.data, errors: [] };
}
