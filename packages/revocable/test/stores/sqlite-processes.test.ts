// Several real processes on one SQLite file: durability across a crash, revocation between processes,
// and refresh rotation racing across processes.
import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, describe, test } from "node:test"
import { createAuth, type TokenPair } from "../../src/index.ts"
import { sqliteStore } from "../../src/stores/sqlite/index.ts"
import { startInstance, type Instance } from "../helpers/instance.ts"

const dir = mkdtempSync(join(tmpdir(), "revocable-sqlite-processes-"))
const workers = new Set<Instance>()

after(async () => {
  for (const worker of workers) await worker.kill()
  rmSync(dir, { recursive: true, force: true })
})

/** Starts an application process on `path` and resolves once its auth is ready. */
async function startWorker(path: string): Promise<Instance> {
  const worker = await startInstance(["sqlite", path])
  workers.add(worker)
  return worker
}

let files = 0
function freshPath(): string {
  return join(dir, `run-${++files}`, "revocable.db")
}

describe("sqlite store shared by several processes", () => {
  test("a revocation acknowledged by a process that is then killed is in force for the next process", async () => {
    const path = freshPath()
    const writer = await startWorker(path)
    const revoked = await writer.call<TokenPair>("issue", "alice")
    const kept = await writer.call<TokenPair>("issue", "bob")
    const loggedOut = await writer.call<TokenPair>("issue", "carol")
    assert.equal(await writer.call("revoke", revoked.accessToken), true)
    assert.equal(await writer.call("logout", loggedOut.accessToken), "session")
    assert.equal(await writer.kill(), "SIGKILL")

    const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store: sqliteStore({ path }) })
    try {
      await assert.rejects(auth.verify(revoked.accessToken), { code: "token_revoked" })
      await assert.rejects(auth.verify(loggedOut.accessToken), { code: "token_revoked" })
      await assert.rejects(auth.refresh(loggedOut.refreshToken), { code: "token_revoked" })
      assert.equal((await auth.verify(kept.accessToken)).sub, "bob")
      assert.equal((await auth.verify(revoked.refreshToken, { type: "refresh" })).sub, "alice", "only the access token was revoked")
      const next = await auth.refresh(kept.refreshToken)
      assert.equal((await auth.verify(next.accessToken)).sub, "bob")
    } finally {
      await auth.close()
    }
  })

  test("what a killed process revoked is refused by the next one until exp + leeway, then the token is simply expired", async (t) => {
    const path = freshPath()
    const writer = await startWorker(path)
    const token = await writer.call<TokenPair>("issue", "alice")
    const subject = [await writer.call<TokenPair>("issue", "carol"), await writer.call<TokenPair>("issue", "carol")]
    assert.equal(await writer.call("revoke", token.accessToken), true)
    assert.equal(await writer.call("revokeSubject", "carol"), "subject")
    assert.equal(await writer.kill(), "SIGKILL")

    // The default leeway, 30 s.
    const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store: sqliteStore({ path }), purgeInterval: false })
    try {
      await auth.ready()
      t.mock.timers.enable({ apis: ["Date"], now: Date.now() })
      for (const pair of subject) {
        await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
        await assert.rejects(auth.refresh(pair.refreshToken), { code: "token_revoked" })
      }
      const { exp } = JSON.parse(Buffer.from(token.accessToken.split(".")[1] as string, "base64url").toString()) as { exp: number }
      t.mock.timers.tick(exp * 1000 + 30_000 - 1 - Date.now())
      await assert.rejects(auth.verify(token.accessToken), { code: "token_revoked" })
      t.mock.timers.tick(1)
      await assert.rejects(auth.verify(token.accessToken), { code: "token_expired" })
    } finally {
      await auth.close()
    }
  })

  test("a revocation in one process is refused in the other, both ways", async () => {
    const path = freshPath()
    const a = await startWorker(path)
    const b = await startWorker(path)
    const alices = await a.call<TokenPair>("issue", "alice")
    const bobs = await b.call<TokenPair>("issue", "bob")
    assert.equal(await b.call("verify", alices.accessToken), "alice")
    assert.equal(await a.call("verify", bobs.accessToken), "bob")

    assert.equal(await a.call("revoke", alices.accessToken), true)
    assert.ok((await b.call<number>("waitRevoked", alices.accessToken)) >= 1)

    assert.equal(await b.call("revokeSubject", "bob"), "subject")
    assert.ok((await a.call<number>("waitRevoked", bobs.accessToken)) >= 1)
    const after = await a.call<TokenPair>("issue", "bob")
    assert.equal(await b.call("verify", after.accessToken), "bob", "a token issued after the subject cut-off is valid")
    await a.kill()
    await b.kill()
  })

  test("ten concurrent refreshes of one refresh token from two processes: exactly one succeeds, twenty rounds", async () => {
    const path = freshPath()
    const a = await startWorker(path)
    const b = await startWorker(path)
    for (let round = 0; round < 20; round++) {
      const pair = await (round % 2 ? a : b).call<TokenPair>("issue", `user-${round}`)
      const [fromA, fromB] = await Promise.all([
        a.call<string[]>("refreshAll", pair.refreshToken, 5),
        b.call<string[]>("refreshAll", pair.refreshToken, 5),
      ])
      const results = [...fromA, ...fromB]
      assert.equal(results.length, 10)
      assert.equal(results.filter((result) => result === "ok").length, 1, `round ${round}: ${results.join(", ")}`)
      for (const result of results) {
        if (result !== "ok") assert.ok(["refresh_token_reused", "token_revoked"].includes(result), `round ${round}: ${result}`)
      }
    }
    await a.kill()
    await b.kill()
  })
})
