// Every route of the server, as its own OpenAPI document lists them (a new route is fuzzed without editing
// this file), with generated path parameters, query strings, headers and bodies (JSON, forms, other content
// types, wrong types), with and without a valid admin or user token: never a 5xx, never an error logged, and
// every answer valid against the schema the document gives for its route and status. Requests go through
// app.inject: no port, no socket. packages/server/test/server/fuzz.test.ts sends raw HTTP.
import assert from "node:assert/strict"
import { after, describe, test } from "node:test"
import fc from "fast-check"
import Schema from "typebox/schema"
import type { LightMyRequestResponse } from "fastify"
import { memoryStore } from "revocable/stores/memory"
import { buildServer } from "../../src/server/app.ts"
import { clientDirectory } from "../../src/server/client-directory.ts"
import { loadConfig } from "../../src/server/config.ts"
import { createAuthFromConfig } from "../../src/server/engine.ts"
import { userDirectory } from "../../src/server/user-directory.ts"
import { PASSWORD } from "../helpers/server.ts"
import { fuzz } from "../../../revocable/test/fuzz/settings.ts"

const ENV = {
  REVOCABLE_PORT: "0",
  REVOCABLE_ISSUER: "http://issuer.test",
  REVOCABLE_LOG_LEVEL: "silent",
  REVOCABLE_COOKIE_ORIGINS: "http://app.test",
  // Each sign-in, registration and password change that passes the limiter costs an argon2id hash.
  REVOCABLE_LOGIN_LIMIT_IP: "10",
}
const RUNS_PER_ROUTE = 60
/** Statuses any route may answer whether or not its document lists them: the framework's refusals of a request. */
const ANY_ROUTE = new Set([400, 404, 413, 415])
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"])
const ANSWER_WITHIN_MS = 20_000

// ---------------------------------------------------------------------------------------------------------
// The server, its accounts and its document

const store = memoryStore()
const config = loadConfig(ENV)
const core = createAuthFromConfig(config, store)
const errorLogs: string[] = []
const app = await buildServer(config, { store, auth: core, logger: { level: "error", stream: { write: (line: string) => errorLogs.push(line) } } })
const users = userDirectory(store, core)
const admin = await users.create({ username: "admin", password: PASSWORD, roles: ["admin"] })
const member = await users.create({ username: "member", password: PASSWORD })
const client = await clientDirectory(store).create("fuzz-service")
// A key besides the one that signs, for DELETE /admin/keys/{kid} to retire.
const spareKid = (await core.rotateKey()).kid
await core.rotateKey()

after(async () => {
  await app.close()
  await core.close()
  await store.close()
})

interface JsonSchema {
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  properties?: Record<string, JsonSchema>
  items?: JsonSchema
  maxLength?: number
  minimum?: number
  maximum?: number
}

interface Operation {
  parameters?: { name: string; in: string; schema: JsonSchema }[]
  requestBody?: { content: Record<string, { schema: JsonSchema }> }
  responses?: Record<string, { content?: Record<string, { schema: JsonSchema }> }>
}

interface Route {
  method: string
  /** As the document writes it: /admin/users/{sub}, /assets/{*}. */
  path: string
  operation: Operation
}

const document = app.swagger() as { paths: Record<string, Record<string, Operation>> }
const routes: Route[] = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, operation]) => ({ method: method.toUpperCase(), path, operation })),
)

// ---------------------------------------------------------------------------------------------------------
// Values worth sending: the server's own ids and tokens (as placeholders, made fresh at each request, since
// requests revoke them), odd text, and wrong types

const PLACEHOLDERS = ["ADMIN_ACCESS", "ADMIN_REFRESH", "MEMBER_ACCESS", "MEMBER_REFRESH", "MEMBER_SID", "ADMIN_SUB", "MEMBER_SUB", "CLIENT_ID", "CLIENT_SECRET", "SPARE_KID"] as const
type Placeholder = (typeof PLACEHOLDERS)[number]
const placeholder = fc.constantFrom(...PLACEHOLDERS).map((name) => `@@${name}@@`)

