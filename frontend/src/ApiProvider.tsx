import type { ReactNode } from "react";
import type { ApiClient } from "./api/client";
import { ApiContext } from "./apiContext";

export function ApiProvider({ api, children }: { api: ApiClient; children: ReactNode }) {
  return <ApiContext.Provider value={api}>{children}</ApiContext.Provider>;
}
