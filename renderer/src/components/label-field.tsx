/** One of an export's editable labels (title, x axis, y axis): a caption over a text input. */
import type { ReactElement } from 'react';

export function LabelField({
  label,
  value,
  onChange,
  testId,
}: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  testId: string;
}): ReactElement {
  return (
    <label>
      {label}
      <input type="text" data-testid={testId} value={value} onChange={(e) => onChange(e.target.value)} />
    </label>
  );
}
