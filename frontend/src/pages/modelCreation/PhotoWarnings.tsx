import type { PhotoWarning, View } from "../../api/types";

export interface PhotoWarningsProps {
  view: View;
  label: string;
  warnings: readonly PhotoWarning[];
}

/** What background removal's cross-view check corrected or doubts in one photo, next to that photo. */
export function PhotoWarnings({ view, label, warnings }: PhotoWarningsProps) {
  return (
    <ul className="photo-slot__warnings" data-testid={`photo-warning-${view}`} aria-label={`Notes on the ${label} photo`}>
      {warnings.map((warning, index) => (
        <li key={`${warning.code}-${index}`} className="photo-slot__warning" data-code={warning.code}>
          <span aria-hidden="true" className="photo-slot__warning-icon">
            ⚠
          </span>
          {warning.message}
        </li>
      ))}
    </ul>
  );
}
