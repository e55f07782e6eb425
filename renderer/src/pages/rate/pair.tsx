/** One blind pair on the rater: the question, Left and Right rationales, and the choice and flag buttons. */
import { readableQuestion } from '../../task-display';
import { type ReactElement } from 'react';
import type { RatingChoice, RatingItem } from '../../../../shared/analysis';
import { KEY_HINTS, type RaterState, type RatingAction } from '../../rating-keys';
import { Key } from './common';

const CHOICE_WORDS: Record<RatingChoice, string> = {
  left: 'left better',
  right: 'right better',
  both: 'both good',
  neither: 'neither good',
};

export function PairView({ item, rs, dispatch }: { item: RatingItem; rs: RaterState; dispatch: (a: RatingAction) => void }): ReactElement {
  const choiceButton = (choice: RatingChoice, label: string, hint: string): ReactElement => (
    <button
      type="button"
      className={`rate-choice${rs.choice === choice ? ' chosen' : ''}`}
      aria-pressed={rs.choice === choice}
      data-testid={`rating-choose-${choice}`}
      onClick={() => dispatch({ type: 'choose', choice })}
    >
      {label}
      <Key>{hint}</Key>
    </button>
  );
  return (
    // Keyed by position: a new pair starts scrolled to its top.
    <div key={item.position}>
      <section className="panel">
        <div className="panel-body">
          <div className="muted small">
            pair {item.position + 1} of {item.total} ·{' '}
            <span data-testid="rating-current-choice">{rs.choice ? `rated: ${CHOICE_WORDS[rs.choice]}` : 'not rated yet'}</span>
          </div>
          <div className="rate-question-text" data-testid="rating-question">
            {readableQuestion(item.question)}
          </div>
          <div className="rate-gold">
            <span className="meta-label">gold answer</span>
            <span className="mono" data-testid="rating-gold">
              {item.gold}
            </span>
          </div>
        </div>
      </section>
      <div className="rate-pair">
        <RationaleCard side="left" item={item} rs={rs} dispatch={dispatch} choose={choiceButton('left', 'Left better', KEY_HINTS.left)} />
        <RationaleCard
          side="right"
          item={item}
          rs={rs}
          dispatch={dispatch}
          choose={choiceButton('right', 'Right better', KEY_HINTS.right)}
        />
      </div>
      <div className="rate-actions">
        {choiceButton('both', 'Both good', KEY_HINTS.both)}
        {choiceButton('neither', 'Neither', KEY_HINTS.neither)}
        <div className="spacer" />
        <button type="button" data-testid="rating-back" onClick={() => dispatch({ type: 'back' })}>
          Back
          <Key>{KEY_HINTS.back}</Key>
        </button>
        <button type="button" data-testid="rating-prev" disabled={item.position === 0} onClick={() => dispatch({ type: 'prev' })}>
          Previous
          <Key>{KEY_HINTS.prev}</Key>
        </button>
        <button
          type="button"
          data-testid="rating-next"
          disabled={item.position >= item.total - 1}
          onClick={() => dispatch({ type: 'next' })}
        >
          Next
          <Key>{KEY_HINTS.next}</Key>
        </button>
      </div>
    </div>
  );
}

export function RationaleCard(props: {
  side: 'left' | 'right';
  item: RatingItem;
  rs: RaterState;
  dispatch: (a: RatingAction) => void;
  choose: ReactElement;
}): ReactElement {
  const { side, item, rs, dispatch } = props;
  const r = item[side];
  const flagged = side === 'left' ? rs.flagLeft : rs.flagRight;
  const chosen = rs.choice === side || rs.choice === 'both';
  const rejected = rs.choice !== null && !chosen;
  const title = side === 'left' ? 'Left' : 'Right';
  return (
    <section className={`panel rate-card${chosen ? ' chosen' : ''}${rejected ? ' rejected' : ''}`} data-testid={`rating-${side}`}>
      <header className="panel-head">
        <h2>{title}</h2>
      </header>
      <div className="panel-body">
        <div className="rate-rationale" data-testid={`rating-${side}-text`}>
          {r.text || <span className="muted">(empty rationale)</span>}
        </div>
        <div className="rate-answer">
          <span className="meta-label">answer</span>{' '}
          <span className="mono" data-testid={`rating-${side}-answer`}>
            {r.answer ?? <span className="muted">none extracted</span>}
          </span>
        </div>
        <div className="rate-card-foot">
          {props.choose}
          {r.correct || flagged ? (
            <button
              type="button"
              className={`rate-flag${flagged ? ' on' : ''}`}
              aria-pressed={flagged}
              data-testid={`rating-flag-${side}`}
              onClick={() => dispatch({ type: 'toggleFlag', side })}
            >
              {flagged ? '⚑ ' : ''}right answer, flawed reasoning
              <Key>{side === 'left' ? KEY_HINTS.flagLeft : KEY_HINTS.flagRight}</Key>
            </button>
          ) : (
            <span className="muted small" data-testid={`rating-wrong-${side}`}>
              wrong answer
            </span>
          )}
        </div>
      </div>
    </section>
  );
}
