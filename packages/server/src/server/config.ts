/**
 * The auth server's settings: `REVOCABLE_*` environment variables over an optional JSON config file
 * (`REVOCABLE_CONFIG`), validated at once so that a mistake stops the start with a message naming the setting.
 *
 * @example
 * const config = loadConfig({ REVOCABLE_STORE: "postgres://db/auth", REVOCABLE_ISSUER: "https://auth.example" })
 * const store = await openStore(config)
 * const auth = createAuthFromConfig(config, store)
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { createAuth, type Auth, parseDuration, ALGORITHMS, type Algorithm } from "revocable"
import type { ServerStore } from "revocable/stores"
import { parseKeyEncryptionKeys, readKeyEncryptionKeyFile, type KeyEncryptionKey } from "./keywrap.ts"
import { KEK_REQUIRED, prepareKeyProtection, protectKeys } from "./keystore.ts"
import { readOidcConfig, type OidcConfig } from "./oidc/config.ts"
import type { StartWarning } from "./datadir.ts"
import { unknownVariables } from "./spelling.ts"

/** A setting is missing or invalid; the message names it (the variable, or the key of the config file). */
export class ConfigError extends Error {
  override name = "ConfigError"
  /** The environment variable concerned, e.g. "REVOCABLE_PORT". */
  readonly variable: string

  constructor(variable: string, message: string) {
    super(message)
    this.variable = variable
  }
}

export interface ServerConfig {
  port: number
  host: string
  /** REVOCABLE_STORE as given: null for the SQLite file in `dataDir`, "sqlite:PATH", "postgres://…", "redis://…". */
  store: string | null
  /** The PostgreSQL schema or the Redis key prefix, so that several deployments can share one database. */
  storeNamespace: string
  /** How long one store call may take before it fails (`store_unavailable`); null for the store's default. */
  storeTimeoutMs: number | null
  dataDir: string
  issuer: string
  audience: string
  algorithm: Algorithm
  accessTtlMs: number
  refreshTtlMs: number
  sessionTtlMs: number
  idleTimeoutMs: number | null
  leewayMs: number
  reuseGraceMs: number
  maxSessions: { limit: number; onExceed: "evict-oldest" | "reject" } | null
  maxStalenessMs: number
  onStoreUnavailable: "fail-closed" | "fail-open"
  purgeIntervalMs: number | null
  registration: "open" | "closed"
  adminUser: string
  /** Bootstraps the admin account on a start that finds no user of that name. Never logged. */
  adminPassword: string | null
  /** Login attempts allowed per account and per client IP within one window. */
  loginLimit: { perAccount: number; perIp: number; windowMs: number }
  /** Cookie mode: the refresh token in an HttpOnly cookie, unsafe requests guarded by a CSRF token. */
  cookies: { secure: boolean; sameSite: "Strict" | "Lax" | "None"; origins: string[] | null }
  bodyLimit: number
  maxHeaderSize: number
  /** Fastify's trustProxy: false, true, a hop count or a list of addresses (the per-IP limit needs the real IP). */
  trustProxy: boolean | number | string[]
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent"
  /** Sign-in with OpenID Connect providers (docs/oidc.md). */
  oidc: OidcConfig
  /**
   * The key-encryption keys that wrap the managed signing keys in the store, newest first (it wraps; the others
   * only unwrap, during a rotation); null when none is configured (see prepareKeyProtection).
   */
  keyEncryptionKeys: KeyEncryptionKey[] | null
  /** PostgreSQL and Redis without a key-encryption key: keep the signing keys in plaintext. */
  insecurePlaintextKeys: boolean
  /** What the operator should know at start: each REVOCABLE_* variable no setting reads, with the nearest known name. */
  warnings: StartWarning[]
}

type Raw = string | number | boolean | string[] | null
/** Parses one value; throws {@link Invalid} with what is wrong, which `loadConfig` prefixes with the setting's name. */
type Parser<T> = (value: Raw) => T

class Invalid extends Error {}

