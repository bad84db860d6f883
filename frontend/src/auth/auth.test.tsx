import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { AuthProvider } from "./AuthProvider";
import { useAuth } from "./context";
import { decodeToken, tokenProblem } from "./tokens";
import { fakeJwt } from "../test/fixtures";

describe("tokens", () => {
  it("reads the subject of a JWT for display", () => {
    expect(decodeToken(fakeJwt({ sub: "alice", exp: 2_000_000_000 }))).toMatchObject({ sub: "alice" });
    expect(decodeToken("not-a-token")).toBeNull();
  });

  it("explains why a pasted token cannot be used", () => {
    expect(tokenProblem("")).toMatch(/Paste a token/);
    expect(tokenProblem("abc")).toMatch(/not a JSON Web Token/);
    expect(tokenProblem(fakeJwt({ sub: "a", exp: 100 }), 200)).toMatch(/expired/);
    expect(tokenProblem(fakeJwt({ exp: 300 }), 200)).toMatch(/no subject/);
    expect(tokenProblem(fakeJwt({ sub: "a", exp: 300 }), 200)).toBeNull();
  });
});

function Probe() {
  const { token, signIn, signOut } = useAuth();
  return (
    <>
      <output>{token ?? "none"}</output>
      <button onClick={() => signIn("Bearer abc.def.ghi")}>in</button>
      <button onClick={() => signOut()}>out</button>
    </>
  );
}

describe("AuthProvider", () => {
  it("keeps the token in this tab's session only, never in the address", async () => {
    const user = userEvent.setup();
    render(
      <AuthProvider>
        <Probe />
      </AuthProvider>,
    );
    await user.click(screen.getByText("in"));
    expect(screen.getByRole("status")).toHaveTextContent("abc.def.ghi");
    expect(sessionStorage.getItem("photo3d.token")).toBe("abc.def.ghi");
    expect(localStorage.length).toBe(0);
    expect(window.location.href).not.toContain("abc.def.ghi");
    await user.click(screen.getByText("out"));
    expect(sessionStorage.getItem("photo3d.token")).toBeNull();
    expect(screen.getByRole("status")).toHaveTextContent("none");
  });
});
