// StrykerJS over the core: `npm run mutate` (every file; writes mutation/RESULTS.md). The command runner runs
// mutation/run.mjs, which runs the node:test files for the mutated file on the instrumented .ts sources.
// Mutants that cannot change behaviour are disabled where they are, `// Stryker disable next-line <mutator>:
// <reason>`, and listed in mutation/MUTATION.md.
export default {
  testRunner: "command",
  commandRunner: { command: "node mutation/run.mjs" },
  // The command runner reports no coverage: every mutant runs its file's tests.
  coverageAnalysis: "off",
  mutate: ["tokens", "jws", "claims", "base64url", "keys", "replica", "idset", "sync", "keychain", "verified-cache"].map((unit) => `packages/revocable/src/core/${unit}.ts`),
  // Node strips types without checking them, and no checker runs: the sources need no @ts-nocheck.
  disableTypeChecks: false,
  // Two cores, shared with other work: a mutant slowed down by it must not be taken for a hung one (a timeout
  // counts as detected).
  concurrency: 2,
  timeoutFactor: 3,
  plugins: ["@stryker-mutator/*", "./mutation/reporter.mjs"],
  reporters: ["markdown", "html", "clear-text", "progress"],
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  ignorePatterns: ["/bench", "/examples", "/docs", "/packages/server", "dist", "/data", "/test-artifacts"],
  thresholds: { high: 100, low: 90, break: null },
}
