import type { ModelOptions } from "../../api/types";
import { describeOptions } from "../../modelOptions";

/** What the model is being made with (size, face budget, texture), beside its progress. */
export function ModelOptionsSummary({ options }: { options: ModelOptions }) {
  return (
    <p className="muted model-options" data-testid="model-options">
      <span className="visually-hidden">Options: </span>
      {describeOptions(options)}
    </p>
  );
}
