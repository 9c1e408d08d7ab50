// Key activation across instances: two createAuth on one PostgreSQL or Redis store agree on the signing key
// before and after a rotated key's activation time, which each reads from the store's clock, whatever its own.
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { after, describe, test } from "node:test"
import { Pool } from "pg"
import { createAuth, type Auth, type Store } from "../../src/index.ts"
import { postgresStore } from "../../src/stores/postgres/index.ts"
import { redisStore } from "../../src/stores/redis/index.ts"
import type { Clock } from "../../src/core/store.ts"
import { manualClock, type ManualClock } from "../helpers/clock.ts"
import { decode, split } from "../helpers/forge.ts"
import { deleteKeys, REDIS_URL, uniquePrefix } from "../helpers/redis.ts"

const POSTGRES_URL = process.env.REVOCABLE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test"
/** Near the real time: Redis expires keys by its own clock, so a store clock far in the past would expire sessions at once. */
const T0 = Math.floor(Date.now() / 1000) * 1000
const DELAY_MS = 15 * 60_000
const schemas: string[] = []
const prefixes: string[] = []
const opened: Auth[] = []

after(async () => {
  for (const auth of opened) await auth.close()
  const admin = new Pool({ connectionString: POSTGRES_URL, max: 1 })
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  await admin.end()
  await deleteKeys(REDIS_URL, prefixes)
})

const stores: Record<string, (clock: Clock) => () => Store> = {
  PostgreSQL(clock) {
    const schema = `t_${process.pid}_${randomBytes(4).toString("hex")}`
    schemas.push(schema)
    return () => postgresStore({ connectionString: POSTGRES_URL }, { schema, clock })
  },
  Redis(clock) {
    const prefix = uniquePrefix("activation")
    prefixes.push(prefix)
    return () => redisStore({ url: REDIS_URL }, { prefix, clock, onWarning: () => undefined })
  },
}

function instance(store: Store, clock: Clock): Auth {
  const auth = createAuth({ issuer: "https://issuer.test", audience: "api", store, clock, keyActivationDelay: DELAY_MS / 1000 })
  opened.push(auth)
  return auth
}

async function signingKid(auth: Auth): Promise<string> {
  return decode(split((await auth.issue("alice")).accessToken)[0]).kid as string
}

/** Resolves once the instance's JWKS lists the kid: the store's feed has brought it. */
async function published(auth: Auth, kid: string): Promise<void> {
  while (!auth.jwks().keys.some((key) => key.kid === kid)) await new Promise((resolve) => setTimeout(resolve, 5))
}

for (const [name, makeStore] of Object.entries(stores)) {
  describe(`two instances on ${name}`, () => {
    test("agree on the signing key before and after activation, read from the store's clock, though their own clocks differ", async () => {
      // The store's clock, and two instances: one on time, one five seconds behind.
      const clocks: ManualClock[] = [manualClock(T0), manualClock(T0), manualClock(T0 - 5000)]
      const [storeClock, onTime, behind] = clocks as [ManualClock, ManualClock, ManualClock]
      const store = makeStore(storeClock)
      const a = instance(store(), onTime)
      const b = instance(store(), behind)
      await a.ready()
      await b.ready()
      const old = await signingKid(a)
      assert.equal(await signingKid(b), old)

      const { kid, activatesAt } = await a.rotateKey()
      assert.equal(activatesAt, T0 + DELAY_MS)
      await published(b, kid)
      assert.equal(b.jwks().keys[0]?.kid, kid, "published on the other instance, the next key first")
      for (const clock of clocks) clock.tick(DELAY_MS - 1)
      assert.deepEqual([await signingKid(a), await signingKid(b)], [old, old])
      for (const clock of clocks) clock.tick(1)
      assert.deepEqual([await signingKid(a), await signingKid(b)], [kid, kid], "both switch at the store's time, no reload")
      const token = (await b.issue("bob")).accessToken
      assert.equal((await a.verify(token)).sub, "bob")
    })
  })
}
