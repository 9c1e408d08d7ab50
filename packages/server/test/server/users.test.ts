import assert from "node:assert/strict"
import crypto from "node:crypto"
import { syncBuiltinESMExports } from "node:module"
import { afterEach, beforeEach, describe, mock, test } from "node:test"
import { createAuth, type Auth } from "revocable"
import { memoryStore } from "revocable/stores/memory"
import type { ServerStore } from "revocable/stores"
import { clientDirectory } from "../../src/server/client-directory.ts"
import { checkPasswordHashing, hashPassword, verifyPassword } from "../../src/server/password.ts"
import { userDirectory, type UserDirectory } from "../../src/server/user-directory.ts"

const PASSWORD = "correct horse battery staple"

let store: ServerStore
let auth: Auth
let users: UserDirectory

beforeEach(() => {
  store = memoryStore()
  auth = createAuth({ issuer: "https://issuer.test", audience: "api", store })
  users = userDirectory(store, auth)
})

afterEach(async () => {
  await auth.close()
})

test("on a Node.js without crypto.argon2 (before 24.7) the server refuses to start, saying which version it needs", () => {
  const original = crypto.argon2
  Object.defineProperty(crypto, "argon2", { value: undefined, configurable: true, writable: true })
  syncBuiltinESMExports()
  try {
    assert.throws(() => checkPasswordHashing(), /needs Node\.js 24\.7 or later/)
  } finally {
    Object.defineProperty(crypto, "argon2", { value: original, configurable: true, writable: true })
    syncBuiltinESMExports()
  }
  checkPasswordHashing()
})