interface Setting<T> {
  env: string | readonly string[]
  key: string
  parse: Parser<T>
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const

/** Reads every setting; throws ConfigError at the first invalid one. Unknown REVOCABLE_* variables become warnings. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, options: { file?: string } = {}): ServerConfig {
  const known = new Set(["REVOCABLE_CONFIG"])
  const settings = readSettings(env, options, known)
  // REVOCABLE_OIDC_* variables are checked by the OIDC reader, which refuses unknown ones.
  return { ...settings, warnings: unknownVariables(env, known, ["REVOCABLE_OIDC_"]) }
}

/** Every setting, each variable it reads added to `known`. */
function readSettings(env: NodeJS.ProcessEnv, options: { file?: string }, known: Set<string>): Omit<ServerConfig, "warnings"> {
  const file = options.file ?? nonEmpty(env.REVOCABLE_CONFIG)
  const fromFile = file === undefined ? {} : readConfigFile(file)
  const read = <T>(setting: Setting<T>, fallback: () => T): T => {
    const names = typeof setting.env === "string" ? [setting.env] : setting.env
    for (const name of names) known.add(name)
    const parse = (value: Raw, variable: string, label: string): T => {
      try {
        return setting.parse(value)
      } catch (error) {
        if (error instanceof Invalid) throw new ConfigError(variable, `${label} ${error.message}`)
        throw error
      }
    }
    for (const name of names) {
      const value = nonEmpty(env[name])
      if (value !== undefined) return parse(value, name, name)
    }
    if (Object.hasOwn(fromFile, setting.key)) return parse(fromFile[setting.key] as Raw, names[0] as string, `${setting.key} in ${file}`)
    return fallback()
  }
  for (const key of Object.keys(fromFile)) {
    if (!FILE_KEYS.has(key)) throw new ConfigError("REVOCABLE_CONFIG", `Unknown setting ${JSON.stringify(key)} in ${file}; known: ${[...FILE_KEYS].join(", ")}.`)
  }

  const port = read({ env: ["REVOCABLE_PORT", "PORT"], key: "port", parse: integer(0, 65535) }, () => 8000)
  const issuer = read({ env: "REVOCABLE_ISSUER", key: "issuer", parse: url }, () => `http://localhost:${port}`)
  const refreshTtlMs = read({ env: "REVOCABLE_REFRESH_TTL", key: "refreshTtl", parse: seconds }, () => 30 * 86_400_000)
  const maxSessionsLimit = read({ env: "REVOCABLE_MAX_SESSIONS", key: "maxSessions", parse: integer(0, 1_000_000) }, () => 0)
  const onExceed = read({ env: "REVOCABLE_MAX_SESSIONS_ON_EXCEED", key: "maxSessionsOnExceed", parse: oneOf(["evict-oldest", "reject"] as const) }, () => "evict-oldest" as const)
  const cookieSecure = read({ env: "REVOCABLE_COOKIE_SECURE", key: "cookieSecure", parse: boolean }, () => issuer.startsWith("https:"))
  const sameSite = read({ env: "REVOCABLE_COOKIE_SAMESITE", key: "cookieSameSite", parse: oneOf(["Strict", "Lax", "None"] as const) }, () => "Strict" as const)
  if (sameSite === "None" && !cookieSecure) throw new ConfigError("REVOCABLE_COOKIE_SAMESITE", "REVOCABLE_COOKIE_SAMESITE=None needs secure cookies (REVOCABLE_COOKIE_SECURE=true).")
  const store = read({ env: "REVOCABLE_STORE", key: "store", parse: storeUrl }, () => null)
  const kekFromValue = read({ env: "REVOCABLE_KEY_ENCRYPTION_KEY", key: "keyEncryptionKey", parse: fromText(parseKeyEncryptionKeys) }, () => null)
  const kekFromFile = read({ env: "REVOCABLE_KEY_ENCRYPTION_KEY_FILE", key: "keyEncryptionKeyFile", parse: fromText(readKeyEncryptionKeyFile) }, () => null)
  if (kekFromValue !== null && kekFromFile !== null) {
    throw new ConfigError("REVOCABLE_KEY_ENCRYPTION_KEY", "Set REVOCABLE_KEY_ENCRYPTION_KEY or REVOCABLE_KEY_ENCRYPTION_KEY_FILE, not both.")
  }
  const insecurePlaintextKeys = read({ env: "REVOCABLE_INSECURE_PLAINTEXT_KEYS", key: "insecurePlaintextKeys", parse: boolean }, () => false)
  const keyEncryptionKeysGiven = kekFromValue ?? kekFromFile
  if (store !== null && !store.startsWith("sqlite:") && keyEncryptionKeysGiven === null && !insecurePlaintextKeys) {
    throw new ConfigError("REVOCABLE_KEY_ENCRYPTION_KEY", KEK_REQUIRED)
  }

  return {
    port,
    host: read({ env: "REVOCABLE_HOST", key: "host", parse: text(1, 255) }, () => "127.0.0.1"),
    store,
    storeNamespace: read({ env: "REVOCABLE_STORE_NAMESPACE", key: "storeNamespace", parse: namespace }, () => "revocable"),
    storeTimeoutMs: read({ env: "REVOCABLE_STORE_TIMEOUT", key: "storeTimeout", parse: duration(100, 3_600_000) }, () => null),
    dataDir: read({ env: "REVOCABLE_DATA_DIR", key: "dataDir", parse: text(1, 4096) }, () => "./data"),
    issuer,
    audience: read({ env: "REVOCABLE_AUDIENCE", key: "audience", parse: text(1, 1024) }, () => "api"),
    algorithm: read({ env: "REVOCABLE_ALGORITHM", key: "algorithm", parse: oneOf(ALGORITHMS.filter((alg) => alg !== "HS256")) }, () => "EdDSA" as const),
    accessTtlMs: read({ env: "REVOCABLE_ACCESS_TTL", key: "accessTtl", parse: seconds }, () => 15 * 60_000),
    refreshTtlMs,
    sessionTtlMs: read({ env: "REVOCABLE_SESSION_TTL", key: "sessionTtl", parse: seconds }, () => 90 * 86_400_000),
    idleTimeoutMs: read({ env: "REVOCABLE_IDLE_TIMEOUT", key: "idleTimeout", parse: seconds }, () => null),
    leewayMs: read({ env: "REVOCABLE_LEEWAY", key: "leeway", parse: duration(0) }, () => 30_000),
    reuseGraceMs: read({ env: "REVOCABLE_REUSE_GRACE", key: "reuseGrace", parse: duration(0) }, () => 0),
    maxSessions: maxSessionsLimit === 0 ? null : { limit: maxSessionsLimit, onExceed },
    maxStalenessMs: read({ env: "REVOCABLE_MAX_STALENESS", key: "maxStaleness", parse: duration(0) }, () => 5000),
    onStoreUnavailable: read({ env: "REVOCABLE_ON_STORE_UNAVAILABLE", key: "onStoreUnavailable", parse: oneOf(["fail-closed", "fail-open"] as const) }, () => "fail-closed" as const),
    purgeIntervalMs: read({ env: "REVOCABLE_PURGE_INTERVAL", key: "purgeInterval", parse: offOrDuration }, () => 600_000),
    registration: read({ env: "REVOCABLE_REGISTRATION", key: "registration", parse: oneOf(["open", "closed"] as const) }, () => "open" as const),
    adminUser: read({ env: "REVOCABLE_ADMIN_USER", key: "adminUser", parse: text(3, 64) }, () => "admin"),
    adminPassword: read({ env: "REVOCABLE_ADMIN_PASSWORD", key: "adminPassword", parse: text(8, 256) }, () => null),
    loginLimit: {
      perAccount: read({ env: "REVOCABLE_LOGIN_LIMIT_ACCOUNT", key: "loginLimitAccount", parse: integer(1, 1_000_000) }, () => 10),
      perIp: read({ env: "REVOCABLE_LOGIN_LIMIT_IP", key: "loginLimitIp", parse: integer(1, 1_000_000) }, () => 100),
      windowMs: read({ env: "REVOCABLE_LOGIN_WINDOW", key: "loginWindow", parse: duration(1000) }, () => 15 * 60_000),
    },
    cookies: {
      secure: cookieSecure,
      sameSite,
      origins: read({ env: "REVOCABLE_COOKIE_ORIGINS", key: "cookieOrigins", parse: origins }, () => null),
    },
    bodyLimit: read({ env: "REVOCABLE_BODY_LIMIT", key: "bodyLimit", parse: integer(1024, 100 * 1024 * 1024) }, () => 16 * 1024),
    maxHeaderSize: read({ env: "REVOCABLE_MAX_HEADER_SIZE", key: "maxHeaderSize", parse: integer(1024, 1024 * 1024) }, () => 16 * 1024),
    trustProxy: read({ env: "REVOCABLE_TRUST_PROXY", key: "trustProxy", parse: trustProxy }, () => false),
    logLevel: read({ env: "REVOCABLE_LOG_LEVEL", key: "logLevel", parse: oneOf(LOG_LEVELS) }, () => "info" as const),
    oidc: readOidcConfig(env, fromFile.oidc, file),
    keyEncryptionKeys: keyEncryptionKeysGiven,
    insecurePlaintextKeys,
  }
}

const FILE_KEYS: ReadonlySet<string> = new Set([
  "port", "host", "store", "storeNamespace", "storeTimeout", "dataDir", "issuer", "audience", "algorithm", "accessTtl", "refreshTtl", "sessionTtl",
  "idleTimeout", "leeway", "reuseGrace", "maxSessions", "maxSessionsOnExceed", "maxStaleness", "onStoreUnavailable",
  "purgeInterval", "registration", "adminUser", "adminPassword", "loginLimitAccount", "loginLimitIp", "loginWindow",
  "cookieSecure", "cookieSameSite", "cookieOrigins", "bodyLimit", "maxHeaderSize", "trustProxy", "logLevel", "oidc",
  "keyEncryptionKey", "keyEncryptionKeyFile", "insecurePlaintextKeys",
])

function readConfigFile(file: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"))
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "it does not exist" : "it is not readable JSON"
    throw new ConfigError("REVOCABLE_CONFIG", `Cannot use the config file ${file}: ${reason}.`)
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError("REVOCABLE_CONFIG", `The config file ${file} must hold a JSON object.`)
  }
  return parsed as Record<string, unknown>
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim()
}

