// The conformance suite against a 3-master Redis Cluster that this test starts on free ports.
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import { createCluster } from "redis"
import { redisStore } from "../../src/stores/redis/index.ts"
import type { Clock, Store } from "../../src/core/store.ts"
import { startCluster, uniquePrefix, type RedisCluster, type RedisServer } from "../helpers/redis.ts"
import { nextEvent, revocation, storeConformance } from "../../src/testing/conformance.ts"

let cluster: RedisCluster
let client: ReturnType<typeof createCluster>
const opened: Store[] = []
const prefixes = new WeakMap<Store, string>()

before(async () => {
  cluster = await startCluster()
  client = createCluster({ rootNodes: cluster.rootNodes })
  client.on("error", () => {})
  await client.connect()
})

after(async () => {
  for (const store of opened) await store.close()
  await client?.close()
  await cluster?.destroy()
})

async function open(prefix: string, clock?: Clock): Promise<Store> {
  const store = redisStore({ client }, { prefix, onWarning: () => {}, clock })
  opened.push(store)
  prefixes.set(store, prefix)
  await store.open()
  return store
}

storeConformance("redis cluster", {
  create: ({ clock }) => open(uniquePrefix("cluster"), clock),
  async peer(store, { clock }) {
    const prefix = prefixes.get(store)
    assert.ok(prefix, "peer() is given a store made by create()")
    return open(prefix, clock)
  },
})

describe("redis cluster specifics", () => {
  test("stores with different prefixes live on different masters, and each works", async () => {
    const masters = new Set<string>()
    for (let i = 0; masters.size < 2 && i < 50; i++) {
      const prefix = uniquePrefix(`spread-${i}`)
      const store = await open(prefix)
      const seen = nextEvent(store, (event) => event.type === "revoked")
      await seen.ready
      await store.revoke(revocation())
      await seen
      const slot = Number(await cluster.nodes[0]?.cli("cluster", "keyslot", `{${prefix}}`))
      for (const node of cluster.nodes) {
        if ((await node.cli("cluster", "countkeysinslot", String(slot))) !== "0") masters.add(node.url)
      }
      await store.close()
    }
    assert.equal(masters.size, 2)
  })

  test("with the store's shard stopped (SIGSTOP), calls reject within commandTimeoutMs, and work again once it resumes", { timeout: 60_000 }, async () => {
    const prefix = uniquePrefix("stall")
    const store = redisStore({ client }, { prefix, commandTimeoutMs: 200, onWarning: () => {} })
    opened.push(store)
    await store.open()
    await store.subscribe(() => {})
    await store.revoke(revocation())
    const slot = String(await cluster.nodes[0]?.cli("cluster", "keyslot", `{${prefix}}`))
    let shard: RedisServer | undefined
    for (const node of cluster.nodes) if ((await node.cli("cluster", "countkeysinslot", slot)) !== "0") shard = node
    assert.ok(shard)
    await shard.pause()
    try {
      const query = { jti: "jti-1", sid: "x", subject: "x", gen: 0, kid: "x", now: Date.now() }
      const settled = await Promise.allSettled([store.isRevoked(query), store.revoke(revocation({ id: "t-2" })), store.snapshot(0)])
      for (const result of settled) assert.match(String(result.status === "rejected" && result.reason), /did not answer within 200 ms/)
    } finally {
      await shard.resume()
    }
    assert.equal((await store.revoke(revocation({ id: "t-3" }))).id, "t-3")
  })

  test("the store does not close a cluster client it was given", async () => {
    const store = await open(uniquePrefix("kept"))
    await store.close()
    assert.equal(client.isOpen, true)
  })
})