const odd = fc.constantFrom(
  "", " ", "\u0000", "a\u0000b", "\ud800", "😀", "é", "..", "%", "%00", "%zz", "__proto__", "constructor", "null", "true", "0", "-1", "1e309", "NaN",
  "<script>", "a=b&c=d", "/", "\\", "*", "?", "#", "admin", "member", PASSWORD, "token", "session", "subject", "key", "password", "refresh_token",
  "client_credentials", "revocable", "ey.ey.ey", "a".repeat(2000),
)
const plausible = fc.oneof(fc.stringMatching(/^[a-z][a-z0-9_.-]{2,15}$/), fc.constant(PASSWORD))
const text = fc.oneof(
  { weight: 3, arbitrary: odd },
  { weight: 3, arbitrary: placeholder },
  { weight: 2, arbitrary: plausible },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
)

/** A value for `schema`: mostly of its type (enum members, bounds, ids), sometimes any JSON at all. */
function valueFor(schema: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
  const anything = fc.jsonValue({ maxDepth: 2 })
  if (schema === undefined || depth > 3) return anything
  const types = ([] as string[]).concat(schema.type ?? [])
  const typed: fc.Arbitrary<unknown>[] = []
  if (schema.enum !== undefined) typed.push(fc.constantFrom(...schema.enum))
  if (schema.const !== undefined) typed.push(fc.constant(schema.const))
  if (types.includes("string")) {
    const limit = schema.maxLength
    typed.push(limit === undefined ? text : fc.oneof({ weight: 9, arbitrary: text }, { weight: 1, arbitrary: fc.constantFrom("x".repeat(limit), "x".repeat(limit + 1)) }))
  }
  if (types.includes("integer") || types.includes("number")) {
    typed.push(fc.integer({ min: -5, max: 2000 }), fc.constantFrom(schema.minimum ?? 0, schema.maximum ?? 1000, 1.5, -0, 2 ** 53, 1e308))
  }
  if (types.includes("boolean")) typed.push(fc.boolean())
  if (types.includes("null")) typed.push(fc.constant(null))
  if (types.includes("array")) typed.push(fc.array(valueFor(schema.items, depth + 1), { maxLength: 4 }))
  if (types.includes("object") || schema.properties !== undefined) typed.push(objectFor(schema, depth))
  if (typed.length === 0) return anything
  return fc.oneof({ weight: 6, arbitrary: fc.oneof(...typed) }, { weight: 1, arbitrary: anything })
}

function objectFor(schema: JsonSchema, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const properties = Object.fromEntries(Object.entries(schema.properties ?? {}).map(([name, property]) => [name, valueFor(property, depth + 1)]))
  const declared = fc.record(properties, { requiredKeys: [] })
  const extra = fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("__proto__", "constructor")), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 })
  return fc.tuple(declared, sometimes(extra)).map(([known, more]) => ({ ...more, ...known }))
}

// ---------------------------------------------------------------------------------------------------------
// Requests

interface Draft {
  method: string
  params: Record<string, string>
  /** Pairs, so that a name can repeat; `raw` values are not percent-encoded. */
  query: { name: string; value: string; raw: boolean }[]
  headers: Record<string, string>
  body: { kind: "json"; value: unknown } | { kind: "form"; value: unknown } | { kind: "text"; value: string } | { kind: "none" }
  contentType: string | null
}

const headerText = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((code) => String.fromCharCode(code)), maxLength: 60 })
const CONTENT_TYPES = [
  "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/x-www-form-urlencoded", "text/plain", "application/xml",
  "multipart/form-data; boundary=x", "application/json; charset=latin1", "application/jsonx", "*/*", "",
]
/** `arbitrary` in one draw of `of`, else absent. */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, of = 5): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: of - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary })
}

