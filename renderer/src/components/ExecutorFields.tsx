import type { ReactElement } from 'react';
import type { FieldError } from '../../../shared/experiment-config';
import { SLURM_FIELDS, type ExecutorFormState, type SlurmField } from '../executor-form';

const LABELS: Record<SlurmField, [string, string]> = {
  partition: ['Partition', 'default partition'],
  account: ['Account', ''],
  qos: ['QoS', ''],
  time: ['Time limit', 'e.g. 12:00:00 or 1-00:00:00'],
  cpus: ['CPUs per task', ''],
  gpus: ['GPUs', 'e.g. 1 (runtime.nproc for torchrun); per node with Nodes'],
  nodes: ['Nodes', '1 (srun starts torchrun on each)'],
  mem: ['Memory', 'e.g. 64G'],
};

/** Where the run(s) go: this machine, or a Slurm cluster with the job's resources. */
export function ExecutorFields({
  value,
  onChange,
  errors,
}: {
  value: ExecutorFormState;
  onChange: (v: ExecutorFormState) => void;
  errors: FieldError[];
}): ReactElement {
  return (
    <fieldset className="field executor-fields" data-testid="executor-fields">
      <span className="field-label">Run on</span>
      <select
        data-testid="field-executor"
        value={value.kind}
        onChange={(e) => onChange({ ...value, kind: e.target.value === 'slurm' ? 'slurm' : 'local' })}
      >
        <option value="local">this machine</option>
        <option value="slurm">a Slurm cluster (one batch job per run)</option>
      </select>
      {value.kind === 'slurm' ? (
        <div className="slurm-grid">
          {SLURM_FIELDS.map((k) => (
            <label key={k} className="field">
              <span className="field-label">{LABELS[k][0]}</span>
              <input
                data-testid={`field-slurm-${k}`}
                value={value.slurm[k]}
                placeholder={LABELS[k][1]}
                onChange={(e) => onChange({ ...value, slurm: { ...value.slurm, [k]: e.target.value } })}
              />
              {errors
                .filter((x) => x.field === `executor.slurm.${k}`)
                .map((x, i) => (
                  <div key={i} className="field-error" data-testid={`field-error-executor.slurm.${k}`}>
                    {x.message}
                  </div>
                ))}
            </label>
          ))}
        </div>
      ) : null}
    </fieldset>
  );
}
