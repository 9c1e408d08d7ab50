/**
 * The auth server (`revocable serve`): Fastify routes over the core engine and a store, with users, OAuth
 * endpoints, an admin API, metrics and OpenAPI documentation.
 *
 * Logs never carry a token, a password or a refresh hash: the Authorization and Cookie headers and Set-Cookie
 * are redacted, URLs are logged without their query, bodies are never logged, and parse errors are answered
 * and logged without the fragment of the body that JSON.parse puts in its message.
 *
 * @example
 * const server = await startServer(loadConfig())      // listens on config.port (8000), drains on SIGTERM
 * console.log(server.url)
 * await server.close()
 *
 * const app = await buildServer(config, { store: memoryStore(), logger: false })   // tests: no listening needed
 */
import { readFileSync } from "node:fs"
import type { AddressInfo } from "node:net"
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox"
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify"
import { isAuthError, type Auth, type VerifyOptions } from "revocable"
import { authenticate, type CookieOptions } from "revocable/fastify"
import type { ServerStore } from "revocable/stores"
import type { RedisStore } from "revocable/stores/redis"
import { audited, auditReuse, createAudit } from "./audit.ts"
import { clientDirectory } from "./client-directory.ts"
import { ConfigError, type ServerConfig } from "./config.ts"
import { createAuthFromConfig, openStore } from "./engine.ts"
import { consoleRoutes } from "./console.ts"
import { docsRoutes, openApi } from "./docs.ts"
import { answerNodeRefusals, clientErrorHandler, errorHandler, MAX_PARAM_LENGTH } from "./failures.ts"
import { refuseUnstorable } from "./input.ts"
import { serverMetrics, type ServerMetrics } from "./metrics.ts"
import { originGuard } from "./origin.ts"
import { checkPasswordHashing } from "./password.ts"
import { limiter } from "./ratelimit.ts"
import { adminRoutes } from "./routes/admin.ts"
import { adminClientRoutes } from "./routes/admin-clients.ts"
import { auditRoutes, auditView } from "./routes/audit.ts"
import { authRoutes } from "./routes/auth.ts"
import { discoveryRoutes } from "./routes/discovery.ts"
import { meRoutes } from "./routes/me.ts"
import { metaRoutes } from "./routes/meta.ts"
import { oauthRoutes } from "./routes/oauth.ts"
import { revocationRoutes } from "./routes/revocations.ts"
import { oidcRoutes } from "./routes/oidc.ts"
import type { Services } from "./services.ts"
import { userDirectory, type UserDirectory } from "./user-directory.ts"
import { createWebhooks } from "./webhooks/index.ts"
import { webhookRoutes } from "./routes/webhooks.ts"
import { hasAdmin, NO_ADMIN } from "./welcome.ts"

export interface ServerDeps {
  /** A store to use instead of the configured one; the caller keeps it (the server never closes it). */
  store?: ServerStore
  /** A core engine on `store` (required with it); the caller keeps it. */
  auth?: Auth
  /** false for no logs; or a level and a destination (a stream of JSON lines), e.g. for tests. */
  logger?: false | { level?: ServerConfig["logLevel"]; stream?: { write(line: string): unknown } }
}

export interface RunningServer {
  url: string
  app: FastifyInstance
  /** Stops accepting connections, lets in-flight requests finish, then closes the store. */
  close(): Promise<void>
}

const DRAIN_MS = 10_000
const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version

