/** Settings: the queue's limits, and the Python interpreter new runs use (vetted before it is saved). */
import { join } from 'node:path';
import * as q from '../../db/queries';
import { experimentsDir } from '../paths';
import { checkPython, interpreterPathProblem } from '../python-check';
import type { ServiceContext } from './context';
import type { ServiceCommands } from './types';

export type SettingCommands = Pick<ServiceCommands, 'getSettings' | 'setQueueSettings' | 'setPythonPath' | 'checkPython'>;

export function settingCommands(ctx: ServiceContext): SettingCommands {
  const { db, supervisor } = ctx;
  const requirements = () => join(experimentsDir(ctx.root), 'requirements.txt');
  return {
    getSettings: ctx.settings,

    setQueueSettings(s) {
      q.setSetting(db, 'maxConcurrent', String(s.maxConcurrent));
      q.setSetting(db, 'gpuSlots', s.gpuSlots.map((x) => x.replace(/,/g, ';')).join(','));
      if (supervisor.watching) supervisor.schedule();
      return ctx.settings();
    },

    async setPythonPath(path) {
      const wanted = path.trim();
      // '' clears the setting: back to the host's option, $STARLAB_PYTHON, the venv or python3 on PATH.
      // Anything else is run by every launch, so it is vetted (and run once, by the preflight) before it is saved.
      if (wanted !== '') {
        const problem = interpreterPathProblem(wanted);
        if (problem) return { ok: false, errors: [{ field: 'pythonPath', message: problem }] };
        const check = await checkPython(wanted, { requirements: requirements() });
        if (!check.ok) return { ok: false, errors: [{ field: 'pythonPath', message: check.message }] };
      }
      q.setSetting(db, 'pythonPath', wanted);
      return { ok: true, settings: ctx.settings() };
    },

    async checkPython(path) {
      // a path typed in Settings and not saved yet is checked as setPythonPath would vet it
      const wanted = path?.trim() || ctx.python();
      if (path?.trim()) {
        const problem = interpreterPathProblem(wanted);
        if (problem) return { ok: false, python: wanted, message: problem };
      }
      return checkPython(wanted, { requirements: requirements() });
    },
  };
}
