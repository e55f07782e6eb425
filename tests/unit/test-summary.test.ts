import { describe, expect, it } from 'vitest';
import { pytestSkips, vitestSkips } from '../../scripts/test-summary';

describe('the skipped-tests summary at the end of npm test', () => {
  it("reads pytest's JUnit XML: skipped cases with their reasons, nothing else", () => {
    const xml = `<?xml version="1.0"?><testsuites><testsuite name="pytest" skipped="1">
      <testcase classname="tests.test_datasets" name="test_loads_gsm8k" time="0.01"><skipped type="pytest.skip" message="external data: /x/shared/datasets is not present">/x:1</skipped></testcase>
      <testcase classname="tests.test_datasets" name="test_csv[a&amp;b]" time="0.01" />
      <testcase classname="tests.test_cli" name="test_fails" time="0.01"><failure message="boom">tb</failure></testcase>
    </testsuite></testsuites>`;
    expect(pytestSkips(xml)).toEqual([
      { suite: 'pytest', test: 'tests.test_datasets::test_loads_gsm8k', reason: 'external data: /x/shared/datasets is not present' },
    ]);
  });

  it("reads vitest's JSON report: skipped and todo tests", () => {
    const report = {
      testResults: [
        {
          name: `${process.cwd()}/tests/unit/a.test.ts`,
          assertionResults: [
            { title: 'runs', fullName: 'a runs', status: 'passed' },
            { title: 'fifo', fullName: 'a fifo', status: 'skipped' },
            { title: 'later', status: 'todo' },
          ],
        },
      ],
    };
    expect(vitestSkips(report).map((s) => [s.test, s.reason])).toEqual([
      ['tests/unit/a.test.ts › a fifo', 'skipped'],
      ['tests/unit/a.test.ts › later', 'todo'],
    ]);
  });
});
