/**
 * The auth server's settings: `REVOCABLE_*` environment variables over an optional JSON config file
 * (`REVOCABLE_CONFIG`), validated at once so that a mistake stops the start with a message naming the setting.
 *
 * @example
 * const config = loadConfig({ REVOCABLE_STORE: "postgres://db/auth", REVOCABLE_ISSUER: "https://auth.example" })
 * const store = await openStore(config)            // engine.ts
 * const auth = createAuthFromConfig(config, store)
 */
import { readFileSync } from "node:fs"
import { ALGORITHMS, type Algorithm } from "revocable"
import { parseKeyEncryptionKeys, readKeyEncryptionKeyFile, type KeyEncryptionKey } from "./keywrap.ts"
import { KEK_REQUIRED } from "./keystore.ts"
import { parseFromAddress, parseSmtpUrl } from "./mail-values.ts"
import type { MailSettings } from "./mailer.ts"
import { readOidcConfig, type OidcConfig } from "./oidc/settings.ts"
import type { StartWarning } from "./datadir.ts"
import { unknownVariables } from "./spelling.ts"
import { DEFAULT_RETRY_DELAYS_MS, retryDelays, type WebhookSettings } from "./webhooks/index.ts"
import { nonEmpty, fail, integer, text, oneOf, boolean, duration, seconds, offOrDuration, url, fromText, storeUrl, namespace, origins, trustProxy, Invalid, type Parser, type Raw } from "./setting-values.ts"

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
  /** How long a key made by `keys rotate` is in the JWKS before it signs (see discovery.ts for the JWKS max-age). */
  keyActivationDelayMs: number
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
  /** How long the audit log keeps an event; the periodic purge deletes older ones. */
  auditRetentionMs: number
  registration: "open" | "closed"
  /** The SMTP relay that password-reset and verification mail go through; null: no mail, no self-service reset. */
  smtp: MailSettings | null
  /** How long a password-reset link works. */
  passwordResetTtlMs: number
  /** Mail addresses are used for password resets only once their owner opened the link mailed to them. */
  emailVerification: boolean
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
  /** Webhooks (docs/server.md "Webhooks"): which targets are allowed, the retry delays, the timeout of one POST. */
  webhooks: WebhookSettings
  /** What the operator should know at start: each REVOCABLE_* variable no setting reads, with the nearest known name. */
  warnings: StartWarning[]
}


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
  const smtpUrl = read({ env: "REVOCABLE_SMTP_URL", key: "smtpUrl", parse: fromText(parseSmtpUrl) }, () => null)
  const smtpFrom = read({ env: "REVOCABLE_SMTP_FROM", key: "smtpFrom", parse: fromText(parseFromAddress) }, () => null)
  if ((smtpUrl === null) !== (smtpFrom === null)) {
    throw new ConfigError(smtpUrl === null ? "REVOCABLE_SMTP_URL" : "REVOCABLE_SMTP_FROM", "Mail needs both REVOCABLE_SMTP_URL and REVOCABLE_SMTP_FROM.")
  }
  const emailVerification = read({ env: "REVOCABLE_EMAIL_VERIFICATION", key: "emailVerification", parse: boolean }, () => false)
  if (emailVerification && smtpUrl === null) {
    throw new ConfigError("REVOCABLE_EMAIL_VERIFICATION", "REVOCABLE_EMAIL_VERIFICATION=true mails a link: set REVOCABLE_SMTP_URL and REVOCABLE_SMTP_FROM.")
  }
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
    keyActivationDelayMs: read({ env: "REVOCABLE_KEY_ACTIVATION_DELAY", key: "keyActivationDelay", parse: duration(0, 30 * 86_400_000) }, () => 15 * 60_000),
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
    auditRetentionMs: read({ env: "REVOCABLE_AUDIT_RETENTION", key: "auditRetention", parse: duration(3_600_000, 10 * 365 * 86_400_000) }, () => 90 * 86_400_000),
    registration: read({ env: "REVOCABLE_REGISTRATION", key: "registration", parse: oneOf(["open", "closed"] as const) }, () => "open" as const),
    smtp: smtpUrl === null || smtpFrom === null ? null : { url: smtpUrl, from: smtpFrom },
    passwordResetTtlMs: read({ env: "REVOCABLE_PASSWORD_RESET_TTL", key: "passwordResetTtl", parse: duration(60_000, 86_400_000) }, () => 30 * 60_000),
    emailVerification,
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
    webhooks: {
      allowHttp: read({ env: "REVOCABLE_WEBHOOKS_ALLOW_HTTP", key: "webhooksAllowHttp", parse: boolean }, () => false),
      allowPrivate: read({ env: "REVOCABLE_WEBHOOKS_ALLOW_PRIVATE", key: "webhooksAllowPrivate", parse: boolean }, () => false),
      retryDelaysMs: read({ env: "REVOCABLE_WEBHOOKS_RETRY", key: "webhooksRetry", parse: retryDelays }, () => DEFAULT_RETRY_DELAYS_MS),
      timeoutMs: read({ env: "REVOCABLE_WEBHOOKS_TIMEOUT", key: "webhooksTimeout", parse: duration(100, 300_000) }, () => 10_000),
    },
  }
}

const FILE_KEYS: ReadonlySet<string> = new Set([
  "port", "host", "store", "storeNamespace", "storeTimeout", "dataDir", "issuer", "audience", "algorithm", "keyActivationDelay", "accessTtl", "refreshTtl", "sessionTtl",
  "idleTimeout", "leeway", "reuseGrace", "maxSessions", "maxSessionsOnExceed", "maxStaleness", "onStoreUnavailable",
  "purgeInterval", "auditRetention", "registration", "smtpUrl", "smtpFrom", "passwordResetTtl", "emailVerification", "adminUser", "adminPassword", "loginLimitAccount", "loginLimitIp", "loginWindow",
  "cookieSecure", "cookieSameSite", "cookieOrigins", "bodyLimit", "maxHeaderSize", "trustProxy", "logLevel", "oidc",
  "keyEncryptionKey", "keyEncryptionKeyFile", "insecurePlaintextKeys", "webhooksAllowHttp", "webhooksAllowPrivate", "webhooksRetry", "webhooksTimeout",
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
