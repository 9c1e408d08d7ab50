// Signing keys at rest: a copy of the store alone (the SQLite file, a PostgreSQL dump, the Redis keys) holds no
// private key material, nor the server's own secrets (the device-cookie key, the OIDC sealing key); keys and secrets
// stored in plaintext by an earlier version are wrapped at the first start with no token broken; and the server
// signs and verifies after a restart, a key rotation and a rewrap under a new KEK.
import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { after, describe, test } from "node:test"
import { compactDecrypt, decodeProtectedHeader } from "jose"
import { Pool } from "pg"
import { createClient } from "redis"
import { createAuth } from "revocable"
import type { ServerStore } from "revocable/stores"
import { sqliteStore } from "revocable/stores/sqlite"
import { deleteKeys, REDIS_URL } from "../../../revocable/test/helpers/redis.ts"
import { startServer } from "../../src/server/app.ts"
import { loadConfig } from "../../src/server/config.ts"
import { createAuthFromConfig, openStore } from "../../src/server/engine.ts"
import { rewrapKeys } from "../../src/server/keystore.ts"
import { keyEncryptionKey } from "../../src/server/keywrap.ts"
import { SECRET_DOCUMENTS, storedSecret } from "../../src/server/secrets.ts"
import { runCli } from "../fixtures/cli-run.ts"
import { call, PASSWORD, signIn } from "../helpers/server.ts"

const POSTGRES_URL = process.env.REVOCABLE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test"
const ISSUER = "http://issuer.test"
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k"]

const root = mkdtempSync(join(tmpdir(), "revocable-keystore-"))
after(() => rmSync(root, { recursive: true, force: true }))

const newKek = () => randomBytes(32).toString("base64")
const kekId = (kek: string) => keyEncryptionKey(Buffer.from(kek, "base64")).id

/**
 * The private members of every stored key and the server's secrets (made when absent), read through the server's
 * store (which unwraps them).
 */
async function privateParts(env: Record<string, string>): Promise<string[]> {
  const store = await openStore(loadConfig(env))
  try {
    const jwks = (await store.listKeys()).map((key) => JSON.parse(key.privateJwk) as Record<string, unknown>)
    const secrets = await Promise.all(SECRET_DOCUMENTS.map(async ([collection, id]) => (await storedSecret(store, collection, id)).toString("base64url")))
    return [...jwks.flatMap((jwk) => PRIVATE_MEMBERS.map((member) => jwk[member]).filter((value): value is string => typeof value === "string")), ...secrets]
  } finally {
    await store.close()
  }
}

/** Whether any private member shows in the copy: as base64url, as raw bytes, as base64 or as hex. */
function leaks(copy: Buffer, parts: readonly string[]): boolean {
  assert.ok(parts.length > 0)
  return parts.some((part) => {
    const raw = Buffer.from(part, "base64url")
    return [Buffer.from(part), raw, Buffer.from(raw.toString("base64")), Buffer.from(raw.toString("hex"))].some((form) => copy.includes(form))
  })
}

/** The server on this configuration, over real HTTP. */
async function serve(env: Record<string, string>) {
  return startServer(loadConfig({ REVOCABLE_PORT: "0", REVOCABLE_ISSUER: ISSUER, REVOCABLE_LOG_LEVEL: "silent", ...env }))
}

async function me(url: string, token: string): Promise<number> {
  return (await call(url, "GET", "/me", { token })).status
}

const kidOf = (token: string) => (JSON.parse(Buffer.from(token.split(".")[0] as string, "base64url").toString()) as { kid: string }).kid

/**
 * On a store configured by `env`: sign in, rotate the key with the CLI, restart; rewrap under a new KEK with the CLI,
 * restart with that KEK alone. Every token verifies at each step, and `copy` never shows a private key.
 */