describe("userDirectory", () => {
  test("create() stores an argon2id PHC hash with the OWASP parameters, never the password", async () => {
    const alice = await users.create({ username: "Alice", password: PASSWORD })
    assert.equal(alice.username, "alice")
    assert.deepEqual(alice.roles, [])
    const stored = (await store.getDocument("users", alice.sub)) as string
    assert.ok(!stored.includes(PASSWORD))
    const hash = JSON.parse(stored).passwordHash as string
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
    assert.equal(await verifyPassword(PASSWORD, hash), true)
    assert.equal(await verifyPassword("wrong password", hash), false)
  })

  test("two hashes of one password differ (random salt)", async () => {
    assert.notEqual(await hashPassword(PASSWORD), await hashPassword(PASSWORD))
  })

  test("authenticate() accepts the password whatever the username's case, and refuses a wrong one", async () => {
    const alice = await users.create({ username: "alice", password: PASSWORD })
    assert.equal((await users.authenticate("ALICE", PASSWORD)).sub, alice.sub)
    await assert.rejects(users.authenticate("alice", "not the password"), { code: "invalid_credentials" })
  })

  test("an unknown user and a wrong password fail alike, each after exactly one argon2id derivation of the same cost", async () => {
    await users.create({ username: "alice", password: PASSWORD })
    await users.authenticate("alice", PASSWORD)
    const calls: { memory: number; passes: number; parallelism: number }[] = []
    const original = crypto.argon2
    mock.method(crypto, "argon2", (algorithm: string, params: crypto.Argon2Parameters, callback: (error: Error | null, key: Buffer) => void) => {
      assert.equal(algorithm, "argon2id")
      calls.push({ memory: params.memory, passes: params.passes, parallelism: params.parallelism })
      return original(algorithm as "argon2id", params, callback)
    })
    syncBuiltinESMExports()
    try {
      const wrong = await users.authenticate("alice", "not the password").catch((error: unknown) => error)
      const wrongCalls = calls.splice(0)
      const unknown = await users.authenticate("nobody", "not the password").catch((error: unknown) => error)
      const unknownCalls = calls.splice(0)
      const malformed = await users.authenticate("../x", "not the password").catch((error: unknown) => error)
      assert.deepEqual(wrong, unknown)
      assert.deepEqual(wrong, malformed)
      assert.equal((wrong as { code: string }).code, "invalid_credentials")
      assert.equal((wrong as Error).message, (unknown as Error).message)
      assert.deepEqual(wrongCalls, [{ memory: 19_456, passes: 2, parallelism: 1 }])
      assert.deepEqual(unknownCalls, wrongCalls)
      assert.deepEqual(calls, wrongCalls)
    } finally {
      mock.restoreAll()
      syncBuiltinESMExports()
    }
  })

  test("an unknown user and a wrong password read the store alike: the same calls, in the same order", async () => {
    const calls: string[] = []
    const counted = new Proxy(store, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver)
        if (typeof value !== "function") return value
        return (...args: unknown[]) => {
          calls.push(`${String(property)}:${String(args[0])}`)
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    })
    const directory = userDirectory(counted, auth)
    await directory.create({ username: "alice", password: PASSWORD })
    calls.length = 0
    await assert.rejects(directory.authenticate("alice", "not the password"), { code: "invalid_credentials" })
    const wrong = calls.splice(0)
    await assert.rejects(directory.authenticate("nobody", "not the password"), { code: "invalid_credentials" })
    assert.deepEqual(calls, wrong)
    assert.deepEqual(wrong, ["getDocument:usernames", "getDocument:users"])
  })

  test("create() refuses a taken username (in any case), a malformed one, a weak password and bad roles", async () => {
    await users.create({ username: "alice", password: PASSWORD })
    await assert.rejects(users.create({ username: "ALICE", password: PASSWORD }), { code: "invalid_request", field: "username", message: "That username is taken." })
    for (const username of ["ab", "a b", "../etc", "x".repeat(65), "", "élise"]) {
      await assert.rejects(users.create({ username, password: PASSWORD }), { code: "invalid_request", field: "username" }, username)
    }
    for (const password of ["short", "bobby123".slice(0, 7), "bobbyjoe", "x".repeat(257)]) {
      await assert.rejects(users.create({ username: "bobbyjoe", password }), { code: "invalid_request", field: "password" })
    }
    await assert.rejects(users.create({ username: "carol", password: PASSWORD, roles: ["Admin!"] }), { code: "invalid_request", field: "roles" })
    assert.equal(await users.findByUsername("bobbyjoe"), null)
  })

  test("a username left without its user record by a failed create can be registered again", async () => {
    await store.putDocument("usernames", "bob", JSON.stringify({ sub: "ghost" }))
    const bob = await users.create({ username: "bob", password: PASSWORD })
    assert.equal((await users.findByUsername("bob"))?.sub, bob.sub)
  })

  test("a stored hash of weaker parameters is upgraded at the next successful login", async () => {
    const alice = await users.create({ username: "alice", password: PASSWORD })
    const text = (await store.getDocument("users", alice.sub)) as string
    const weak = await hashPassword(PASSWORD, { m: 8192, t: 2, p: 1 })
    await store.putDocument("users", alice.sub, JSON.stringify({ ...JSON.parse(text), passwordHash: weak }))
    await users.authenticate("alice", PASSWORD)
    const upgraded = JSON.parse((await store.getDocument("users", alice.sub)) as string).passwordHash as string
    assert.match(upgraded, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    assert.equal(await verifyPassword(PASSWORD, upgraded), true)
  })

  test("a tampered hash asking for absurd cost is refused without being computed", async () => {
    const alice = await users.create({ username: "alice", password: PASSWORD })
    const text = (await store.getDocument("users", alice.sub)) as string
    const hash = JSON.parse(text).passwordHash as string
    await store.putDocument("users", alice.sub, JSON.stringify({ ...JSON.parse(text), passwordHash: hash.replace("m=19456", "m=9999999") }))
    await assert.rejects(users.authenticate("alice", PASSWORD), { code: "invalid_credentials" })
  })

  test("suspend() revokes every token and refuses logins; unsuspend() allows logins, old tokens stay revoked", async () => {
    const alice = await users.create({ username: "alice", password: PASSWORD })
    const pair = await auth.issue(alice.sub)
    const suspended = await users.suspend(alice.sub, { reason: "incident", actor: "ops" })
    assert.notEqual(suspended?.suspendedAt, null)
    await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
    await assert.rejects(auth.refresh(pair.refreshToken), { code: "token_revoked" })
    await assert.rejects(users.authenticate("alice", PASSWORD), { code: "forbidden" })
    const [revocation] = (await auth.listRevocations({ subject: alice.sub, kind: "subject" })).items
    assert.equal(revocation?.reason, "incident")
    assert.equal(revocation?.actor, "ops")
    assert.equal((await users.unsuspend(alice.sub))?.suspendedAt, null)
    await users.authenticate("alice", PASSWORD)
    await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
    assert.equal(await users.suspend("nobody"), null)
    assert.equal(await users.unsuspend("nobody"), null)
  })

  test("changePassword() revokes every other session, keeps the current one, and checks the current password", async () => {
    const alice = await users.create({ username: "alice", password: PASSWORD })
    const kept = await auth.issue(alice.sub)
    const others = [await auth.issue(alice.sub), await auth.issue(alice.sub)]
    await assert.rejects(users.changePassword(alice.sub, "not the password", "a brand new passphrase", kept.sessionId), { code: "invalid_credentials" })
    await assert.rejects(users.changePassword(alice.sub, PASSWORD, "short", kept.sessionId), { code: "invalid_request" })
    assert.equal(await users.changePassword(alice.sub, PASSWORD, "a brand new passphrase", kept.sessionId), 2)
    await auth.verify(kept.accessToken)
    for (const pair of others) {
      await assert.rejects(auth.verify(pair.accessToken), { code: "token_revoked" })
      await assert.rejects(auth.refresh(pair.refreshToken), { code: "token_revoked" })
    }
    await assert.rejects(users.authenticate("alice", PASSWORD), { code: "invalid_credentials" })
    await users.authenticate("alice", "a brand new passphrase")
  })

  test("isCurrent() turns false after a suspension or a password change", async () => {
    await users.create({ username: "alice", password: PASSWORD })
    const seen = await users.authenticate("alice", PASSWORD)
    assert.equal(await users.isCurrent(seen), true)
    await users.changePassword(seen.sub, PASSWORD, "a brand new passphrase")
    assert.equal(await users.isCurrent(seen), false)
    const again = await users.authenticate("alice", "a brand new passphrase")
    await users.suspend(again.sub)
    assert.equal(await users.isCurrent(again), false)
  })

  test("list() pages through every user in id order", async () => {
    const created = []
    for (const name of ["anna", "bert", "cleo", "dora", "emil"]) created.push(await users.create({ username: name, password: PASSWORD }))
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: Awaited<ReturnType<UserDirectory["list"]>> = await users.list({ cursor, limit: 2 })
      assert.ok(page.items.length <= 2)
      seen.push(...page.items.map((user) => user.sub))
      cursor = page.next
    } while (cursor !== null)
    assert.deepEqual(seen, created.map((user) => user.sub).sort())
    await assert.rejects(users.list({ limit: 0 }), { code: "invalid_request" })
  })

  test("a store that fails surfaces as store_unavailable", async () => {
    const broken = Object.assign(Object.create(store) as ServerStore, {
      getDocument: async () => {
        throw new Error("connect ECONNREFUSED")
      },
    })
    await assert.rejects(userDirectory(broken, auth).authenticate("alice", PASSWORD), { code: "store_unavailable" })
  })
})