export async function buildServer(config: ServerConfig, deps: ServerDeps = {}): Promise<FastifyInstance> {
  if (deps.auth !== undefined && deps.store === undefined) throw new TypeError("buildServer: pass the store the auth instance uses along with it.")
  checkPasswordHashing()
  const store = deps.store ?? (await openStore(config))
  // A store the caller gave stays open when the server's own auth instance closes.
  const core = deps.auth ?? createAuthFromConfig(config, deps.store === undefined ? store : keepOpen(store))
  try {
    await core.ready()
  } catch (error) {
    if (deps.auth === undefined) await core.close()
    else if (deps.store === undefined) await store.close()
    throw error
  }
  const metrics = serverMetrics(core)
  // Its lines go to the app's logger, made below: nothing is recorded before the app handles requests.
  const webhooks = createWebhooks({ store, settings: config.webhooks, retentionMs: config.auditRetentionMs, metrics: metrics.webhooks, log: () => app.log, present: auditView })
  const audit = createAudit({ store, metrics, retentionMs: config.auditRetentionMs, log: () => app.log, onRecorded: webhooks.enqueue })
  const stopAuditingReuse = auditReuse(core, audit)
  const counted = countVerifies(audited(core, audit), metrics)
  const documents = countErrors(store, metrics)
  const users = userDirectory(documents, counted)
  const app = Fastify({
    logger: loggerOptions(config, deps.logger),
    bodyLimit: config.bodyLimit,
    // Node would answer a request without Host with an empty 400: the onRequest hook below answers it in JSON.
    http: { maxHeaderSize: config.maxHeaderSize, requireHostHeader: false },
    // A hop count is valid for proxy-addr, which Fastify hands it to, though Fastify's types omit it.
    trustProxy: config.trustProxy as boolean | string[],
    clientErrorHandler,
    // A URL the router cannot decode, or a path parameter too long for it: Fastify's own answer quotes the URL.
    frameworkErrors: errorHandler,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>()
  answerNodeRefusals(app.server)
  app.addHook("onClose", async () => {
    await webhooks.stop()
    audit.stop()
    stopAuditingReuse()
    metrics.close()
    if (deps.auth === undefined) await core.close()
  })
  // What the store found wrong at open (Redis without persistence, an evicting policy) goes to the log as well
  // as to process warnings. A store the caller gave reported to the caller.
  if (deps.store === undefined) {
    for (const warning of (store as Partial<RedisStore>).warnings ?? []) app.log.warn({ code: warning.code }, warning.message)
  }
  for (const warning of config.warnings) app.log.warn({ code: warning.code }, warning.message)
  try {
    await bootstrapAdmin(config, users, app)
    if ((await hasAdmin(users)) === false) app.log.info({ code: "REVOCABLE_NO_ADMIN" }, NO_ADMIN)
  } catch (error) {
    await app.close()
    throw error
  }

  const cookies: CookieOptions = {
    secure: config.cookies.secure,
    sameSite: config.cookies.sameSite,
    refreshPath: "/auth",
    ...(config.cookies.origins === null ? {} : { origins: config.cookies.origins }),
  }
  const services: Services = {
    config,
    auth: counted,
    store: documents,
    users,
    clients: clientDirectory(documents),
    metrics,
    audit,
    webhooks,
    limits: {
      login: limiter(documents, "login", config.loginLimit),
      register: limiter(documents, "register", config.loginLimit),
      password: limiter(documents, "password", config.loginLimit),
    },
    cookies,
    bearer: authenticate(counted, { cookie: cookies }),
  }

  // Declared before the bearer hooks set it, so that every request has the same shape.
  app.decorateRequest("auth", undefined)
  // First: what the request's handlers record in the audit log carries its IP, User-Agent and subject.
  app.addHook("onRequest", audit.hook)
  audit.start(config.purgeIntervalMs)
  webhooks.start(config.purgeIntervalMs)
  // Cookie-authenticated unsafe requests from another origin: 403 csrf_failed (see origin.ts).
  app.addHook("onRequest", originGuard(config.issuer, cookies).hook)
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400.
  app.addHook("onRequest", async (request, reply) => {
    if (request.headers.host === undefined && request.raw.httpVersion === "1.1") {
      return reply.code(400).send({ error: "invalid_request", error_description: "The request has no Host header." })
    }
  })
  // A request without a body is validated as an empty one: "username is required", not "body must be object".
  app.addHook("preValidation", async (request) => {
    if (request.body === undefined || request.body === null) request.body = {}
  })
  // NUL and unpaired surrogates, in any field of any route: 400, never a store error (see input.ts).
  app.addHook("preValidation", refuseUnstorable)
  // While draining, a response to a request in flight also closes its connection, so the close need not wait
  // for keep-alive connections to time out.
  let draining = false
  app.addHook("preClose", async () => {
    draining = true
  })
  app.addHook("onSend", async (_request, reply) => {
    if (draining) reply.header("connection", "close")
  })
  app.setErrorHandler(errorHandler)
  app.setNotFoundHandler((_request, reply) =>
    reply.code(404).send({ error: "not_found", error_description: "No such endpoint: GET / lists them." }),
  )

  // The document's builder first: it collects the routes registered after it.
  await openApi(app, { version: VERSION, serverUrl: config.issuer })
  await app.register(metaRoutes, services)
  await app.register(authRoutes, { prefix: "/auth", ...services })
  await app.register(oidcRoutes, { prefix: "/auth/oidc", ...services })
  await app.register(meRoutes, { prefix: "/me", ...services })
  await app.register(oauthRoutes, { prefix: "/oauth", ...services })
  await app.register(revocationRoutes, { prefix: "/revocations", ...services })
  await app.register(discoveryRoutes, { prefix: "/.well-known", ...services })
  await app.register(adminRoutes, { prefix: "/admin", ...services })
  await app.register(adminClientRoutes, { prefix: "/admin/clients", ...services })
  await app.register(auditRoutes, services)
  await app.register(webhookRoutes, { prefix: "/admin/webhooks", ...services })
  await app.register(consoleRoutes, { prefix: "/assets" })
  await app.register(docsRoutes)
  await app.ready()
  return app
}

/** Builds the server and listens on `config.port` and `config.host`; SIGTERM and SIGINT drain it. */
export async function startServer(config: ServerConfig, deps: ServerDeps = {}): Promise<RunningServer> {
  const app = await buildServer(config, deps)
  try {
    await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    await app.close()
    throw error
  }
  const address = app.server.address() as AddressInfo
  const host = address.address === "0.0.0.0" || address.address === "::" ? "localhost" : address.family === "IPv6" ? `[${address.address}]` : address.address
  const url = `http://${host}:${address.port}`

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      process.off("SIGTERM", onSignal)
      process.off("SIGINT", onSignal)
      const force = setTimeout(() => app.server.closeAllConnections(), DRAIN_MS)
      force.unref()
      try {
        await app.close()
      } finally {
        clearTimeout(force)
      }
    })()
    return closing
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    app.log.info({ signal }, "draining: no new connections, in-flight requests finish")
    close().catch((error: unknown) => app.log.error({ err: error }, "error while closing"))
  }
  process.once("SIGTERM", onSignal)
  process.once("SIGINT", onSignal)
  return { url, app, close }
}