/** Mostly a valid bearer token of the admin or of a user, so that requests reach the handlers. */
const authorization = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("Bearer @@ADMIN_ACCESS@@", "Bearer @@MEMBER_ACCESS@@") },
  { weight: 1, arbitrary: fc.constantFrom("Bearer @@MEMBER_REFRESH@@", "Bearer @@ADMIN_REFRESH@@", "bearer @@ADMIN_ACCESS@@", "Bearer", "Bearer  ", "Basic") },
  { weight: 1, arbitrary: fc.constantFrom("Basic @@CLIENT_BASIC@@", "Basic @@CLIENT_BASIC_WRONG@@", "Basic !!!", "Basic Og==") },
  { weight: 1, arbitrary: fc.oneof(headerText.map((value) => `Bearer ${value}`), headerText) },
  { weight: 2, arbitrary: fc.constant(undefined) },
)
const headers = fc
  .record({
    authorization,
    cookie: sometimes(fc.oneof(fc.constantFrom("refresh_token=@@MEMBER_REFRESH@@", "access_token=@@ADMIN_ACCESS@@; csrf_token=x", "csrf_token="), headerText)),
    "x-csrf-token": sometimes(fc.oneof(fc.constant("x"), headerText)),
    origin: sometimes(fc.oneof(fc.constantFrom("http://issuer.test", "http://app.test", "http://evil.test", "null"), headerText)),
    "sec-fetch-site": sometimes(fc.constantFrom("same-origin", "cross-site", "none", "same-site")),
    accept: sometimes(fc.oneof(fc.constantFrom("application/json", "text/html", "*/*", "text/event-stream", "application/xml"), headerText)),
    "if-none-match": sometimes(fc.oneof(fc.constantFrom("*", '"0"', 'W/"1"'), headerText)),
    "user-agent": sometimes(headerText),
    "x-forwarded-for": sometimes(headerText),
  })
  .map((all) => Object.fromEntries(Object.entries(all).filter((entry): entry is [string, string] => entry[1] !== undefined)))

function draftFor(route: Route): fc.Arbitrary<Draft> {
  const parameters = route.operation.parameters ?? []
  const pathNames = parameters.filter((parameter) => parameter.in === "path").map((parameter) => parameter.name)
  // Never empty: /auth/oidc/{provider} with an empty provider is another route, /auth/oidc/.
  const param = (name: string) =>
    fc.oneof(valueFor(parameters.find((parameter) => parameter.name === name)?.schema).map(String), fc.constantFrom("console/style.css", "console/entry.js", "client/index.js", "console/../../package.json", "index.html")).filter((value) => value !== "")
  const params = fc.record(Object.fromEntries(pathNames.map((name) => [name, param(name)])))
  const queryEntry = fc.oneof(
    ...parameters.filter((parameter) => parameter.in === "query").map((parameter) => valueFor(parameter.schema).map((value) => ({ name: parameter.name, value: String(value) }))),
    fc.record({ name: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("__proto__", "a[b]", "limit", "cursor")), value: fc.string({ maxLength: 12 }) }),
  )
  const query = fc.array(fc.tuple(queryEntry, fc.boolean()).map(([entry, raw]) => ({ ...entry, raw })), { maxLength: 4 })
  const [bodyType, media] = Object.entries(route.operation.requestBody?.content ?? {})[0] ?? []
  const value = valueFor(media?.schema ?? { type: "object" })
  const body = fc.oneof(
    { weight: 8, arbitrary: value.map((v) => ({ kind: bodyType === "application/x-www-form-urlencoded" ? ("form" as const) : ("json" as const), value: v })) },
    { weight: 1, arbitrary: value.map((v) => ({ kind: bodyType === "application/x-www-form-urlencoded" ? ("json" as const) : ("form" as const), value: v })) },
    { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom("{", "[]", "null", '{"a":1,}', "\ufeff{}", "a=b&a=c")).map((v) => ({ kind: "text" as const, value: v })) },
    { weight: 1, arbitrary: fc.constant({ kind: "none" as const }) },
  )
  const contentType = fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) })
  const method = route.method === "GET" ? fc.constantFrom("GET", "GET", "GET", "HEAD") : fc.constant(route.method)
  return fc.record({ method, params, query, headers, body, contentType })
}

