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
import type { AddressInfo, Socket } from "node:net"
import type { Duplex } from "node:stream"
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify"
import { consoleRoutes } from "../console/serve.ts"
import { AuthError, isAuthError } from "../errors.ts"
import type { Auth, VerifyOptions } from "../core/auth.ts"
import { authenticate, requireClaims, sendAuthError, type CookieOptions } from "../adapters/fastify.ts"
import type { Store } from "../stores/contract.ts"
import type { RedisStore } from "../stores/redis.ts"
import { clientDirectory } from "./clients.ts"
import { ConfigError, createAuthFromConfig, openStore, type ServerConfig } from "./config.ts"
import type { ServerContext } from "./context.ts"
import { serverMetrics, type ServerMetrics } from "./metrics.ts"
import { checkPasswordHashing } from "./password.ts"
import { apiDocs } from "./openapi.ts"
import { refuseUnstorable } from "./input.ts"
import { limiter } from "./ratelimit.ts"
import { adminRoutes } from "./routes/admin.ts"
import { authRoutes } from "./routes/auth.ts"
import { metaRoutes } from "./routes/meta.ts"
import { oauthRoutes } from "./routes/oauth.ts"
import { userDirectory, type UserDirectory } from "./users.ts"

export interface ServerDeps {
  /** A store to use instead of the configured one; the caller keeps it (the server never closes it). */
  store?: Store
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

const FORM = "application/x-www-form-urlencoded"
/**
 * The longest path parameter the router takes: the longest id the core accepts (1024 characters, as a subject).
 * find-my-way measures a parameter once percent-decoded, in UTF-16 code units as String.length counts them, so an
 * id of that length fits however it is encoded; a longer one is answered 414.
 */
const MAX_PARAM_LENGTH = 1024
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
  const counted = countVerifies(core, metrics)
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
  })
  // Requests Node answers on its own with no body (an Expect other than 100-continue: 417) or not at all (CONNECT).
  app.server.on("checkExpectation", (_request, response) => {
    const body = errorBody("Only Expect: 100-continue is supported.")
    response.writeHead(417, { "content-type": "application/json", "content-length": Buffer.byteLength(body), connection: "close" }).end(body)
  })
  app.server.on("connect", (_request, socket) => endWithError(socket, 405, "Method Not Allowed", "CONNECT is not supported."))
  app.addHook("onClose", async () => {
    metrics.close()
    if (deps.auth === undefined) await core.close()
  })
  // What the store found wrong at open (Redis without persistence, an evicting policy) goes to the log as well
  // as to process warnings. A store the caller gave reported to the caller.
  if (deps.store === undefined) {
    for (const warning of (store as Partial<RedisStore>).warnings ?? []) app.log.warn({ code: warning.code }, warning.message)
  }
  try {
    await bootstrapAdmin(config, users, app)
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
  const bearer = authenticate(counted, { cookie: cookies })
  const ctx: ServerContext = {
    config,
    auth: counted,
    store: documents,
    users,
    clients: clientDirectory(documents),
    metrics,
    limits: {
      login: limiter(documents, "login", config.loginLimit),
      register: limiter(documents, "register", config.loginLimit),
      password: limiter(documents, "password", config.loginLimit),
    },
    cookies,
    bearer,
    admin: [bearer, requireClaims({ roles: "admin" })],
    docs: apiDocs({ title: "revocable", version: VERSION, serverUrl: config.issuer }),
  }

  app.addHook("onRoute", (route) => ctx.docs.collect(route))
  app.addContentTypeParser(FORM, { parseAs: "string" }, (_request, body, done) => {
    const parsed: Record<string, string> = {}
    for (const [name, value] of new URLSearchParams(body as string)) {
      // RFC 6749 §3.2: a parameter must not be sent twice.
      if (Object.hasOwn(parsed, name)) return done(new AuthError("invalid_request", "A form parameter is repeated."), undefined)
      Object.defineProperty(parsed, name, { value, enumerable: true, writable: true, configurable: true })
    }
    done(null, parsed)
  })
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

  await metaRoutes(app, ctx)
  await authRoutes(app, ctx)
  await oauthRoutes(app, ctx)
  await adminRoutes(app, ctx)
  await consoleRoutes(app)
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
function overlay(store: Store, overrides: Partial<Record<keyof Store, unknown>>): Store {
  return new Proxy(store, {
    get(target, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof Store]
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === "function" ? value.bind(target) : value
    },
  })
}

function keepOpen(store: Store): Store {
  return overlay(store, { close: async () => {} })
}

/** The store as the server's own code uses it (documents, rate limits): its failures counted in the metrics. */
function countErrors(store: Store, metrics: ServerMetrics): Store {
  const counted = (method: keyof Store) => {
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
    const variable = /^The username/.test(error.message) ? "REVOCABLE_ADMIN_USER" : "REVOCABLE_ADMIN_PASSWORD"
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

const CLIENT_DESCRIPTIONS: Record<number, string> = {
  400: "The request is invalid.",
  404: "No such endpoint: GET / lists them.",
  413: "The request body is too large.",
  414: `A path parameter is longer than ${MAX_PARAM_LENGTH} characters.`,
  415: "Unsupported content type: the /oauth endpoints take application/x-www-form-urlencoded, the others application/json.",
}

function errorHandler(error: FastifyError, request: FastifyRequest, reply: import("fastify").FastifyReply) {
  if (isAuthError(error)) {
    if (error.code === "store_unavailable") request.log.warn({ code: error.code }, "the store is unavailable")
    return sendAuthError(reply, error)
  }
  if (error.validation) return sendAuthError(reply, new AuthError("invalid_request", error.message))
  const status = error.statusCode
  if (typeof status === "number" && status >= 400 && status < 500) {
    // The message of a JSON parse error quotes the body: it is neither sent nor logged.
    const description = error instanceof SyntaxError || error.code === "FST_ERR_CTP_INVALID_JSON_BODY" ? "The request body is not valid JSON." : CLIENT_DESCRIPTIONS[status] ?? CLIENT_DESCRIPTIONS[400]
    request.log.info({ statusCode: status, code: error.code }, "request refused")
    return reply.code(status).send({ error: "invalid_request", error_description: description })
  }
  request.log.error({ err: error }, "unexpected error")
  return reply.code(500).send({ error: "server_error", error_description: "An unexpected error occurred." })
}

/** Errors before a request exists (oversized headers, bad HTTP), answered in the JSON shape of every other error. */
function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return
  const [status, text, description] =
    error.code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large", "The request headers are too large."]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "Request Timeout", "The request took too long."]
        : [400, "Bad Request", "The request is not valid HTTP."]
  if (!socket.writable) return void socket.destroy(error)
  endWithError(socket, status, text, description)
}

function errorBody(description: string): string {
  return JSON.stringify({ error: "invalid_request", error_description: description })
}

/** An error answer written on the connection itself, then closed. */
function endWithError(socket: Duplex, status: number, text: string, description: string): void {
  const body = errorBody(description)
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}
