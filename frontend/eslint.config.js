// ESLint (flat config): typescript-eslint with type information, the React hooks rules (exhaustive-deps
// is an error: a stale closure in an effect is a bug, not a style question) and react-refresh (a module
// that exports components exports only components, so Vite's fast refresh keeps state).
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import reactRefresh from "eslint-plugin-react-refresh";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  // generated from docs/openapi/ by `npm run api:types`: checked for drift, not linted
  { ignores: ["dist", "coverage", "src/api/generated"] },
  {
    files: ["**/*.{ts,tsx}"],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      ecmaVersion: 2022,
      globals: globals.browser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { "react-hooks": reactHooks, "react-refresh": reactRefresh },
    rules: {
      ...reactHooks.configs["recommended-latest"].rules,
      "react-hooks/exhaustive-deps": "error",
      "react-refresh/only-export-components": ["error", { allowConstantExport: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["**/*.test.{ts,tsx}", "src/test/**"],
    rules: {
      // Testing Library's `await act(async () => …)` and async fakes of fetch are idioms, not mistakes
      "@typescript-eslint/require-await": "off",
      // asymmetric matchers (expect.stringMatching, expect.any) are typed `any` by Vitest
      "@typescript-eslint/no-unsafe-assignment": "off",
      // test modules are never hot-reloaded
      "react-refresh/only-export-components": "off",
    },
  },
  {
    files: ["*.js", "scripts/**/*.mjs"],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
);
