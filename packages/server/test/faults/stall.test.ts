// `revocable serve` on a store that stops answering (SIGSTOP, as a stalled host or a network partition does):
// every path that needs the store answers 503 store_unavailable within REVOCABLE_STORE_TIMEOUT, while the store
// is still stopped, and works again once it resumes.
import assert from "node:assert/strict"
import { setTimeout as delay } from "node:timers/promises"
import { after, describe, test } from "node:test"
import { createCluster, postgresBinaries } from "../../../revocable/test/helpers/postgres.ts"
import { startProcess, stopProcess } from "../helpers/process.ts"
import { startRedis } from "../../../revocable/test/helpers/redis.ts"
import { call, PASSWORD, signIn } from "../helpers/server.ts"

const MAX_STALENESS_MS = 1000
const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

interface StoppableStore {
  url: string
  pause(): Promise<void> | void
  resume(): Promise<void> | void
}

const bin = postgresBinaries()
// Under CI a missing server fails the suite; elsewhere the PostgreSQL case is skipped.
const skipPostgres = bin === null && process.env.CI !== "true" ? "no PostgreSQL server binaries under /usr/lib/postgresql" : false

const STORES: Record<string, { skip: string | false; start(): Promise<StoppableStore> }> = {
  redis: {
    skip: false,
    async start() {
      const server = await startRedis(["--appendonly", "yes", "--appendfsync", "always"])
      cleanups.push(() => server.destroy())
      return server
    },
  },
  postgres: {
    skip: skipPostgres,
    async start() {
      if (bin === null) throw new Error("PostgreSQL server binaries are missing under /usr/lib/postgresql.")
      const cluster = await createCluster(bin)
      cleanups.push(() => cluster.destroy())
      return cluster
    },
  },
}

/** The error code of an answer, or its status when it succeeded. */
function outcome(answer: { status: number; body: { error?: string } | undefined }): string | number {
  return answer.body?.error ?? answer.status
}

for (const [name, store] of Object.entries(STORES)) {
  describe(`${name} stalled under a running server`, { skip: store.skip }, () => {
    test("me, logout, refresh, login and readiness answer 503 while it is stopped, and work once it resumes", async () => {
      const backend = await store.start()
      const server = await startProcess({
        REVOCABLE_STORE: backend.url,
        REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true",
        REVOCABLE_STORE_TIMEOUT: "1s",
        REVOCABLE_MAX_STALENESS: `${MAX_STALENESS_MS}ms`,
      })
      cleanups.push(() => stopProcess(server))
      const first = await signIn(server.url, "stalled")
      const second = await signIn(server.url, "stalled", PASSWORD, false)
      assert.equal((await call(server.url, "GET", "/readyz")).status, 200)

      await backend.pause()
      const pausedAt = performance.now()
      // Verify answers from its replica while that is fresh; past maxStaleness it must ask the store.
      await delay(Math.max(0, pausedAt + 1.5 * MAX_STALENESS_MS - performance.now()))
      const answers = await Promise.all([
        call(server.url, "GET", "/me", { token: first.access_token }),
        call(server.url, "POST", "/auth/logout", { token: second.access_token }),
        call(server.url, "POST", "/auth/refresh", { json: { refresh_token: first.refresh_token } }),
        call(server.url, "POST", "/auth/login", { json: { username: "stalled", password: PASSWORD } }),
        call(server.url, "GET", "/readyz"),
      ])
      // Every answer above arrived while the store was still stopped.
      await backend.resume()
      assert.deepEqual(answers.map(outcome), ["store_unavailable", "store_unavailable", "store_unavailable", "store_unavailable", 503])
      for (const answer of answers.slice(0, 4)) assert.equal(answer.status, 503)

      // Ready again once the feed has reconnected and the replica reloaded.
      while ((await call(server.url, "GET", "/readyz")).status !== 200) await delay(20)
      assert.equal(outcome(await call(server.url, "GET", "/me", { token: first.access_token })), 200)
      assert.equal(outcome(await call(server.url, "POST", "/auth/logout", { token: second.access_token })), 204)
      assert.equal(outcome(await call(server.url, "GET", "/me", { token: second.access_token })), "token_revoked")
      assert.equal(outcome(await call(server.url, "POST", "/auth/refresh", { json: { refresh_token: first.refresh_token } })), 200)
      assert.equal(outcome(await call(server.url, "POST", "/auth/login", { json: { username: "stalled", password: PASSWORD } })), 200)
    })
  })
}
