// The command Stryker runs for each mutant: the node:test files that exercise the mutated source file (every
// mapped file in the dry run), in one process, on the instrumented .ts sources under Node's type stripping.
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"

const VERIFY = "packages/revocable/test/core/verify.test.ts"
const TESTS = {
  "packages/revocable/src/core/idset.ts": ["packages/revocable/test/core/idset.test.ts", "packages/revocable/test/core/replica.test.ts"],
  "packages/revocable/src/core/replica.ts": ["packages/revocable/test/core/replica.test.ts"],
  "packages/revocable/src/core/tokens.ts": [VERIFY, "packages/revocable/test/core/managed-keys.test.ts"],
  "packages/revocable/src/core/claims.ts": [VERIFY, "packages/revocable/test/core/claims.test.ts"],
  "packages/revocable/src/core/base64url.ts": ["packages/revocable/test/core/base64url.test.ts", VERIFY, "packages/revocable/test/core/keys.test.ts"],
  "packages/revocable/src/core/keys.ts": [VERIFY, "packages/revocable/test/core/keys.test.ts", "packages/revocable/test/core/options.test.ts", "packages/revocable/test/core/managed-keys.test.ts"],
}
// Its instrumented hashing makes it take 20 s a run; what it guards, bytes per id, a test at 1/64 its size guards.
const SLOW = "a million revoked ids"

const active = process.env.__STRYKER_ACTIVE_MUTANT__
const marker = active === undefined ? null : new RegExp(`stryMutAct_\\w+\\("${active}"\\)`)
const sources = Object.keys(TESTS).filter((source) => marker === null || marker.test(readFileSync(source, "utf8")))
// A mutant in a file without an entry runs everything rather than pass unseen.
const files = [...new Set((sources.length > 0 ? sources : Object.keys(TESTS)).flatMap((source) => TESTS[source]))]
const { status } = spawnSync(process.execPath, ["--test", "--test-isolation=none", "--test-reporter=dot", `--test-skip-pattern=${SLOW}`, ...files], { stdio: "inherit" })
process.exit(status ?? 1)
