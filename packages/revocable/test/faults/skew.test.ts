// Instances whose clocks differ, in separate processes on one store: refresh rotation stays exact, and session
// times are the store's, whichever instance wrote them and whichever reads them.
import assert from "node:assert/strict"
import { setTimeout as delay } from "node:timers/promises"
import { after, describe, test } from "node:test"
import type { TokenPair } from "../../src/index.ts"
import { startInstance, type Instance, type InstanceOptions } from "../helpers/instance.ts"
import { SHARED_STORES, type SharedStore } from "./stores.ts"

const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

/** Two instances on a fresh store, the first `skewMs` ahead of the real clock and the second as far behind. */
async function pair(make: () => SharedStore, skewMs: number, auth: InstanceOptions["auth"] = {}): Promise<[Instance, Instance]> {
  const store = make()
  cleanups.push(() => store.remove())
  const ahead = await startInstance(store.args, { skewMs, auth })
  cleanups.push(() => ahead.stop())
  const behind = await startInstance(store.args, { skewMs: -skewMs, auth })
  cleanups.push(() => behind.stop())
  return [ahead, behind]
}

function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(() => "ok", (error: { code?: string }) => error.code ?? String(error))
}

for (const [name, make] of Object.entries(SHARED_STORES)) {
  describe(`${name}: instances 2 s apart (one 1 s ahead, one 1 s behind)`, { concurrency: true }, () => {
    test("ten parallel refreshes of one token, five on each instance: exactly one wins, 200 rounds", async () => {
      const [ahead, behind] = await pair(make, 1000)
      for (let round = 0; round < 200; round++) {
        const { refreshToken } = await (round % 2 ? ahead : behind).call<TokenPair>("issue", `racer-${round}`)
        const outcomes = (
          await Promise.all([ahead.call<string[]>("refreshAll", refreshToken, 5), behind.call<string[]>("refreshAll", refreshToken, 5)])
        ).flat()
        assert.equal(outcomes.filter((outcome) => outcome === "ok").length, 1, `round ${round}: ${outcomes.join(" ")}`)
        const losers = new Set(outcomes.filter((outcome) => outcome !== "ok"))
        for (const loser of losers) assert.ok(loser === "refresh_token_reused" || loser === "token_revoked", `round ${round}: ${loser}`)
      }
    })

    test("one refresh of one token on each instance at once: exactly one wins, 200 rounds", async () => {
      const [ahead, behind] = await pair(make, 1000)
      for (let round = 0; round < 200; round++) {
        const { refreshToken } = await (round % 2 ? ahead : behind).call<TokenPair>("issue", `duellist-${round}`)
        const outcomes = (await Promise.all([ahead.call<string[]>("refreshAll", refreshToken, 1), behind.call<string[]>("refreshAll", refreshToken, 1)])).flat()
        assert.deepEqual(outcomes.sort(), ["ok", "refresh_token_reused"], `round ${round}`)
      }
    })

    test("a spent refresh token replayed at once on the other instance is a reuse, whichever clock is ahead", async () => {
      const [ahead, behind] = await pair(make, 1000)
      for (let round = 0; round < 20; round++) {
        const [spender, replayer] = round % 2 ? [ahead, behind] : [behind, ahead]
        const { refreshToken } = await spender.call<TokenPair>("issue", `replayer-${round}`)
        const next = await spender.call<string>("refresh", refreshToken)
        assert.equal(await codeOf(replayer.call("refresh", refreshToken)), "refresh_token_reused", `round ${round}`)
        assert.equal(await codeOf(spender.call("refresh", next)), "token_revoked", `round ${round}: the reuse ended the session`)
      }
    })

    test("the grace window is measured by the store's clock: 5 s of grace, instances 10 s apart", async () => {
      const [ahead, behind] = await pair(make, 5000, { reuseGrace: "5s" })
      for (const [spender, replayer] of [[behind, ahead], [ahead, behind]] as const) {
        const { refreshToken } = await spender.call<TokenPair>("issue", "graceful")
        await spender.call<string>("refresh", refreshToken)
        assert.equal(await codeOf(replayer.call("refresh", refreshToken)), "ok", "the predecessor, moments after its rotation")
      }
    })

    test("idle and absolute session expiry hold by the store's clock", async () => {
      const [ahead, behind] = await pair(make, 1000, { idleTimeout: "4s", sessionTtl: "6s" })
      const idle = await ahead.call<TokenPair>("issue", "idler")
      const active = await ahead.call<TokenPair>("issue", "worker")
      const start = performance.now()
      const at = (ms: number) => delay(Math.max(0, start + ms - performance.now()))
      await at(2000)
      const second = await behind.call<string>("refresh", active.refreshToken)
      await at(4000)
      const third = await behind.call<string>("refresh", second)
      await at(5000)
      assert.equal(await codeOf(behind.call("refresh", idle.refreshToken)), "token_expired", "unused for 5 s of a 4 s idle timeout")
      await at(7000)
      assert.equal(await codeOf(behind.call("refresh", third)), "token_expired", "7 s into a 6 s session, last used 3 s ago")
    })
  })
}
