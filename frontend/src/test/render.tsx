import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import type { ApiClient } from "../api/client";
import { ApiProvider } from "../ApiProvider";

export function renderWithApi(ui: ReactElement, api: ApiClient) {
  return render(<ApiProvider api={api}>{ui}</ApiProvider>);
}
