/**
 * The last step of `npm test`: how many tests were skipped, and why. Reads the reports the
 * runs before it wrote: test-results/vitest.json (vitest.config.ts) and
 * test-results/pytest.xml (npm run test:py). A test may skip only where it is marked as
 * needing external data or another platform; everything else a test needs fails it.
 *
 *   node --import tsx scripts/test-summary.ts
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const RESULTS = join(ROOT, 'test-results');

export interface Skip {
  suite: 'vitest' | 'pytest';
  test: string;
  reason: string;
}

type VitestReport = { testResults?: { name: string; assertionResults?: { fullName?: string; title: string; status: string }[] }[] };

export function vitestSkips(report: VitestReport): Skip[] {
  const out: Skip[] = [];
  for (const file of report.testResults ?? []) {
    for (const a of file.assertionResults ?? []) {
      if (a.status === 'skipped' || a.status === 'pending' || a.status === 'todo') {
        out.push({ suite: 'vitest', test: `${relative(ROOT, file.name)} › ${a.fullName ?? a.title}`, reason: a.status });
      }
    }
  }
  return out;
}

const unescapeXml = (s: string): string =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** <testcase classname=… name=…><skipped message=…/> in pytest's JUnit XML. */
export function pytestSkips(xml: string): Skip[] {
  const out: Skip[] = [];
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = m[2] ?? '';
    const skipped = /<skipped\b[^>]*?message="([^"]*)"/.exec(body);
    if (!skipped) continue;
    const attr = (k: string): string => unescapeXml(new RegExp(`\\b${k}="([^"]*)"`).exec(m[1]!)?.[1] ?? '');
    out.push({ suite: 'pytest', test: `${attr('classname')}::${attr('name')}`, reason: unescapeXml(skipped[1]!) });
  }
  return out;
}

function main(): void {
  const skips: Skip[] = [];
  const missing: string[] = [];
  const vitest = join(RESULTS, 'vitest.json');
  const pytest = join(RESULTS, 'pytest.xml');
  if (existsSync(vitest)) skips.push(...vitestSkips(JSON.parse(readFileSync(vitest, 'utf8')) as VitestReport));
  else missing.push(relative(ROOT, vitest));
  if (existsSync(pytest)) skips.push(...pytestSkips(readFileSync(pytest, 'utf8')));
  else missing.push(relative(ROOT, pytest));
  for (const m of missing) console.log(`test summary: ${m} is missing (its suite did not run)`);
  const by = (s: Skip['suite']): number => skips.filter((k) => k.suite === s).length;
  console.log(`skipped tests: ${skips.length} (vitest ${by('vitest')}, pytest ${by('pytest')})`);
  for (const s of skips) console.log(`  ${s.suite}: ${s.test}: ${s.reason}`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) main();