/** The store with some methods replaced; the others called on the store itself, whatever its implementation. */
function overlay(store: ServerStore, overrides: Partial<Record<keyof ServerStore, unknown>>): ServerStore {
  return new Proxy(store, {
    get(target, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof ServerStore]
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === "function" ? value.bind(target) : value
    },
  })
}

function keepOpen(store: ServerStore): ServerStore {
  return overlay(store, { close: async () => {} })
}

/** The store as the server's own code uses it (documents, rate limits): its failures counted in the metrics. */
function countErrors(store: ServerStore, metrics: ServerMetrics): ServerStore {
  const counted = (method: keyof ServerStore) => {
    const original = store[method] as (...args: unknown[]) => Promise<unknown>
    return (...args: unknown[]) =>
      original.apply(store, args).catch((error: unknown) => {
        metrics.storeError()
        throw error
      })
  }
  const methods = ["getDocument", "putDocument", "deleteDocument", "listDocuments", "hit", "listKeys", "revoke"] as const
  return overlay(store, Object.fromEntries(methods.map((method) => [method, counted(method)])))
}

function countVerifies(core: Auth, metrics: ServerMetrics): Auth {
  const verify = async (token: unknown, options?: VerifyOptions) => {
    try {
      const claims = await core.verify(token, options)
      metrics.verified("ok")
      return claims
    } catch (error) {
      metrics.verified(isAuthError(error) ? error.code : "error")
      throw error
    }
  }
  return { ...core, verify: verify as Auth["verify"] }
}

async function bootstrapAdmin(config: ServerConfig, users: UserDirectory, app: FastifyInstance): Promise<void> {
  if (config.adminPassword === null || (await users.findByUsername(config.adminUser)) !== null) return
  try {
    await users.create({ username: config.adminUser, password: config.adminPassword, roles: ["admin"] })
    app.log.info({ username: config.adminUser }, "admin account created from REVOCABLE_ADMIN_PASSWORD")
  } catch (error) {
    if (!isAuthError(error) || error.code !== "invalid_request") throw error
    // Another instance starting at the same moment may have created it.
    if ((await users.findByUsername(config.adminUser)) !== null) return
    const variable = error.field === "username" ? "REVOCABLE_ADMIN_USER" : "REVOCABLE_ADMIN_PASSWORD"
    throw new ConfigError(variable, `${variable}: ${error.message}`)
  }
}

function loggerOptions(config: ServerConfig, option: ServerDeps["logger"]) {
  if (option === false) return false
  return {
    level: option?.level ?? config.logLevel,
    ...(option?.stream === undefined ? {} : { stream: option.stream }),
    redact: {
      paths: ["req.headers.authorization", "req.headers.cookie", 'res.headers["set-cookie"]', "req.body", "body"],
      censor: "[redacted]",
    },
    serializers: {
      req: (request: FastifyRequest) => ({ method: request.method, url: request.url.split("?")[0], remoteAddress: request.ip }),
      err: (error: Error & { code?: unknown; statusCode?: unknown }) => ({
        type: error.name,
        code: error.code,
        statusCode: error.statusCode,
        message: error.message,
        stack: error.stack ?? "",
      }),
    },
  }
}
