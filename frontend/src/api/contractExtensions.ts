/**
 * Fields agreed with the services (the cross-slice contracts) that are not yet in their OpenAPI
 * documents, so not yet in src/api/generated/. Every field is optional here and the page works without
 * it. Delete each one once the service that sends it has landed and `make docs` has put it into the
 * generated types.
 */

// --- issue 11: the UI switch (`GET /config.json`) -------------------------------------------------
export interface FrontendConfigContractExtensions {
  /** false: the page shows existing models read-only and creates nothing. Absent = on. */
  creationEnabled?: boolean;
  /** Why creation is off, shown to the user. */
  creationNotice?: string | null;
}
