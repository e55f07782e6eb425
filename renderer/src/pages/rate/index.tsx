/**
 * Blind rating of rationales (issue 5), as in the STaR paper's human evaluation.
 *   /rate       rating tasks, a form to create one, the summary per pair of sources, CSV export
 *   /rate/<id>  the blind rater: two rationales for one question as "Left"/"Right", keyboard-driven
 * The rater screen shows nothing of where a rationale comes from (run, variant, iteration) until
 * every pair is rated; only then does the task's summary row appear. The /rate summary and
 * export likewise cover only finished tasks unless the user reveals the ones still being rated.
 */
import { type ReactElement } from 'react';
import { ErrorNote } from '../../components/common';
import '../../rate.css';
import { RateHome } from './home';
import { Rater } from './rater';

export function RatePage({ path }: { path: string }): ReactElement {
  const task = /^\/rate\/(\d{1,9})\/?$/.exec(path);
  if (task) return <Rater key={task[1]} taskId={Number(task[1])} />;
  if (/^\/rate\/?(\?.*)?$/.test(path)) return <RateHome />;
  return (
    <div className="page" data-testid="rate-page">
      <ErrorNote>
        "{path}" is not a rating page: a task's address is #/rate/&lt;number&gt;. <a href="#/rate">All rating tasks</a>
      </ErrorNote>
    </div>
  );
}
