import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { test } from "node:test"
import { runCli } from "../fixtures/cli-run.ts"

const URL = process.env.REVOCABLE_TEST_REDIS ?? "redis://127.0.0.1:6379"

test("on a Redis key prefix no server has used, a command names the prefix and refuses to start a store there", async () => {
  const prefix = `cli_none_${randomBytes(6).toString("hex")}`
  const env = { REVOCABLE_STORE: URL, REVOCABLE_STORE_NAMESPACE: prefix, REVOCABLE_KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64") }
  for (const args of [["revocations"], ["keys", "rotate"]]) {
    const result = await runCli(args, env)
    assert.equal(result.code, 1, result.stderr)
    assert.equal(result.stdout, "")
    assert.match(result.stderr, new RegExp(`^revocable ${args.join(" ")}: no store in the key prefix "${prefix}" of redis://\\S+: point it at the server's store with REVOCABLE_STORE and REVOCABLE_STORE_NAMESPACE, or --config FILE; only 'revocable serve' creates a store\\n$`, "m"))
  }
})
