/**
 * Imported first by main.tsx. The page's Content-Security-Policy forbids eval, and zod compiles
 * its object parsers with `new Function` unless told not to (it would probe eval, which the CSP
 * reports as a violation). zod reads this when a schema is built, so it must run before any
 * module that builds one (shared/executor-spec, for the executor form).
 */
import { z } from 'zod';

z.config({ jitless: true });
