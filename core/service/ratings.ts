/** Blind ratings of rationales: tasks, items, ratings, the summary and the CSV. */
import * as ratings from '../../db/ratings';
import { toExportFiles } from '../export-files';
import type { ServiceContext } from './context';
import type { ServiceCommands } from './types';

export type RatingCommands = Pick<
  ServiceCommands,
  'createRatingTask' | 'listRatingTasks' | 'getRatingItem' | 'rateItem' | 'ratingSummary' | 'exportRatings'
>;

export function ratingCommands(ctx: ServiceContext): RatingCommands {
  const { db } = ctx;
  return {
    createRatingTask: (spec) => ratings.createRatingTask(db, spec),
    listRatingTasks: () => ratings.listRatingTasks(db),
    getRatingItem: (taskId, position) => ratings.getRatingItem(db, taskId, position),
    rateItem: (r) => ratings.rateItem(db, r),
    ratingSummary: (taskId) => ratings.ratingSummary(db, taskId),
    exportRatings(taskId) {
      if (taskId !== undefined && !ratings.listRatingTasks(db).some((t) => t.id === taskId))
        return { ok: false, message: `no rating task ${taskId}` };
      const name = taskId === undefined ? 'ratings.csv' : `ratings-task-${taskId}.csv`;
      return { ok: true, files: toExportFiles([{ name, data: Buffer.from(ratings.ratingsCsv(db, taskId), 'utf8') }]) };
    },
  };
}
