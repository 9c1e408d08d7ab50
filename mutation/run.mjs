// The command Stryker runs for each mutant: the node:test files that exercise the mutated source file (every
// mapped file in the dry run), in one process, on the instrumented .ts sources under Node's type stripping.
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"

const VERIFY = "test/core/verify.test.ts"
const TESTS = {
  "src/core/idset.ts": ["test/core/idset.test.ts", "test/core/replica.test.ts"],
  "src/core/replica.ts": ["test/core/replica.test.ts"],
  "src/core/tokens.ts": [VERIFY, "test/core/managed-keys.test.ts"],
  "src/core/claims.ts": [VERIFY, "test/core/claims.test.ts"],
  "src/core/base64url.ts": ["test/core/base64url.test.ts", VERIFY, "test/core/keys.test.ts"],
  "src/core/keys.ts": [VERIFY, "test/core/keys.test.ts", "test/core/options.test.ts", "test/core/managed-keys.test.ts"],
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