/** The fresh values the placeholders stand for, made only when a request names them. */
async function resolver(draft: Draft): Promise<(text: string) => string> {
  const names = JSON.stringify(draft).match(/@@[A-Z_]+@@/g) ?? []
  const values = new Map<string, string>()
  const adminPair = names.some((name) => name.startsWith("@@ADMIN_A") || name.startsWith("@@ADMIN_R")) ? await core.issue(admin.sub, { claims: { roles: ["admin"] } }) : null
  const memberPair = names.some((name) => name.startsWith("@@MEMBER_A") || name.startsWith("@@MEMBER_R") || name === "@@MEMBER_SID@@") ? await core.issue(member.sub, { claims: { roles: [] } }) : null
  const basic = (secret: string) => Buffer.from(`${client.clientId}:${secret}`).toString("base64")
  const known: Record<Placeholder | "CLIENT_BASIC" | "CLIENT_BASIC_WRONG", string | undefined> = {
    ADMIN_ACCESS: adminPair?.accessToken,
    ADMIN_REFRESH: adminPair?.refreshToken,
    MEMBER_ACCESS: memberPair?.accessToken,
    MEMBER_REFRESH: memberPair?.refreshToken,
    MEMBER_SID: memberPair?.sessionId,
    ADMIN_SUB: admin.sub,
    MEMBER_SUB: member.sub,
    CLIENT_ID: client.clientId,
    CLIENT_SECRET: client.clientSecret,
    SPARE_KID: spareKid,
    CLIENT_BASIC: basic(client.clientSecret),
    CLIENT_BASIC_WRONG: basic("wrong"),
  }
  for (const [name, value] of Object.entries(known)) if (value !== undefined) values.set(`@@${name}@@`, value)
  return (text) => text.replace(/@@[A-Z_]+@@/g, (name) => values.get(name) ?? name)
}

function deepResolve(value: unknown, resolve: (text: string) => string): unknown {
  if (typeof value === "string") return resolve(value)
  if (Array.isArray(value)) return value.map((item) => deepResolve(item, resolve))
  if (typeof value === "object" && value !== null) {
    const copy: Record<string, unknown> = {}
    for (const [name, item] of Object.entries(value)) Object.defineProperty(copy, name, { value: deepResolve(item, resolve), enumerable: true, writable: true, configurable: true })
    return copy
  }
  return value
}

function formOf(value: unknown): string {
  if (typeof value !== "object" || value === null) return String(value)
  const form = new URLSearchParams()
  for (const [name, item] of Object.entries(value)) {
    for (const one of Array.isArray(item) ? item : [item]) form.append(name, typeof one === "object" && one !== null ? JSON.stringify(one) : String(one))
  }
  return form.toString()
}

/** Percent-encoded as UTF-8; a lone surrogate (which encodeURIComponent refuses) as the bytes of one, invalid UTF-8. */
function encode(text: string): string {
  let encoded = ""
  for (const char of text) encoded += /^[\ud800-\udfff]$/.test(char) ? "%ED%A0%80" : encodeURIComponent(char)
  return encoded
}

interface Request {
  method: string
  url: string
  headers: Record<string, string>
  payload?: string
}

async function requestOf(route: Route, draft: Draft): Promise<Request> {
  const resolve = await resolver(draft)
  const path = route.path.replace(/\{([^}]+)\}/g, (_match, name: string) => {
    const value = resolve(draft.params[name] ?? "")
    return name === "*" ? value.split("/").map(encode).join("/") : encode(value)
  })
  const query = draft.query.map(({ name, value, raw }) => (raw ? `${name}=${resolve(value)}` : `${encode(name)}=${encode(resolve(value))}`)).join("&")
  const headers = Object.fromEntries(Object.entries(draft.headers).map(([name, value]) => [name, resolve(value)]))
  const body = draft.body
  let payload: string | undefined
  if (body.kind === "json") payload = JSON.stringify(deepResolve(body.value, resolve)) ?? "null"
  else if (body.kind === "form") payload = formOf(deepResolve(body.value, resolve))
  else if (body.kind === "text") payload = body.value
  const contentType = draft.contentType ?? (body.kind === "json" ? "application/json" : body.kind === "form" ? "application/x-www-form-urlencoded" : null)
  if (payload !== undefined && contentType !== null && contentType !== "") headers["content-type"] = contentType
  return { method: draft.method, url: query === "" ? path : `${path}?${query}`, headers, ...(payload === undefined ? {} : { payload }) }
}

// ---------------------------------------------------------------------------------------------------------
// What an answer must be