async function rotateRestartRewrap(env: Record<string, string>, kek: string, copy: () => Promise<Buffer>): Promise<void> {
  let server = await serve({ ...env, REVOCABLE_KEY_ENCRYPTION_KEY: kek })
  const first = await signIn(server.url, "alice")
  await server.close()
  const rotated = await runCli(["keys", "rotate", "--now", "--json"], { ...env, REVOCABLE_KEY_ENCRYPTION_KEY: kek, REVOCABLE_ISSUER: ISSUER })
  assert.equal(rotated.code, 0, rotated.stderr)
  const { kid } = JSON.parse(rotated.stdout) as { kid: string }

  server = await serve({ ...env, REVOCABLE_KEY_ENCRYPTION_KEY: kek })
  assert.equal(await me(server.url, first.access_token), 200, "a token from before the restart verifies")
  const second = await signIn(server.url, "alice", PASSWORD, false)
  assert.equal(kidOf(second.access_token), kid, "new tokens are signed with the rotated key")
  await server.close()
  assert.equal(leaks(await copy(), await privateParts({ ...env, REVOCABLE_KEY_ENCRYPTION_KEY: kek })), false)

  const next = newKek()
  const rewrapped = await runCli(["keys", "rewrap"], { ...env, REVOCABLE_KEY_ENCRYPTION_KEY: `${next},${kek}` })
  assert.equal(rewrapped.code, 0, rewrapped.stderr)
  assert.equal(rewrapped.stdout, `re-wrapped 2 keys under the key-encryption key ${kekId(next)}\n`)
  const again = await runCli(["keys", "rewrap", "--json"], { ...env, REVOCABLE_KEY_ENCRYPTION_KEY: next })
  assert.deepEqual(JSON.parse(again.stdout), { kek: kekId(next), rewrapped: [] }, "nothing left under the old KEK")

  server = await serve({ ...env, REVOCABLE_KEY_ENCRYPTION_KEY: next })
  assert.equal(await me(server.url, first.access_token), 200, "tokens of both keys verify after the rewrap")
  assert.equal(await me(server.url, second.access_token), 200)
  const third = await signIn(server.url, "alice", PASSWORD, false)
  assert.equal(await me(server.url, third.access_token), 200, "and the server still signs")
  await server.close()
  assert.equal(leaks(await copy(), await privateParts({ ...env, REVOCABLE_KEY_ENCRYPTION_KEY: next })), false)

  await assert.rejects(serve({ ...env, REVOCABLE_KEY_ENCRYPTION_KEY: kek }), {
    message: new RegExp(`is wrapped under the key-encryption key ${kekId(next)}, which is not configured`),
  })
}

describe("SQLite", () => {
  test("keys are wrapped under the KEK kept beside the database, which a copy of the file alone does not open", async () => {
    const dataDir = join(root, "beside")
    const env = { REVOCABLE_DATA_DIR: dataDir }
    const config = loadConfig(env)
    const auth = createAuthFromConfig(config, await openStore(config))
    await auth.rotateKey()
    await auth.close()
    const kek = readFileSync(join(dataDir, "revocable.db.kek"), "utf8").trim()
    const raw = sqliteStore({ path: join(dataDir, "revocable.db") })
    await raw.open()
    const stored = await raw.listKeys()
    await raw.close()
    assert.equal(stored.length, 2)
    for (const key of stored) {
      assert.equal(decodeProtectedHeader(key.privateJwk).kid, kekId(kek))
      const { plaintext } = await compactDecrypt(key.privateJwk, Buffer.from(kek, "base64"))
      assert.equal(typeof (JSON.parse(new TextDecoder().decode(plaintext)) as { d?: unknown }).d, "string")
    }
    const file = readFileSync(join(dataDir, "revocable.db"))
    assert.equal(leaks(file, await privateParts(env)), false)
  })

  test("signs and verifies after a restart, a rotation and a rewrap; the file and its WAL never hold a private key", async () => {
    const dataDir = join(root, "rewrap")
    const database = join(dataDir, "revocable.db")
    const copy = async () => Buffer.concat([readFileSync(database), existsSync(`${database}-wal`) ? readFileSync(`${database}-wal`) : Buffer.alloc(0)])
    // Moving from the generated KEK to one of the operator's: the generated one still opens what it wrapped.
    const server = await serve({ REVOCABLE_DATA_DIR: dataDir })
    await signIn(server.url, "bob")
    await server.close()
    await rotateRestartRewrap({ REVOCABLE_DATA_DIR: dataDir }, readFileSync(`${database}.kek`, "utf8").trim(), copy)
  })

  test("keys an earlier version stored in plaintext are wrapped at the first start, its tokens still valid, no trace left", async () => {
    const dataDir = join(root, "earlier")
    const database = join(dataDir, "revocable.db")
    const earlier = createAuth({ issuer: ISSUER, audience: "api", store: sqliteStore({ path: database }) })
    const before = await earlier.issue("alice")
    // Two keys and some sessions: a rewritten row's old bytes then stay in the page unless the file is rebuilt.
    const { kid } = await earlier.rotateKey({ now: true })
    const pairs = [before, ...(await Promise.all(["bob", "carol", "dave"].map((subject) => earlier.issue(subject))))]
    await earlier.close()
    const raw = sqliteStore({ path: database })
    await raw.open()
    const parts = (await raw.listKeys()).map((key) => (JSON.parse(key.privateJwk) as { d: string }).d)
    await raw.close()
    assert.equal(leaks(readFileSync(database), parts), true, "the check finds a plaintext key")

    const config = loadConfig({ REVOCABLE_DATA_DIR: dataDir, REVOCABLE_ISSUER: ISSUER })
    const auth = createAuthFromConfig(config, await openStore(config))
    for (const pair of pairs) assert.ok(await auth.verify(pair.accessToken), "no token breaks")
    assert.equal(kidOf((await auth.issue("alice")).accessToken), kid, "the same key signs on")
    await auth.close()
    const copy = Buffer.concat([readFileSync(database), existsSync(`${database}-wal`) ? readFileSync(`${database}-wal`) : Buffer.alloc(0)])
    assert.equal(leaks(copy, parts), false)
  })
})

