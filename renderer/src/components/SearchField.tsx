import type { ReactElement } from 'react';

/** A text filter (type="search"): the runs page's search box, the compare sidebar's run filter. */
export function SearchField({
  value,
  onChange,
  placeholder,
  className,
  testId,
  ariaLabel,
}: {
  value: string;
  onChange: (value: string) => void;
  placeholder: string;
  className?: string;
  testId?: string;
  ariaLabel?: string;
}): ReactElement {
  return (
    <input
      type="search"
      className={className}
      placeholder={placeholder}
      aria-label={ariaLabel}
      value={value}
      onChange={(e) => onChange(e.target.value)}
      data-testid={testId}
    />
  );
}