function fail(message: string): never {
  throw new Invalid(message)
}

function integer(min: number, max: number): Parser<number> {
  return (value) => {
    const number = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value
    if (typeof number !== "number" || !Number.isSafeInteger(number) || number < min || number > max) {
      fail(`must be an integer from ${min} to ${max}.`)
    }
    return number
  }
}

function text(min: number, max: number): Parser<string> {
  return (value) => {
    if (typeof value !== "string" || value.length < min || value.length > max) fail(`must be a string of ${min} to ${max} characters.`)
    return value
  }
}

function oneOf<T extends string>(values: readonly T[]): Parser<T> {
  return (value) => {
    if (!values.includes(value as T)) fail(`must be one of ${values.join(", ")}.`)
    return value as T
  }
}

function boolean(value: Raw): boolean {
  if (value === true || value === "true" || value === "1") return true
  if (value === false || value === "false" || value === "0") return false
  return fail("must be true or false.")
}

function duration(minMs: number, maxMs = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (value) => {
    let ms: number
    try {
      ms = parseDuration(typeof value === "string" && /^\d+(\.\d+)?$/.test(value) ? Number(value) : (value as string), "duration")
    } catch {
      return fail('must be a duration such as "30s", "15m", "30d" or a number of seconds.')
    }
    if (ms < minMs) fail(`must be at least ${minMs / 1000} seconds.`)
    if (ms > maxMs) fail(`must be at most ${maxMs / 1000} seconds.`)
    return ms
  }
}