describe("PostgreSQL", () => {
  const schema = `kek_${process.pid}_${randomBytes(4).toString("hex")}`
  const env = { REVOCABLE_STORE: POSTGRES_URL, REVOCABLE_STORE_NAMESPACE: schema }
  after(async () => {
    const admin = new Pool({ connectionString: POSTGRES_URL, max: 1 })
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await admin.end()
  })
  const dump = async () => Buffer.from((await promisify(execFile)("pg_dump", [`--dbname=${POSTGRES_URL}`, `--schema=${schema}`], { maxBuffer: 64 << 20 })).stdout)

  test("a dump holds no private key: plaintext keys are wrapped at the first start with a KEK; rotate, restart and rewrap", async () => {
    await rotateRestartRewrap(env, await plaintextThenWrapped(env, dump), dump)
  })
})

describe("Redis", () => {
  const prefix = `kek_${process.pid}_${randomBytes(4).toString("hex")}`
  const env = { REVOCABLE_STORE: REDIS_URL, REVOCABLE_STORE_NAMESPACE: prefix }
  after(() => deleteKeys(REDIS_URL, [prefix]))

  /** Every key of the store and everything in it. */
  async function keys(): Promise<Buffer> {
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    const texts: string[] = []
    try {
      for await (const batch of client.scanIterator({ MATCH: `{${prefix}}*`, COUNT: 1000 })) {
        for (const key of batch) {
          const type = await client.type(key)
          const value =
            type === "hash" ? await client.hGetAll(key)
            : type === "string" ? await client.get(key)
            : type === "zset" ? await client.zRange(key, 0, -1)
            : type === "set" ? await client.sMembers(key)
            : type === "list" ? await client.lRange(key, 0, -1)
            : type === "stream" ? await client.xRange(key, "-", "+")
            : assert.fail(`a key of type ${type}`)
          texts.push(key, JSON.stringify(value))
        }
      }
    } finally {
      await client.close()
    }
    return Buffer.from(texts.join("\n"))
  }

  test("the keys hold no private key: plaintext keys are wrapped at the first start with a KEK; rotate, restart and rewrap", async () => {
    await rotateRestartRewrap(env, await plaintextThenWrapped(env, keys), keys)
  })
})

/**
 * An earlier start kept the key in plaintext (as before this version, or REVOCABLE_INSECURE_PLAINTEXT_KEYS); a start
 * with a KEK wraps it. Resolves that KEK.
 */
async function plaintextThenWrapped(env: Record<string, string>, copy: () => Promise<Buffer>): Promise<string> {
  const insecure = loadConfig({ ...env, REVOCABLE_ISSUER: ISSUER, REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true" })
  const plaintextStore = await openStore(insecure)
  const { warnings } = plaintextStore as ServerStore & { warnings: { code: string }[] }
  assert.ok(warnings.some((warning) => warning.code === "REVOCABLE_PLAINTEXT_KEYS"), "the server logs that keys are kept in plaintext")
  await assert.rejects(rewrapKeys(plaintextStore), { message: "No key-encryption key is configured: set REVOCABLE_KEY_ENCRYPTION_KEY (make one with `openssl rand -base64 32`)." })
  const earlier = createAuthFromConfig(insecure, plaintextStore)
  const pair = await earlier.issue("carol")
  await earlier.close()
  const parts = await privateParts({ ...env, REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true" })
  assert.equal(leaks(await copy(), parts), true, "the check finds a plaintext key")
  for (const secret of parts.slice(-SECRET_DOCUMENTS.length)) assert.equal(leaks(await copy(), [secret]), true, "and each plaintext secret")

  const kek = newKek()
  const config = loadConfig({ ...env, REVOCABLE_ISSUER: ISSUER, REVOCABLE_KEY_ENCRYPTION_KEY: kek })
  const store: ServerStore = await openStore(config)
  const auth = createAuthFromConfig(config, store)
  assert.equal((await auth.verify(pair.accessToken)).sub, "carol", "no token breaks")
  await auth.close()
  assert.equal(leaks(await copy(), parts), false)
  assert.deepEqual(await privateParts({ ...env, REVOCABLE_KEY_ENCRYPTION_KEY: kek }), parts, "the secrets kept their bytes")
  // Without its KEK, a start that allows plaintext still cannot use the wrapped key, and says so.
  await assert.rejects(openStore(insecure), { message: new RegExp(`wrapped under the key-encryption key ${kekId(kek)}, which is not configured`) })
  return kek
}
