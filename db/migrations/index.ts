/**
 * Ordered schema migrations. Migration i (0-based) takes the database from
 * user_version i to i + 1. Never edit a shipped migration; append a new one.
 */
import type { Database } from 'better-sqlite3';
import { sql as v1 } from './001-initial';
import { sql as v2 } from './002-resume';
import { sql as v3 } from './003-queue';
import { up as v4 } from './004-question-outcomes';
import { sql as v5 } from './005-ratings';
import { sql as v6 } from './006-event-integrity';
import { sql as v7 } from './007-executor';
import { sql as v8 } from './008-run-names';
import { sql as v9 } from './009-run-archive';
import { sql as v10 } from './010-event-spans';

export interface Migration {
  name: string;
  up: string | ((db: Database) => void);
}

export const migrations: readonly Migration[] = [
  { name: '001-initial', up: v1 },
  { name: '002-resume', up: v2 },
  { name: '003-queue', up: v3 },
  { name: '004-question-outcomes', up: v4 },
  { name: '005-ratings', up: v5 },
  { name: '006-event-integrity', up: v6 },
  { name: '007-executor', up: v7 },
  { name: '008-run-names', up: v8 },
  { name: '009-run-archive', up: v9 },
  { name: '010-event-spans', up: v10 },
];

export const SCHEMA_VERSION = migrations.length;
