// The revocation feed on the instance's own replica: a revocation made on another instance reaches this one's
// feed through the store's change feed (Redis), and after the replica's feed reconnected no cursor is followed
// blindly, since changes may have been missed.
import assert from "node:assert/strict"
import { after, test } from "node:test"
import { createAuth, type Auth, type Revocation } from "revocable"
import type { ServerStore } from "revocable/stores"
import { redisStore } from "revocable/stores/redis"
import { deleteKeys, REDIS_URL, uniquePrefix } from "../../../revocable/test/helpers/redis.ts"
import { flakyStore } from "../../../revocable/test/helpers/flaky.ts"
import { revocationFeed } from "../../src/server/feed.ts"

const prefixes: string[] = []
const opened: Auth[] = []
after(async () => {
  for (const auth of opened) await auth.close()
  await deleteKeys(REDIS_URL, prefixes)
})

async function instance(store: ServerStore): Promise<Auth> {
  const auth = createAuth({ issuer: "http://issuer.test", audience: "api", store })
  opened.push(auth)
  await auth.ready()
  return auth
}

function nextRevocation(auth: Auth, id: string): Promise<Revocation> {
  return new Promise((resolve) => {
    const off = auth.on("revoked", (revocation) => {
      if (revocation.id !== id) return
      off()
      resolve(revocation)
    })
  })
}

test("a revocation made on another instance on Redis is in this instance's feed: in the changes since, and in a new snapshot", async () => {
  const prefix = uniquePrefix("feed")
  prefixes.push(prefix)
  const here = redisStore({ url: REDIS_URL }, { prefix, onWarning: () => {} })
  const there = redisStore({ url: REDIS_URL }, { prefix, onWarning: () => {} })
  const local = await instance(here)
  const remote = await instance(there)
  const feed = revocationFeed(local, here)
  const first = await feed.read(null)
  assert.equal(first.type, "snapshot")

  const pair = await remote.issue("user-1")
  const arrived = nextRevocation(local, pair.sessionId)
  await remote.revokeSession(pair.sessionId)
  await arrived
  const changes = await feed.read(first.cursor)
  assert.equal(changes.type, "changes")
  assert.deepEqual(changes.type === "changes" && changes.changes.map((change) => [change.op, change.kind, change.id]), [["revoked", "session", pair.sessionId]])

  const snapshot = await revocationFeed(local, here).read(null)
  assert.ok(snapshot.type === "snapshot" && snapshot.revocations.some((entry) => entry.kind === "session" && entry.id === pair.sessionId))
  feed.close()
})

test("after the replica's feed reconnects, an old cursor gets a new snapshot of the store, not the changes since", async () => {
  const store = flakyStore(0)
  const auth = await instance(store)
  const feed = revocationFeed(auth, store)
  const before = await feed.read(null)
  await auth.revokeSubject("user-2")
  const followed = await feed.read(before.cursor)
  assert.equal(followed.type, "changes")

  store.reset()
  const after = await feed.read(followed.cursor)
  assert.equal(after.type, "snapshot")
  assert.notEqual(after.cursor.split(".")[0], before.cursor.split(".")[0])
  assert.ok(after.type === "snapshot" && after.revocations.some((entry) => entry.kind === "subject" && entry.id === "user-2" && typeof entry.cutoff === "number"))
  // The new cursor is followed again.
  assert.equal((await feed.read(after.cursor)).type, "changes")
  feed.close()
})
