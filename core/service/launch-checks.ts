/**
 * What is checked before a run is launched or planned (validateLaunch, launchRun,
 * planAblation, createAblation): the model and the dataset's files, beyond the config's schema.
 */
import { SYNTHETIC_DATASETS, type ExperimentConfig, type FieldError } from '../../shared/experiment-config';
import { locateDataset } from '../datasets';
import { localModelProblem } from '../model-path';

/**
 * A hub model named by a local path (absolute, ./ ../ ~/) that is not a model folder is refused
 * before launch (core/model-path.ts), not when the run fails to load it after starting.
 */
export function modelCheck(config: ExperimentConfig): FieldError[] {
  if (config.model.source !== 'hub') return [];
  const problem = localModelProblem(config.model.name);
  return problem ? [{ field: 'model.name', message: problem }] : [];
}

/**
 * Where a text dataset's files are, checked before launch: a task.path without them, or a
 * folder with only some splits, would fail the run (errors); no local copy at all means the
 * run will try the hub (a warning: it works on a connected machine).
 */
export function datasetCheck(config: ExperimentConfig, dataDir: string): { errors: FieldError[]; warnings: FieldError[] } {
  const none = { errors: [], warnings: [] };
  if (SYNTHETIC_DATASETS.includes(config.dataset)) return none;
  const taskPath = (config.task as { path?: string }).path || undefined;
  const found = locateDataset(config.dataset, { taskPath, dataDir });
  if (found.dir) return none;
  const how = 'Import the files in Settings → Datasets or with `npx starlab import-data`.';
  if (found.partial)
    return {
      errors: [
        { field: taskPath ? 'task.path' : 'dataset', message: `${found.partial} holds only some of the ${config.dataset} files. ${how}` },
      ],
      warnings: [],
    };
  if (taskPath)
    return {
      errors: [{ field: 'task.path', message: `no ${config.dataset} files in ${found.searched.join(' or ')}. ${how}` }],
      warnings: [],
    };
  return {
    errors: [],
    warnings: [
      {
        field: 'dataset',
        message: `no local copy of ${config.dataset} (looked in ${found.searched.join(', ')}); the run will try to download it from the Hugging Face hub. ${how}`,
      },
    ],
  };
}

/** Both checks: the model's and the dataset's errors (in that order), and the dataset's warnings. */
export function launchChecks(config: ExperimentConfig, dataDir: string): { errors: FieldError[]; warnings: FieldError[] } {
  const { errors: dataErrors, warnings } = datasetCheck(config, dataDir);
  return { errors: [...modelCheck(config), ...dataErrors], warnings };
}
