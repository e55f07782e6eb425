/** The runs table's chosen columns (db/run-columns.ts): config keys and metrics' final values, for every run. */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/open';
import { insertRun } from '../../db/queries';
import { runColumnChoices, runColumnValues } from '../../db/run-columns';
import { cleanupTempDirs, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

describe('run columns', () => {
  it('offers every config key and metric name, and gives each run its config value and last metric value', () => {
    const dir = tempDir();
    const db = openDatabase(join(dir, 'starlab.db'));
    const run = (id: string, config: object) =>
      insertRun(db, {
        id,
        variant: 'star',
        dataset: 'addition',
        preset: 'tiny',
        seed: 0,
        model: 'm',
        config_json: JSON.stringify(config),
        config_hash: 'h',
        status: 'completed',
        created_at: 1,
        run_dir: join(dir, id),
      });
    run('a', { loop: { lr: 0.001, iterations: 3 }, model: { name: 'x' }, tags: [1, 2] });
    run('b', { loop: { lr: 0.003 }, extra: true });
    run('c', {});
    run('d', JSON.parse('{"__proto__": {"x": 1}, "constructor": 2}'));
    db.prepare("UPDATE runs SET config_json = '{not json' WHERE id = 'c'").run();
    const m = db.prepare('INSERT INTO metrics (run_id, seq, name, iteration, step, value, t) VALUES (?, ?, ?, ?, ?, ?, ?)');
    // inserted out of order: the last point is the highest step (then seq), not the last row written
    m.run('a', 3, 'eval/accuracy', 2, 20, 0.6, 3);
    m.run('a', 1, 'eval/accuracy', 0, 0, 0.1, 1);
    m.run('a', 2, 'eval/accuracy', 1, 10, 0.4, 2);
    m.run('a', 4, 'train/loss', 2, 20, 1.5, 4);
    m.run('b', 1, 'z/last', 0, 5, 7, 1);
    expect(runColumnChoices(db)).toEqual({
      config: ['__proto__.x', 'constructor', 'extra', 'loop.iterations', 'loop.lr', 'model.name', 'tags'],
      metrics: ['eval/accuracy', 'train/loss', 'z/last'],
    });
    expect(runColumnValues(db, ['config:loop.lr', 'config:tags', 'config:extra', 'metric:eval/accuracy', 'metric:z/last'])).toEqual({
      a: { 'config:loop.lr': 0.001, 'config:tags': '[1,2]', 'config:extra': null, 'metric:eval/accuracy': 0.6, 'metric:z/last': null },
      b: { 'config:loop.lr': 0.003, 'config:tags': null, 'config:extra': true, 'metric:eval/accuracy': null, 'metric:z/last': 7 },
      c: { 'config:loop.lr': null, 'config:tags': null, 'config:extra': null, 'metric:eval/accuracy': null, 'metric:z/last': null },
      d: { 'config:loop.lr': null, 'config:tags': null, 'config:extra': null, 'metric:eval/accuracy': null, 'metric:z/last': null },
    });
    // keys named like Object.prototype's are the config's own, or nothing
    expect(runColumnValues(db, ['config:constructor', 'config:__proto__.x', 'config:toString'])['d']).toEqual({
      'config:constructor': 2,
      'config:__proto__.x': 1,
      'config:toString': null,
    });
    expect(runColumnValues(db, ['config:constructor'])['a']).toEqual({ 'config:constructor': null });
    db.close();
  });
});
