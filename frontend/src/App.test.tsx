import { screen, render, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { App } from "./App";
import { errorResponse, FakeBackend, jsonResponse } from "./test/fakeBackend";
import { fakeJwt, makeModel } from "./test/fixtures";

vi.mock("@google/model-viewer", () => ({}));

function installBackend(backend: FakeBackend) {
  backend.on("GET", /^\/config\.json$/, () => jsonResponse({ uploadBaseUrl: "http://127.0.0.1:8001", statusBaseUrl: "" }));
  vi.stubGlobal("fetch", backend.fetch);
}

describe("App", () => {
  it("signs in with a dev token and lists the user's models", async () => {
    const user = userEvent.setup();
    const token = fakeJwt({ sub: "alice" });
    const backend = new FakeBackend()
      .on("POST", /\/api\/dev\/token$/, () => jsonResponse({ token }))
      .on("GET", /\/api\/models\?/, () =>
        jsonResponse({ items: [makeModel({ name: "Teapot", status: "completed" })], total: 1, limit: 20, offset: 0 }),
      );
    installBackend(backend);
    render(<App />);

    await user.type(await screen.findByLabelText("User name"), "alice");
    await user.click(screen.getByRole("button", { name: "Sign in" }));

    expect(await screen.findByRole("heading", { name: "My models" })).toBeInTheDocument();
    const list = await screen.findByRole("list", { name: "Your models, newest first" });
    expect(within(list).getByRole("link", { name: "Teapot" })).toBeInTheDocument();
    expect(within(list).getByText("Completed")).toBeInTheDocument();
    expect(screen.getByText("alice")).toBeInTheDocument();
    expect(backend.requestsTo("POST", /dev\/token/)[0]?.body).toEqual({ user: "alice" });
    expect(backend.requestsTo("GET", /\/api\/models\?/)[0]?.headers.get("authorization")).toBe(`Bearer ${token}`);
    for (const request of backend.requests) expect(request.url).not.toContain(token);
  });

  it("refuses a pasted value that is not a usable token, and the skip link keeps the address", async () => {
    const user = userEvent.setup();
    installBackend(new FakeBackend());
    render(<App />);
    await user.type(await screen.findByLabelText("Access token"), "hello");
    await user.click(screen.getByRole("button", { name: "Use this token" }));
    expect(screen.getByRole("alert")).toHaveTextContent("not a JSON Web Token");
    expect(sessionStorage.getItem("photo3d.token")).toBeNull();

    window.location.hash = "#/new";
    await user.click(screen.getByRole("link", { name: "Skip to content" }));
    expect(window.location.hash).toBe("#/new");
    expect(document.getElementById("main")).toHaveFocus();
  });

  it("explains when dev sign-in is switched off", async () => {
    const user = userEvent.setup();
    installBackend(new FakeBackend().on("POST", /\/api\/dev\/token$/, () => errorResponse(404, "not_found", "nope")));
    render(<App />);
    await user.type(await screen.findByLabelText("User name"), "bob");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByText(/Dev sign-in is switched off/)).toBeInTheDocument();
  });

  it("signs out with a notice when the token is refused", async () => {
    const user = userEvent.setup();
    installBackend(new FakeBackend().on("GET", /\/api\/models\?/, () => errorResponse(401, "unauthenticated", "expired")));
    render(<App />);
    await user.type(await screen.findByLabelText("Access token"), fakeJwt({ sub: "carol" }));
    await user.click(screen.getByRole("button", { name: "Use this token" }));
    expect(await screen.findByText(/sign-in has expired or is not accepted/)).toBeInTheDocument();
    expect(sessionStorage.getItem("photo3d.token")).toBeNull();
  });

  it("says when the configuration cannot be loaded", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => new Response("", { status: 502 })));
    render(<App />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Cannot load /config.json");
  });
});