/** createAuth takes lifetimes and the purge interval in whole seconds. */
function seconds(value: Raw): number {
  const ms = duration(1000)(value)
  if (ms % 1000 !== 0) fail("must be a whole number of seconds.")
  return ms
}

// setInterval and setTimeout run a longer delay after 1 ms; createAuth refuses it.
const MAX_TIMER_MS = 2 ** 31 - 1

function offOrDuration(value: Raw): number | null {
  if (value === "off" || value === false) return null
  const ms = seconds(value)
  if (ms > MAX_TIMER_MS) fail("must be at most 24 days.")
  return ms
}

function url(value: Raw): string {
  if (typeof value !== "string") return fail("must be a URL.")
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch {
    return fail(`must be an http(s) URL such as "https://auth.example.com".`)
  }
  if ((parsed.protocol !== "https:" && parsed.protocol !== "http:") || parsed.search !== "" || parsed.hash !== "") {
    fail("must be an http(s) URL without query or fragment (RFC 8414 §2).")
  }
  return value.replace(/\/+$/, "")
}

/** A parser from another module, which throws a TypeError saying what is wrong with the text. */
function fromText<T>(parse: (text: string) => T): Parser<T> {
  return (value) => {
    if (typeof value !== "string") return fail("must be a string.")
    try {
      return parse(value)
    } catch (error) {
      return fail((error as Error).message)
    }
  }
}

function storeUrl(value: Raw): string {
  if (typeof value !== "string" || !/^(sqlite:.+|postgres(ql)?:\/\/.+|rediss?:\/\/.+)$/.test(value)) {
    fail('must be "sqlite:PATH", a "postgres://…" URL or a "redis://…" / "rediss://…" URL.')
  }
  return value
}