describe("clientDirectory", () => {
  test("create() shows the secret once and stores only its SHA-256", async () => {
    const clients = clientDirectory(store)
    const { clientId, clientSecret } = await clients.create("orders-api")
    assert.match(clientSecret, /^[A-Za-z0-9_-]{43}$/)
    const stored = (await store.getDocument("clients", clientId)) as string
    assert.ok(!stored.includes(clientSecret))
    assert.equal(JSON.parse(stored).secretHash, crypto.createHash("sha256").update(clientSecret).digest("base64url"))
    assert.deepEqual((await clients.list()).map((client) => [client.clientId, client.name]), [[clientId, "orders-api"]])
  })

  test("authenticate() accepts the right secret only, and delete() removes the client", async () => {
    const clients = clientDirectory(store)
    const { clientId, clientSecret } = await clients.create("orders-api")
    assert.equal((await clients.authenticate(clientId, clientSecret))?.clientId, clientId)
    assert.equal(await clients.authenticate(clientId, `${clientSecret}x`), null)
    assert.equal(await clients.authenticate("unknown", clientSecret), null)
    assert.equal(await clients.authenticate(clientId, ""), null)
    assert.equal(await clients.delete(clientId), true)
    assert.equal(await clients.delete(clientId), false)
    assert.equal(await clients.authenticate(clientId, clientSecret), null)
  })

  test("create() refuses an empty or unprintable name", async () => {
    const clients = clientDirectory(store)
    await assert.rejects(clients.create(""), { code: "invalid_request" })
    await assert.rejects(clients.create("a\nb"), { code: "invalid_request" })
  })
})