const validators = new Map<JsonSchema, (value: unknown) => boolean>()

function validate(schema: JsonSchema, value: unknown): boolean {
  let check = validators.get(schema)
  if (check === undefined) {
    const compiled = Schema.Compile(schema as Parameters<typeof Schema.Compile>[0])
    check = (candidate) => compiled.Check(candidate)
    validators.set(schema, check)
  }
  return check(value)
}

/** What is wrong with an answer to a request of `route`, or null. */
function problem(route: Route, request: Request, response: LightMyRequestResponse): string | null {
  const status = response.statusCode
  // A documented 501 answers for a feature this deployment has not configured (password reset without SMTP).
  if (status >= 500 && !(status === 501 && route.operation.responses?.["501"] !== undefined)) return `status ${status}`
  const documented = route.operation.responses?.[String(status)]
  if (documented === undefined && !answeredBeforeTheRoute(route, request, status, response.body)) return `status ${status}, which the document does not list for this route`
  const type = String(response.headers["content-type"] ?? "")
  const isJson = /^application\/json\b/.test(type)
  if (status >= 400 && !isJson) return `status ${status} with Content-Type ${JSON.stringify(type)}`
  if (request.method === "HEAD" || !isJson) return null
  const schema = documented?.content?.["application/json"]?.schema ?? (status >= 400 ? ERROR_BODY : undefined)
  if (schema === undefined) return documented?.content === undefined || Object.keys(documented.content).length === 0 ? null : `a JSON answer where the document lists ${Object.keys(documented.content).join(", ")}`
  let body: unknown
  try {
    body = JSON.parse(response.body)
  } catch {
    return "a body that is not the JSON its Content-Type says"
  }
  return validate(schema, body) ? null : `a body that does not match the ${status} schema: ${response.body.slice(0, 300)}`
}

const ERROR_BODY = { type: "object", required: ["error"], properties: { error: { type: "string", pattern: "^[a-z][a-z_]*$" }, error_description: { type: "string" } } }

/**
 * The refusals made before a route's handler, for any route: the framework's (ANY_ROUTE), the router's for a
 * path parameter too long (414), and the origin guard's for a cookie-authenticated unsafe request (403).
 */
function answeredBeforeTheRoute(route: Route, request: Request, status: number, body: string): boolean {
  if (ANY_ROUTE.has(status)) return true
  if (status === 414) return route.path.includes("{")
  return status === 403 && UNSAFE.has(request.method) && body.includes('"error":"csrf_failed"')
}

async function answer(request: Request): Promise<LightMyRequestResponse> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_WITHIN_MS} ms (a stream that never ends?)`)), ANSWER_WITHIN_MS)
  })
  try {
    return await Promise.race([app.inject(request), late])
  } finally {
    clearTimeout(timer)
  }
}

// ---------------------------------------------------------------------------------------------------------
// One property per route

describe(`fuzz: each of the ${routes.length} routes of the OpenAPI document answers generated requests within its schema`, () => {
  test("the document lists the routes of every part of the server", () => {
    const listed = new Set(routes.map((route) => `${route.method} ${route.path}`))
    for (const expected of ["GET /", "GET /me", "POST /auth/login", "POST /oauth/token", "GET /admin/users/{sub}", "DELETE /admin/keys/{kid}", "GET /assets/{*}"]) assert.ok(listed.has(expected), expected)
  })

  for (const route of routes) {
    test(`${route.method} ${route.path}`, async (t) => {
      const statuses = new Map<number, number>()
      await fuzz(
        fc.asyncProperty(draftFor(route), async (draft) => {
          const request = await requestOf(route, draft)
          const response = await answer(request)
          statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
          const logged = errorLogs.splice(0)
          const wrong = problem(route, request, response) ?? (logged.length > 0 ? `an error logged: ${logged.join("\n").slice(0, 600)}` : null)
          if (wrong !== null) assert.fail(`${wrong}\nfor ${JSON.stringify(request).slice(0, 1500)}\n→ ${response.statusCode} ${response.body.slice(0, 300)}`)
        }),
        RUNS_PER_ROUTE,
      )
      t.diagnostic([...statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status}: ${count}`).join(", "))
    })
  }
})
