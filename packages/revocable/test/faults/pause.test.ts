// An instance paused (SIGSTOP) for longer than maxStaleness while tokens are revoked elsewhere: resumed with
// verifies already queued, it refuses every revoked token. An instance started after the revocations refuses
// them from its first verify.
import assert from "node:assert/strict"
import { setTimeout as delay } from "node:timers/promises"
import { after, describe, test } from "node:test"
import type { TokenPair } from "../../src/index.ts"
import { startInstance, type Instance } from "../helpers/instance.ts"
import { SHARED_STORES } from "./stores.ts"

const MAX_STALENESS_MS = 1000
const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

for (const [name, make] of Object.entries(SHARED_STORES)) {
  describe(`${name}: an instance paused past maxStaleness`, () => {
    test("resumed with verifies queued, it refuses every token revoked during the pause", async () => {
      const store = make()
      cleanups.push(() => store.remove())
      const start = async () => {
        const instance = await startInstance(store.args, { auth: { maxStaleness: `${MAX_STALENESS_MS}ms` } })
        cleanups.push(() => instance.stop())
        return instance
      }
      const paused: Instance = await start()
      const other = await start()
      const pairs = await Promise.all(Array.from({ length: 10 }, (_, i) => other.call<TokenPair>("issue", `user-${i}`)))
      const kept = await other.call<TokenPair>("issue", "kept")
      const tokens = pairs.map((pair) => pair.accessToken)
      assert.deepEqual(await paused.call("verifyAll", tokens), pairs.map((_, i) => `user-${i}`))

      await paused.pause()
      const pausedAt = performance.now()
      for (const pair of pairs) await other.call("logout", pair.accessToken, false)
      // The pause itself is the fault: it must outlast maxStaleness.
      await delay(Math.max(0, pausedAt + 1.5 * MAX_STALENESS_MS - performance.now()))
      const answers = paused.call<string[]>("verifyAll", [...tokens, kept.accessToken])
      paused.resume()
      assert.deepEqual(await answers, [...tokens.map(() => "token_revoked"), "kept"])

      const late = await start()
      assert.deepEqual(await late.call("verifyAll", [...tokens, kept.accessToken]), [...tokens.map(() => "token_revoked"), "kept"])
    })
  })
}
