import { useCreation } from "../hooks/useCreation";

/** While the operator has switched model creation off: why, on every page, above its content. */
export function CreationNotice() {
  const creation = useCreation();
  if (creation.enabled) return null;
  return (
    <p className="banner" role="status" data-testid="creation-disabled-notice">
      {creation.message}
    </p>
  );
}
