// The command Stryker runs for each mutant: the node:test files that exercise the mutated source file (in the dry
// run, those of every instrumented file), on the instrumented .ts sources under Node's type stripping.
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"

const CORE = "packages/revocable/test/core"
const VERIFY = `${CORE}/verify.test.ts`
const MANAGED_KEYS = `${CORE}/managed-keys.test.ts`
const TESTS = {
  "packages/revocable/src/core/idset.ts": [`${CORE}/idset.test.ts`, `${CORE}/replica.test.ts`],
  "packages/revocable/src/core/replica.ts": [`${CORE}/replica.test.ts`, `${CORE}/replica-window.test.ts`],
  "packages/revocable/src/core/tokens.ts": [VERIFY, MANAGED_KEYS],
  "packages/revocable/src/core/jws.ts": [VERIFY, MANAGED_KEYS],
  "packages/revocable/src/core/claims.ts": [VERIFY, `${CORE}/claims.test.ts`],
  "packages/revocable/src/core/base64url.ts": [`${CORE}/base64url.test.ts`, VERIFY, `${CORE}/keys.test.ts`],
  "packages/revocable/src/core/keys.ts": [VERIFY, `${CORE}/keys.test.ts`, `${CORE}/options.test.ts`, MANAGED_KEYS],
  "packages/revocable/src/core/sync.ts": [`${CORE}/sync.test.ts`],
  "packages/revocable/src/core/keychain.ts": [`${CORE}/keychain.test.ts`, MANAGED_KEYS],
  "packages/revocable/src/core/verified-cache.ts": [`${CORE}/verified-cache.test.ts`],
}
// Its instrumented hashing makes it take 20 s a run; what it guards, bytes per id, a test at 1/64 its size guards.
const SLOW = "a million revoked ids"
// It counts the warnings its process emits; in a process shared with other files it would count theirs too (a
// warning emitted in a chain of settled promises arrives only after it, in the next file's test).
const OWN_PROCESS = new Set([`${CORE}/options.test.ts`])
const INSTRUMENTED = /stryMutAct_\w+\(/

const active = process.env.__STRYKER_ACTIVE_MUTANT__
const marker = active === undefined ? INSTRUMENTED : new RegExp(`stryMutAct_\\w+\\("${active}"\\)`)
const sources = Object.keys(TESTS).filter((source) => marker.test(readFileSync(source, "utf8")))
// A mutant in a file without an entry runs everything rather than pass unseen.
const files = [...new Set((sources.length > 0 ? sources : Object.keys(TESTS)).flatMap((source) => TESTS[source]))]
const shared = files.filter((file) => !OWN_PROCESS.has(file))
const runs = [shared, ...files.filter((file) => OWN_PROCESS.has(file)).map((file) => [file])].filter((run) => run.length > 0)
for (const run of runs) {
  const { status } = spawnSync(process.execPath, ["--test", "--test-isolation=none", "--test-reporter=dot", `--test-skip-pattern=${SLOW}`, ...run], { stdio: "inherit" })
  // The first failing run has killed the mutant: the rest need not run.
  if (status !== 0) process.exit(status ?? 1)
}
