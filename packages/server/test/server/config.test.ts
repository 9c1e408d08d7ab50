import assert from "node:assert/strict"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, describe, test } from "node:test"
import { REDIS_URL } from "../../../revocable/test/helpers/redis.ts"
import { ConfigError, loadConfig } from "../../src/server/config.ts"
import { createAuthFromConfig, openStore } from "../../src/server/engine.ts"
import { memoryStore } from "revocable/stores/memory"

const dir = mkdtempSync(join(tmpdir(), "revocable-config-"))
after(() => rmSync(dir, { recursive: true, force: true }))

function refused(env: Record<string, string>, variable: string, options: { file?: string } = {}): ConfigError {
  let caught: unknown
  try {
    loadConfig(env, options)
  } catch (error) {
    caught = error
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${variable}`)
  assert.equal(caught.variable, variable)
  return caught
}

describe("loadConfig", () => {
  test("the defaults: port 8000, SQLite in ./data, EdDSA, open registration, 15 min access tokens", () => {
    const config = loadConfig({})
    assert.equal(config.port, 8000)
    assert.equal(config.host, "127.0.0.1")
    assert.equal(config.store, null)
    assert.equal(config.storeTimeoutMs, null, "each store's own bound")
    assert.equal(config.dataDir, "./data")
    assert.equal(config.issuer, "http://localhost:8000")
    assert.equal(config.algorithm, "EdDSA")
    assert.equal(config.registration, "open")
    assert.equal(config.accessTtlMs, 900_000)
    assert.equal(config.refreshTtlMs, 30 * 86_400_000)
    assert.equal(config.adminUser, "admin")
    assert.equal(config.adminPassword, null)
    assert.equal(config.maxSessions, null)
    assert.equal(config.cookies.secure, false)
    assert.deepEqual(config.loginLimit, { perAccount: 10, perIp: 100, windowMs: 900_000 })
  })

  test("PORT is read, and REVOCABLE_PORT wins over it", () => {
    assert.equal(loadConfig({ PORT: "9000" }).port, 9000)
    assert.equal(loadConfig({ PORT: "9000", REVOCABLE_PORT: "9001" }).port, 9001)
    assert.equal(loadConfig({ PORT: "9000" }).issuer, "http://localhost:9000")
  })

  test("every kind of setting is parsed from its variable", () => {
    const config = loadConfig({
      REVOCABLE_STORE: "postgres://db/auth",
      REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true",
      REVOCABLE_STORE_NAMESPACE: "tenant_1",
      REVOCABLE_STORE_TIMEOUT: "1.5s",
      REVOCABLE_ISSUER: "https://auth.example.com/",
      REVOCABLE_ACCESS_TTL: "5m",
      REVOCABLE_REFRESH_TTL: "86400",
      REVOCABLE_LEEWAY: "0s",
      REVOCABLE_MAX_SESSIONS: "3",
      REVOCABLE_MAX_SESSIONS_ON_EXCEED: "reject",
      REVOCABLE_REGISTRATION: "closed",
      REVOCABLE_PURGE_INTERVAL: "off",
      REVOCABLE_COOKIE_ORIGINS: "https://app.example, https://admin.example",
      REVOCABLE_TRUST_PROXY: "1",
      REVOCABLE_LOG_LEVEL: "warn",
    })
    assert.equal(config.store, "postgres://db/auth")
    assert.equal(config.storeNamespace, "tenant_1")
    assert.equal(config.storeTimeoutMs, 1500)
    assert.equal(config.issuer, "https://auth.example.com")
    assert.equal(config.cookies.secure, true)
    assert.equal(config.accessTtlMs, 300_000)
    assert.equal(config.refreshTtlMs, 86_400_000)
    assert.equal(config.leewayMs, 0)
    assert.deepEqual(config.maxSessions, { limit: 3, onExceed: "reject" })
    assert.equal(config.registration, "closed")
    assert.equal(config.purgeIntervalMs, null)
    assert.deepEqual(config.cookies.origins, ["https://app.example", "https://admin.example"])
    assert.equal(config.trustProxy, 1)
    assert.equal(config.logLevel, "warn")
  })

  test("an invalid value throws a ConfigError naming its variable", () => {
    assert.match(refused({ REVOCABLE_PORT: "eighty" }, "REVOCABLE_PORT").message, /^REVOCABLE_PORT must be an integer from 0 to 65535\.$/)
    refused({ PORT: "70000" }, "PORT")
    refused({ REVOCABLE_ACCESS_TTL: "soon" }, "REVOCABLE_ACCESS_TTL")
    refused({ REVOCABLE_ACCESS_TTL: "0s" }, "REVOCABLE_ACCESS_TTL")
    for (const leeway of ["-1s", "-30", "NaN", "NaNs", "Infinity", "-Infinity"]) refused({ REVOCABLE_LEEWAY: leeway }, "REVOCABLE_LEEWAY")
    refused({ REVOCABLE_STORE: "mysql://db" }, "REVOCABLE_STORE")
    refused({ REVOCABLE_STORE_NAMESPACE: "Bad-Name" }, "REVOCABLE_STORE_NAMESPACE")
    refused({ REVOCABLE_ISSUER: "ftp://auth" }, "REVOCABLE_ISSUER")
    refused({ REVOCABLE_ISSUER: "https://auth.example/?x=1" }, "REVOCABLE_ISSUER")
    refused({ REVOCABLE_ALGORITHM: "HS256" }, "REVOCABLE_ALGORITHM")
    refused({ REVOCABLE_REGISTRATION: "maybe" }, "REVOCABLE_REGISTRATION")
    refused({ REVOCABLE_COOKIE_ORIGINS: "https://app.example/path" }, "REVOCABLE_COOKIE_ORIGINS")
    refused({ REVOCABLE_COOKIE_SAMESITE: "None" }, "REVOCABLE_COOKIE_SAMESITE")
    refused({ REVOCABLE_BODY_LIMIT: "10" }, "REVOCABLE_BODY_LIMIT")
    for (const timeout of ["0", "50ms", "2h"]) refused({ REVOCABLE_STORE_TIMEOUT: timeout }, "REVOCABLE_STORE_TIMEOUT")
  })

  test("a duration that feeds a timer is refused above 2^31-1 ms, the limit of setInterval", () => {
    for (const value of ["25d", "2147484", "4w"]) {
      assert.match(refused({ REVOCABLE_PURGE_INTERVAL: value }, "REVOCABLE_PURGE_INTERVAL").message, /^REVOCABLE_PURGE_INTERVAL must be at most 24 days\.$/)
    }
    const file = join(dir, "purge.json")
    writeFileSync(file, JSON.stringify({ purgeInterval: "30d" }))
    assert.match(refused({}, "REVOCABLE_PURGE_INTERVAL", { file }).message, /^purgeInterval in .* must be at most 24 days\.$/)
    assert.equal(loadConfig({ REVOCABLE_PURGE_INTERVAL: "2147483" }).purgeIntervalMs, 2_147_483_000)
  })

  test("a lifetime createAuth takes in seconds is refused unless it is a whole number of seconds", () => {
    const variables = ["REVOCABLE_ACCESS_TTL", "REVOCABLE_REFRESH_TTL", "REVOCABLE_SESSION_TTL", "REVOCABLE_IDLE_TIMEOUT", "REVOCABLE_PURGE_INTERVAL"]
    for (const variable of variables) {
      assert.match(refused({ [variable]: "1.5" }, variable).message, new RegExp(`^${variable} must be a whole number of seconds\\.$`))
      refused({ [variable]: "1500ms" }, variable)
    }
  })

  test("the server's auth instance starts with every duration loadConfig accepts at its limits", async () => {
    const config = loadConfig({
      REVOCABLE_ACCESS_TTL: "1", REVOCABLE_REFRESH_TTL: "1", REVOCABLE_SESSION_TTL: "1", REVOCABLE_IDLE_TIMEOUT: "1",
      REVOCABLE_LEEWAY: "0.5", REVOCABLE_REUSE_GRACE: "1500ms", REVOCABLE_MAX_STALENESS: "0", REVOCABLE_PURGE_INTERVAL: "2147483",
    })
    const auth = createAuthFromConfig(config, memoryStore())
    await auth.ready()
    await auth.close()
  })

  test("a refused secret is never quoted in the message", () => {
    const error = refused({ REVOCABLE_ADMIN_PASSWORD: "hunter2" }, "REVOCABLE_ADMIN_PASSWORD")
    assert.ok(!error.message.includes("hunter2"))
  })

  test("a config file supplies settings under their camelCase names; variables win over it", () => {
    const file = join(dir, "config.json")
    writeFileSync(file, JSON.stringify({ port: 8100, registration: "closed", accessTtl: "2m", cookieOrigins: ["https://app.example"] }))
    const config = loadConfig({ REVOCABLE_CONFIG: file, REVOCABLE_PORT: "8200" })
    assert.equal(config.port, 8200)
    assert.equal(config.registration, "closed")
    assert.equal(config.accessTtlMs, 120_000)
    assert.deepEqual(config.cookies.origins, ["https://app.example"])
    assert.equal(loadConfig({}, { file }).port, 8100)
  })

  test("a bad config file is refused: missing, not JSON, not an object, an unknown key, a bad value", () => {
    refused({ REVOCABLE_CONFIG: join(dir, "missing.json") }, "REVOCABLE_CONFIG")
    const file = join(dir, "bad.json")
    writeFileSync(file, "{ port: 1 ")
    refused({ REVOCABLE_CONFIG: file }, "REVOCABLE_CONFIG")
    writeFileSync(file, "[1]")
    refused({ REVOCABLE_CONFIG: file }, "REVOCABLE_CONFIG")
    writeFileSync(file, JSON.stringify({ prot: 1 }))
    assert.match(refused({ REVOCABLE_CONFIG: file }, "REVOCABLE_CONFIG").message, /Unknown setting "prot"/)
    writeFileSync(file, JSON.stringify({ port: "x" }))
    assert.match(refused({}, "REVOCABLE_PORT", { file }).message, /^port in .* must be an integer/)
  })
})

describe("openStore and createAuthFromConfig", () => {
  test("without REVOCABLE_STORE, the store is the SQLite file revocable.db in REVOCABLE_DATA_DIR, keys kept across restarts", async () => {
    const dataDir = join(dir, "data")
    const config = loadConfig({ REVOCABLE_DATA_DIR: dataDir, REVOCABLE_ISSUER: "https://auth.example", REVOCABLE_ACCESS_TTL: "1m" })
    const store = await openStore(config)
    assert.equal(store.name, "sqlite")
    assert.ok(existsSync(join(dataDir, "revocable.db")))
    const auth = createAuthFromConfig(config, store)
    const pair = await auth.issue("alice")
    assert.equal(pair.expiresIn, 60)
    const claims = await auth.verify(pair.accessToken)
    assert.equal(claims.iss, "https://auth.example")
    assert.equal(claims.aud, "api")
    const kid = auth.jwks().keys[0]?.kid
    assert.equal(auth.jwks().keys[0]?.alg, "EdDSA")
    await auth.close()

    const again = createAuthFromConfig(config, await openStore(config))
    await again.verify(pair.accessToken)
    assert.equal(again.jwks().keys[0]?.kid, kid)
    await again.close()
  })

  test("sqlite:PATH names the file", async () => {
    const path = join(dir, "named.db")
    const store = await openStore(loadConfig({ REVOCABLE_STORE: `sqlite:${path}` }))
    assert.ok(existsSync(path))
    await store.close()
  })

  test("a Redis store's heartbeat is a quarter of maxStaleness, at most a second, so the replica does not flap stale", async () => {
    const heartbeat = async (maxStaleness: string): Promise<number> => {
      const store = await openStore(loadConfig({ REVOCABLE_STORE: REDIS_URL, REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true", REVOCABLE_MAX_STALENESS: maxStaleness, REVOCABLE_STORE_NAMESPACE: `heartbeat_${process.pid}` }))
      await store.close()
      return store.heartbeatMs
    }
    assert.deepEqual([await heartbeat("1s"), await heartbeat("5s"), await heartbeat("20ms"), await heartbeat("0s")], [250, 1000, 10, 1000])
  })
})
