/** `starlab` commands: traces, curves, ratings (registered by cli/main.ts). */
import { resolve } from 'node:path';
import { type Command } from 'commander';
import { type FieldError } from '../../shared/experiment-config';
import { CURVE_KINDS, CURVE_SCORERS, TRACE_FILTERS, type TraceFilter } from '../../shared/contract';
import { fsErrorMessage } from '../../core/fs-errors';
import { writeFileSafely } from '../../core/safe-write';
import { out, err, refuse, dataDirOption } from '../io';
import { withRun, withService } from '../service-scope';

export function register(program: Command): void {
  program
    .command('traces')
    .description("a run's rationale traces: per question and iteration the rationale, answer, gold, outcome and whether the hint was given")
    .argument('<run>', 'run id (or a unique prefix)')
    .option('--iteration <n>', 'only this iteration')
    .option('--filter <filter>', TRACE_FILTERS.join(' | '))
    .option('--search <text>', 'questions or rationales containing this text (case-insensitive)')
    .option('--question <id>', 'one question only (its rows across iterations)')
    .option('--split <split>', 'train | eval')
    .option('--difficulty <d>', 'only this difficulty (addition: digits)')
    .option('--limit <n>', 'at most this many rows (1-5000)', '200')
    .option('--offset <n>', 'skip this many rows', '0')
    .option('--json', 'print the rows as a JSON array')
    .addOption(dataDirOption())
    .action(
      async (
        run: string,
        o: {
          iteration?: string;
          filter?: string;
          search?: string;
          question?: string;
          split?: string;
          difficulty?: string;
          limit: string;
          offset: string;
          json?: boolean;
          dataDir?: string;
        },
      ) => {
        const errors: FieldError[] = [];
        const int = (field: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
          if (v === undefined) return undefined;
          const n = Number(v);
          if (!Number.isInteger(n) || n < min || n > max)
            errors.push({ field, message: `"${v}" is not an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? '' : max}` });
          return n;
        };
        const iteration = int('iteration', o.iteration, 0);
        const difficulty = int('difficulty', o.difficulty, -1_000_000);
        const limit = int('limit', o.limit, 1, 5000);
        const offset = int('offset', o.offset, 0);
        if (o.filter !== undefined && !(TRACE_FILTERS as readonly string[]).includes(o.filter))
          errors.push({ field: 'filter', message: `unknown filter "${o.filter}" (${TRACE_FILTERS.join(', ')})` });
        if (o.split !== undefined && o.split !== 'train' && o.split !== 'eval')
          errors.push({ field: 'split', message: `unknown split "${o.split}" (train, eval)` });
        if (o.question !== undefined && !(o.question.length >= 1 && o.question.length <= 200))
          errors.push({ field: 'question', message: 'a question id is 1 to 200 characters' });
        if (errors.length) return refuse(errors, o.json);
        await withRun(o.dataDir, run, async (service, id) => {
          const r = service.getTraces(id, {
            ...(o.filter ? { filter: o.filter as TraceFilter } : {}),
            ...(iteration !== undefined ? { iteration } : {}),
            ...(o.split ? { split: o.split as 'train' | 'eval' } : {}),
            ...(difficulty !== undefined ? { difficulty } : {}),
            ...(o.search ? { search: o.search } : {}),
            ...(o.question !== undefined ? { questionId: o.question } : {}),
            limit,
            offset,
          });
          if (r.rows.length < r.total || r.totalCapped)
            err(`rows ${offset! + 1}-${offset! + r.rows.length} of ${r.total}${r.totalCapped ? '+' : ''} (--limit, --offset for more)`);
          if (o.json) {
            out(JSON.stringify(r.rows));
            return;
          }
          if (!r.rows.length) out('no matching rows');
          for (const t of r.rows) {
            out(
              `${t.questionId}  iteration ${t.iteration}  ${t.split}/${t.kind}  answer ${t.answer ?? '—'}  gold ${t.gold}  ${t.correct ? 'correct' : 'wrong'}${t.hintUsed ? '  via hint' : ''}`,
            );
            out(t.text.replace(/^/gm, '    '));
          }
        });
      },
    );

  program
    .command('curves')
    .description("V-STaR's test-time curves for k = 1..N, recounted from the run's stored candidates")
    .argument('<run>', 'run id (or a unique prefix)')
    .requiredOption('--kind <kind>', CURVE_KINDS.join(' | '))
    .option('--iteration <n>', 'iteration (default: the last with candidates)')
    .option(
      '--scorer <scorer>',
      "for best-of-k: dpo (the verifier) | orm | logp (the verifier's likelihood) | likelihood (the generator's own, the control)",
      'dpo',
    )
    .option('--json', 'print [{"k": k, "value": v}, …]')
    .addOption(dataDirOption())
    .action(async (run: string, o: { kind: string; iteration?: string; scorer: string; json?: boolean; dataDir?: string }) => {
      const errors: FieldError[] = [];
      if (!(CURVE_KINDS as readonly string[]).includes(o.kind))
        errors.push({ field: 'kind', message: `unknown kind "${o.kind}" (${CURVE_KINDS.join(', ')})` });
      if (!Object.hasOwn(CURVE_SCORERS, o.scorer))
        errors.push({ field: 'scorer', message: `unknown scorer "${o.scorer}" (${Object.keys(CURVE_SCORERS).join(', ')})` });
      const iteration = o.iteration === undefined ? undefined : Number(o.iteration);
      if (iteration !== undefined && !(Number.isInteger(iteration) && iteration >= 0))
        errors.push({ field: 'iteration', message: `"${o.iteration}" is not an iteration number` });
      if (errors.length) return refuse(errors, o.json);
      await withRun(o.dataDir, run, async (service, id) => {
        const r = service.getCurve(id, {
          kind: o.kind as (typeof CURVE_KINDS)[number],
          ...(iteration !== undefined ? { iteration } : {}),
          ...(o.kind === 'best-of-k' ? { scorer: o.scorer as keyof typeof CURVE_SCORERS } : {}),
        });
        if (!r.ok) {
          err(`starlab: ${r.message}`);
          process.exitCode = 1;
          return;
        }
        if (o.json) out(JSON.stringify(r.points));
        else {
          out(
            `${r.kind}${r.scorer ? ` (${r.scorer})` : ''}, iteration ${r.iteration}: ${r.questions} questions × ${r.candidates} candidates`,
          );
          for (const p of r.points) out(`k=${String(p.k).padEnd(4)} ${(p.value * 100).toFixed(2)}%`);
        }
      });
    });

  program
    .command('ratings')
    .description(
      'blind rationale ratings: per pair of sources the wins, win rate with its 95% CI and flagged shares; --csv writes every rating',
    )
    .option('--task <id>', 'one rating task only')
    .option('--csv <file>', 'write the ratings (unblinded) as CSV to this file')
    .option('--force', 'replace the --csv file if it exists')
    .option('--json', 'print the summary rows as JSON')
    .addOption(dataDirOption())
    .action(async (o: { task?: string; csv?: string; force?: boolean; json?: boolean; dataDir?: string }) => {
      const task = o.task === undefined ? undefined : Number(o.task);
      if (task !== undefined && !(Number.isInteger(task) && task >= 1))
        return refuse([{ field: 'task', message: `"${o.task}" is not a task id` }], o.json);
      await withService(o.dataDir, async (service) => {
        if (task !== undefined && !(await service.listRatingTasks()).some((t) => t.id === task)) {
          if (o.json) out(JSON.stringify({ ok: false, message: `no rating task ${task}` }));
          err(`starlab: no rating task ${task}`);
          process.exitCode = 1;
          return;
        }
        if (o.csv) {
          const r = await service.exportRatings(task);
          if (!r.ok) throw new Error(r.message);
          try {
            writeFileSafely(resolve(o.csv), Buffer.from(r.files[0]!.base64, 'base64'), {
              overwrite: o.force,
              force: '--force',
              suggest: 'ratings.csv',
            });
          } catch (e) {
            throw new Error(
              fsErrorMessage(e, { action: 'write the ratings CSV', path: resolve(o.csv), suggest: 'ratings.csv', force: '--force' }),
            );
          }
          err(`wrote ${resolve(o.csv)}`);
        }
        const rows = await service.ratingSummary(task);
        if (o.json) return out(JSON.stringify(rows));
        if (!rows.length) return out('no ratings yet');
        const pct = (v: number | null): string => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);
        for (const r of rows)
          out(
            `${r.a}  vs  ${r.b} (${r.split}): ${r.n} rated, A wins ${r.winsA}, B wins ${r.winsB}, both ${r.both}, neither ${r.neither}; ` +
              `A's win rate ${pct(r.winRateA)} [${pct(r.ciLow)}, ${pct(r.ciHigh)}]; flagged A ${pct(r.flaggedShareA)}, B ${pct(r.flaggedShareB)}; raters ${r.raters.join(', ')}`,
          );
      });
    });
}