function namespace(value: Raw): string {
  if (typeof value !== "string" || !/^[a-z_][a-z0-9_]{0,47}$/.test(value)) {
    fail("must be 1 to 48 lower-case letters, digits or underscores, not starting with a digit.")
  }
  return value
}

function origins(value: Raw): string[] {
  const list = typeof value === "string" ? value.split(",").map((item) => item.trim()).filter((item) => item !== "") : value
  if (!Array.isArray(list) || list.length === 0) return fail('must list origins, e.g. "https://app.example,https://admin.example".')
  for (const origin of list) {
    let valid = false
    try {
      valid = new URL(origin).origin === origin
    } catch {
      valid = false
    }
    if (!valid) fail(`holds ${JSON.stringify(origin)}, which is not an origin (scheme, host and port only).`)
  }
  return list
}

function trustProxy(value: Raw): boolean | number | string[] {
  if (value === true || value === "true") return true
  if (value === false || value === "false") return false
  if (typeof value === "number" || (typeof value === "string" && /^\d+$/.test(value))) return integer(1, 100)(value)
  if (typeof value === "string") return value.split(",").map((item) => item.trim()).filter((item) => item !== "")
  if (Array.isArray(value) && value.every((item) => typeof item === "string")) return value
  return fail("must be true, false, a number of hops or a comma-separated list of proxy addresses.")
}

/** Opens the configured store; the PostgreSQL and Redis modules (and their drivers) load only when used. */
export async function openStore(config: ServerConfig): Promise<ServerStore> {
  const spec = config.store
  // undefined leaves each store its own default bound.
  const timeoutMs = config.storeTimeoutMs ?? undefined
  const heartbeatMs = feedHeartbeatMs(config.maxStalenessMs)
  let store: ServerStore
  let database: string | null = null
  if (spec === null || spec.startsWith("sqlite:")) {
    const { sqliteStore } = await import("revocable/stores/sqlite")
    database = spec === null ? join(config.dataDir, "revocable.db") : spec.slice("sqlite:".length)
    store = sqliteStore({ path: database, busyTimeoutMs: timeoutMs })
  } else if (spec.startsWith("postgres")) {
    const { postgresStore } = await import("revocable/stores/postgres")
    store = postgresStore({ connectionString: spec }, { schema: config.storeNamespace, statementTimeoutMs: timeoutMs, heartbeatMs })
  } else {
    const { redisStore } = await import("revocable/stores/redis")
    store = redisStore({ url: spec }, { prefix: config.storeNamespace, commandTimeoutMs: timeoutMs, heartbeatMs })
  }
  try {
    // Before the SQLite store opens: its directory and files made private, the KEK read or made.
    const protection = prepareKeyProtection(config.keyEncryptionKeys, database)
    await store.open()
    return await protectKeys(store, protection)
  } catch (error) {
    await store.close().catch(() => undefined)
    throw error
  }
}

/**
 * The feed's heartbeat, a quarter of maxStaleness (at most the stores' default second): the replica then proves
 * itself fresh several times within maxStaleness and does not flap stale between two heartbeats.
 */
function feedHeartbeatMs(maxStalenessMs: number): number {
  return maxStalenessMs === 0 ? 1000 : Math.min(1000, Math.max(10, Math.floor(maxStalenessMs / 4)))
}

/** The core engine with the server's settings; keys are managed in the store (generated on first start). */
export function createAuthFromConfig(config: ServerConfig, store: ServerStore): Auth {
  return createAuth({
    issuer: config.issuer,
    audience: config.audience,
    store,
    algorithm: config.algorithm,
    accessTtl: config.accessTtlMs / 1000,
    refreshTtl: config.refreshTtlMs / 1000,
    sessionTtl: config.sessionTtlMs / 1000,
    ...(config.idleTimeoutMs === null ? {} : { idleTimeout: config.idleTimeoutMs / 1000 }),
    leeway: config.leewayMs / 1000,
    reuseGrace: config.reuseGraceMs / 1000,
    ...(config.maxSessions === null ? {} : { maxSessions: config.maxSessions }),
    maxStaleness: config.maxStalenessMs / 1000,
    onStoreUnavailable: config.onStoreUnavailable,
    purgeInterval: config.purgeIntervalMs === null ? false : config.purgeIntervalMs / 1000,
  })
}
