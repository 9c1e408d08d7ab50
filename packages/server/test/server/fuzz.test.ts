// A deterministic fuzz of every route GET / lists (the console page and /assets/* included): for each, a fixed
// number of malformed requests drawn from a seeded PRNG, round-robin over kinds of bad input. Every answer must
// be below 500, a JSON body with a string `error` code when 400 or above (HEAD aside), and the server must still
// answer GET /healthz after each route. The seed is in every failure message; REVOCABLE_FUZZ_SEED replays another.
import assert from "node:assert/strict"
import { Agent, request as httpRequest } from "node:http"
import { connect } from "node:net"
import { after, before, describe, mock, test } from "node:test"
import { createAuth, type Auth, type TokenPair } from "revocable"
import { loadConfig } from "../../src/server/config.ts"
import { createAuthFromConfig } from "../../src/server/engine.ts"
import { clientDirectory } from "../../src/server/client-directory.ts"
import { userDirectory, type UserDirectory } from "../../src/server/user-directory.ts"
import { memoryStore } from "revocable/stores/memory"
import type { ServerStore } from "revocable/stores"
import { decode, forge, hs256, segment, split, unsigned } from "../../../revocable/test/helpers/forge.ts"
import { PASSWORD, testServer, type TestServer } from "../helpers/server.ts"

const SEED = Number(process.env.REVOCABLE_FUZZ_SEED ?? 0x5eed)
const PER_ROUTE = 240
const KINDS = ["method", "body-type", "field-type", "huge", "unicode", "params", "form", "encoding", "authorization", "cookie", "token", "raw"] as const
type Kind = (typeof KINDS)[number]

const ENV = {
  REVOCABLE_PORT: "0",
  REVOCABLE_ISSUER: "http://issuer.test",
  REVOCABLE_LOG_LEVEL: "silent",
  REVOCABLE_COOKIE_ORIGINS: "http://app.test",
  // Each login, registration and password change that passes the limiter costs an argon2id hash (~50 ms).
  REVOCABLE_LOGIN_LIMIT_IP: "20",
}
const BODY_LIMIT = 16 * 1024
const HEADER_LIMIT = 16 * 1024
const CODE = /^[a-z][a-z_]*$/

// ---------------------------------------------------------------------------------------------------------
// The PRNG (mulberry32) and what draws from it

interface Rng {
  float(): number
  int(below: number): number
  pick<T>(items: readonly T[]): T
  chance(p: number): boolean
}

function rng(seed: number): Rng {
  let state = seed >>> 0
  const float = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (below: number) => Math.floor(float() * below)
  return { float, int, pick: (items) => items[int(items.length)] as (typeof items)[number], chance: (p) => float() < p }
}

/** FNV-1a, so that each route's sequence depends on the seed and the route only. */
function hash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

const NASTY = [
  "", " ", "\u0000", "a\u0000b", "\u0001\u001f\u007f", "\r\n", "\r\nSet-Cookie: x=1", "\t", "\ud800", "\udfff", "a\ud83d", "\u202e", "\ufeff",
  "\u0085", "\u2028", "😀", "é", "Ω", "ｆｕｌｌ", "..", "../..", "%", "%00", "%zz", "__proto__", "constructor", "prototype", "null",
  "undefined", "true", "0", "-1", "1e309", "NaN", "<script>", "' OR 1=1 --", "${jndi:x}", "{{7*7}}", "a=b&c=d", ".", "/", "\\", "*", "?",
]
const JSON_VALUES: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, -0, "", "x", [], [1], [null], [{}], {}, { a: {} }, [[[[]]]], "\u0000"]
const RAW_JSON = [
  "", " ", "null", "true", "0", "-0", "1e309", '"x"', "[]", "{}", "[{}]", '"\\ud800"', "\ufeff{}", "{} x", "{", "}", "{'a':1}", '{"a":1,}',
  '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"x":1}}}', "NaN", "Infinity", "[".repeat(6000) + "]".repeat(6000),
  '{"a":'.repeat(2500) + "1" + "}".repeat(2500), "\u0000", '{"a":"\\u0000"}', '{"a":"\\x00"}', "[1,2,3", "[" + "1,".repeat(5000) + "1]",
]

function nasty(r: Rng): string {
  return r.chance(0.8) ? r.pick(NASTY) : r.pick(NASTY) + r.pick(NASTY) + r.pick(NASTY)
}

function huge(r: Rng, length: number): string {
  const unit = r.pick(["a", "é", "😀", "\u0000", "%", "A.", " ", "\ud800"])
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length)
}

function jsonValue(r: Rng): unknown {
  return r.chance(0.85) ? r.pick(JSON_VALUES) : r.chance(0.5) ? nasty(r) : huge(r, 50 + r.int(3000))
}

// ---------------------------------------------------------------------------------------------------------
// The routes, as GET / lists them, and their parameters, as the OpenAPI document describes them

interface Schema {
  type?: string | string[]
  enum?: unknown[]
  properties?: Record<string, Schema>
  required?: string[]
}

interface Route {
  method: string
  path: string
  /** Path parameters, in order ("*" for the asset wildcard). */
  params: string[]
  query: Record<string, Schema>
  body: Schema | null
  form: boolean
}

function routesOf(listing: { method: string; path: string }[], document: { paths: Record<string, Record<string, any>> }): Route[] {
  return listing.map(({ method, path }) => {
    const operation = document.paths[path]?.[method.toLowerCase()] ?? {}
    const parameters: { name: string; in: string; schema: Schema }[] = operation.parameters ?? []
    const content: Record<string, { schema: Schema }> = operation.requestBody?.content ?? {}
    const [type, media] = Object.entries(content)[0] ?? []
    return {
      method,
      path,
      params: path.endsWith("/*") ? ["*"] : [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] as string),
      query: Object.fromEntries(parameters.filter((parameter) => parameter.in === "query").map((parameter) => [parameter.name, parameter.schema])),
      body: media?.schema ?? null,
      form: type === "application/x-www-form-urlencoded",
    }
  })
}

// ---------------------------------------------------------------------------------------------------------
// Requests and answers over real HTTP: node:http for most, a bare socket for bytes node:http will not send

interface Probe {
  kind: Kind
  method: string
  target: string
  headers: [string, string][]
  body?: Buffer
  /** Sent as these exact bytes over a socket of its own. */
  raw?: Buffer
}

interface Answer {
  status: number
  type: string
  text: string
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 })

function send(port: number, probe: Probe): Promise<Answer> {
  if (probe.raw !== undefined) return sendRaw(port, probe.raw)
  const attempt = (): Promise<Answer & { reused: boolean }> =>
    new Promise((resolve, reject) => {
      const headers = [["host", `127.0.0.1:${port}`], ...probe.headers]
      if (probe.body !== undefined && !probe.headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name))) {
        headers.push(["content-length", String(probe.body.length)])
      }
      const request = httpRequest({ host: "127.0.0.1", port, method: probe.method, path: probe.target, headers: headers.flat(), agent }, (response) => {
        const chunks: Buffer[] = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            type: response.headers["content-type"] ?? "",
            text: Buffer.concat(chunks).toString("utf8"),
            reused: request.reusedSocket,
          }),
        )
        response.on("error", reject)
      })
      request.on("error", (error) => reject(Object.assign(error, { reused: request.reusedSocket })))
      request.end(probe.body)
    })
  // A keep-alive socket the server closed just as it was reused (the race Node's docs describe): once more.
  return attempt().catch((error: Error & { code?: string; reused?: boolean }) => {
    if (error.reused === true && error.code === "ECONNRESET") return attempt()
    throw error
  })
}

function sendRaw(port: number, bytes: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1")
    let received = Buffer.alloc(0)
    let done = false
    const finish = (closed: boolean) => {
      if (done) return
      const answer = parseRaw(received, closed)
      if (answer === null && !closed) return
      done = true
      socket.destroy()
      if (answer === null) reject(new Error(`the connection closed without a complete answer (${received.length} bytes)`))
      else resolve(answer)
    }
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      finish(false)
    })
    socket.on("close", () => finish(true))
    socket.on("error", (error) => {
      if (!done && received.length === 0) {
        done = true
        reject(error)
      }
    })
    socket.write(bytes)
  })
}

/** One HTTP/1.1 answer, once complete: a Content-Length body, a chunked one, or one ended by the close. */
function parseRaw(bytes: Buffer, closed: boolean): Answer | null {
  // Interim answers (100 Continue) come first.
  while (/^HTTP\/1\.[01] 1\d\d /.test(bytes.subarray(0, 13).toString("latin1")) && bytes.indexOf("\r\n\r\n") >= 0) bytes = bytes.subarray(bytes.indexOf("\r\n\r\n") + 4)
  const end = bytes.indexOf("\r\n\r\n")
  if (end < 0) return null
  const lines = bytes.subarray(0, end).toString("latin1").split("\r\n")
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1])
  if (!Number.isInteger(status)) return null
  const headers = new Map(lines.slice(1).map((line) => [line.slice(0, line.indexOf(":")).trim().toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]))
  let body = bytes.subarray(end + 4)
  const length = headers.get("content-length")
  if (length !== undefined) {
    if (body.length < Number(length)) return null
    body = body.subarray(0, Number(length))
  } else if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
    const chunks: Buffer[] = []
    let at = 0
    for (;;) {
      const lineEnd = body.indexOf("\r\n", at)
      if (lineEnd < 0) return null
      const size = parseInt(body.subarray(at, lineEnd).toString("latin1"), 16)
      if (size === 0) break
      if (body.length < lineEnd + 2 + size + 2) return null
      chunks.push(body.subarray(lineEnd + 2, lineEnd + 2 + size))
      at = lineEnd + 2 + size + 2
    }
    body = Buffer.concat(chunks)
  } else if (!closed && status !== 204 && status !== 304) {
    return null
  }
  return { status, type: headers.get("content-type") ?? "", text: body.toString("utf8") }
}

/** What is wrong with an answer, or null. */
function problem(probe: Probe, answer: Answer): string | null {
  // A feature this deployment has not configured answers 501 not_configured (password reset without SMTP).
  if (answer.status === 501 && answer.text.includes('"error":"not_configured"')) return null
  if (answer.status >= 500 || answer.status < 100) return `status ${answer.status}`
  if (answer.status < 400 || probe.method === "HEAD") return null
  if (!answer.type.includes("json")) return `status ${answer.status} with Content-Type ${JSON.stringify(answer.type)}`
  let body: unknown
  try {
    body = JSON.parse(answer.text)
  } catch {
    return `status ${answer.status} with a body that is not JSON`
  }
  const error = (body as { error?: unknown } | null)?.error
  if (typeof error !== "string" || !CODE.test(error)) return `status ${answer.status} without an error code: ${answer.text.slice(0, 200)}`
  return null
}

function describeProbe(probe: Probe): string {
  const clip = (text: string) => JSON.stringify(text.length > 160 ? `${text.slice(0, 160)}…(${text.length})` : text)
  if (probe.raw !== undefined) return `raw ${clip(probe.raw.toString("latin1"))}`
  const headers = probe.headers.map(([name, value]) => `${name}: ${clip(value)}`).join(", ")
  return `${probe.method} ${clip(probe.target)} [${headers}]${probe.body === undefined ? "" : ` body ${clip(probe.body.toString("utf8"))}`}`
}

// ---------------------------------------------------------------------------------------------------------
// The server, its users and a pool of tokens of every sort

let server: TestServer
let core: Auth
let users: UserDirectory
let port: number
const errorLogs: string[] = []

interface Identity {
  sub: string
  roles: string[]
  pair?: TokenPair
}

const admin: Identity = { sub: "", roles: ["admin"] }
const member: Identity = { sub: "", roles: [] }
let victimSub = ""
let client = { clientId: "", clientSecret: "" }
/** Tokens the caller was not given, by name: refused ones (wrong type, expired, revoked, foreign, forged) and odd valid ones. */
const badTokens: Record<string, string> = {}
let kids: string[] = []

/** The store, with close() left to the caller: for the extra core instances of other issuers. */
function keepOpen(store: ServerStore): ServerStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === "close") return async () => {}
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === "function" ? value.bind(target) : value
    },
  })
}

async function issuedAt(offsetMs: number, issue: () => Promise<TokenPair>): Promise<TokenPair> {
  mock.timers.enable({ apis: ["Date"], now: Date.now() + offsetMs })
  try {
    return await issue()
  } finally {
    mock.timers.reset()
  }
}

/** A live pair of the identity: the last one while the server still accepts it, else a new one. */
async function pairOf(who: Identity): Promise<TokenPair> {
  if (who.pair !== undefined) {
    const alive = await Promise.all([core.verify(who.pair.accessToken), core.verify(who.pair.refreshToken, { type: "refresh" })]).then(
      () => true,
      () => false,
    )
    if (alive) return who.pair
  }
  who.pair = await core.issue(who.sub, { claims: { roles: who.roles, client_id: "revocable" }, device: "fuzz" })
  return who.pair
}

before(async () => {
  const store = memoryStore()
  core = createAuthFromConfig(loadConfig(ENV), store)
  const logger = { level: "error" as const, stream: { write: (line: string) => errorLogs.push(line) } }
  server = await testServer(ENV, { store, auth: core, logger })
  port = Number(new URL(server.url).port)
  users = userDirectory(store, core)
  admin.sub = (await users.create({ username: "admin", password: PASSWORD, roles: ["admin"] })).sub
  member.sub = (await users.create({ username: "member", password: PASSWORD })).sub
  victimSub = (await users.create({ username: "victim", password: PASSWORD })).sub
  client = await clientDirectory(store).create("fuzz-rs")

  // A token of a key retired since, then the current key; `kids` keeps a spare key for DELETE /admin/keys.
  const [firstKid] = (await store.listKeys()).map((key) => key.kid)
  badTokens.retiredKey = (await core.issue(member.sub)).accessToken
  await core.rotateKey()
  await core.retireKey(firstKid as string)
  const spare = await core.rotateKey()
  await core.rotateKey()
  kids = [firstKid as string, spare.kid]

  const memberPair = await core.issue(member.sub, { claims: { roles: [] } })
  const adminPair = await core.issue(admin.sub, { claims: { roles: ["admin"] } })
  badTokens.refreshAsAccess = memberPair.refreshToken
  badTokens.adminRefreshAsAccess = adminPair.refreshToken
  badTokens.expired = (await issuedAt(-2 * 3600_000, () => core.issue(member.sub))).accessToken
  badTokens.expiredAdmin = (await issuedAt(-2 * 3600_000, () => core.issue(admin.sub, { claims: { roles: ["admin"] } }))).accessToken
  badTokens.notYetValid = (await issuedAt(2 * 3600_000, () => core.issue(member.sub))).accessToken
  const revoked = await core.issue(admin.sub, { claims: { roles: ["admin"] } })
  await core.revokeSession(revoked.sessionId)
  badTokens.revokedAdmin = revoked.accessToken
  badTokens.revokedRefresh = revoked.refreshToken
  const revokedJti = await core.issue(member.sub)
  await core.revokeToken(decode(split(revokedJti.accessToken)[1]).jti as string)
  badTokens.revokedJti = revokedJti.accessToken
  for (const [name, options] of [
    ["otherIssuer", { issuer: "http://other.test", audience: "api" }],
    ["otherAudience", { issuer: ENV.REVOCABLE_ISSUER, audience: "other" }],
  ] as const) {
    const other = createAuth({ ...options, store: keepOpen(store), purgeInterval: false })
    badTokens[name] = (await other.issue(admin.sub, { claims: { roles: ["admin"] } })).accessToken
    await other.close()
  }
  badTokens.oddClaims = (await core.issue(member.sub, { claims: { roles: [1, { admin: true }, null], client_id: 7, nested: { a: [] } } })).accessToken
  badTokens.rolesString = (await core.issue(member.sub, { claims: { roles: "admin" } })).accessToken
  badTokens.unknownSubject = (await core.issue("no-such-user", { claims: { roles: ["admin"] } })).accessToken

  const [header, payload, signature] = split(adminPair.accessToken)
  const head = decode(header)
  const claims = decode(payload)
  const jwks = (await core.jwks()) as { keys: unknown[] }
  badTokens.algNone = forge({ ...head, alg: "none" }, claims, unsigned())
  badTokens.algNoneSigned = forge({ ...head, alg: "none" }, claims, unsigned(signature))
  badTokens.hsWithPublicKey = forge({ ...head, alg: "HS256" }, claims, hs256(JSON.stringify(jwks.keys[0])))
  badTokens.badSignature = `${header}.${payload}.${signature.slice(0, -4)}AAAA`
  badTokens.unknownKid = forge({ ...head, kid: "no-such-kid" }, claims, unsigned(signature))
  badTokens.kidTraversal = forge({ ...head, kid: "../../../etc/passwd\u0000" }, claims, unsigned(signature))
  badTokens.kidNumber = forge({ ...head, kid: 7 }, claims, unsigned(signature))
  badTokens.kidObject = forge({ ...head, kid: { a: 1 } }, claims, unsigned(signature))
  badTokens.critical = forge({ ...head, crit: ["exp"] }, claims, unsigned(signature))
  badTokens.headerNotJson = `${segment("{not json")}.${payload}.${signature}`
  badTokens.payloadArray = forge(head, [1, 2], unsigned(signature))
  badTokens.payloadNull = forge(head, "null", unsigned(signature))
  badTokens.payloadHuge = forge(head, { ...claims, pad: "x".repeat(9000) }, unsigned(signature))
  badTokens.notBase64 = "@@@.###.$$$"
  badTokens.twoSegments = `${header}.${payload}`
  badTokens.fourSegments = `${adminPair.accessToken}.x`
  badTokens.dots = "..."
  badTokens.latin1 = "é.é.é"
  badTokens.long = "a".repeat(12_000)
})

after(async () => {
  agent.destroy()
  await server.close()
  // The core closes the store it was made on.
  await core.close()
})

// ---------------------------------------------------------------------------------------------------------
// The generator

interface Pools {
  subs: string[]
  sids: string[]
  jtis: string[]
  tokens: string[]
  cursors: string[]
}

async function pools(r: Rng): Promise<Pools> {
  const memberPair = await pairOf(member)
  const adminPair = await pairOf(admin)
  const sessions = await core.listSessions(member.sub)
  const revocations = await core.listRevocations({ limit: 1 })
  const userPage = await users.list({ limit: 1 })
  const cursors = [revocations.next, userPage.next].filter((cursor): cursor is string => cursor !== null)
  for (const cursor of [...cursors]) {
    cursors.push(cursor.slice(0, -1), `${cursor}x`, cursor.split("").reverse().join(""), Buffer.from(cursor).toString("base64"))
  }
  cursors.push("", "0", "-1", "null", "{}", Buffer.from('{"after":1}').toString("base64url"), Buffer.from("[]").toString("base64url"), "%zz", "\u0000")
  const tokens = [memberPair.accessToken, memberPair.refreshToken, adminPair.accessToken, ...Object.values(badTokens)]
  return {
    subs: [member.sub, victimSub, "no-such-user", "x".repeat(1024), "x".repeat(1025), nasty(r)],
    sids: [...sessions.slice(0, 3).map((session) => session.sid), memberPair.sessionId, "no-such-session", nasty(r)],
    jtis: [memberPair, adminPair].map((pair) => decode(split(pair.accessToken)[1]).jti as string),
    tokens,
    cursors,
  }
}

/** A value fit for a field: often right, sometimes subtly wrong; never one that would cut off the fuzzer's admin. */
function plausible(name: string, schema: Schema, r: Rng, p: Pools): unknown {
  if (schema.enum !== undefined && r.chance(0.8)) return r.pick(schema.enum)
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  if (type === "boolean") return r.chance(0.5)
  if (type === "integer") return r.pick([1, 2, 50, 1000])
  switch (name) {
    case "username":
      return r.pick(["member", "victim", "Member ", "nobody", `user${r.int(1000)}`, "ab", "admin"])
    case "password":
    case "current_password":
    case "new_password":
      return r.pick([PASSWORD, "wrong password!", "short", "member", PASSWORD.toUpperCase()])
    case "refresh_token":
    case "token":
      return r.pick(p.tokens)
    case "id":
      return r.pick([...p.sids, ...p.jtis, ...p.subs, ...p.tokens])
    case "path-id":
      return r.pick([...p.sids, ...p.jtis, ...p.subs])
    case "subject":
    case "sub":
      return r.pick(p.subs)
    case "sid":
      return r.pick(p.sids)
    case "kid":
      return r.pick([...kids, "no-such-kid", nasty(r)])
    case "cursor":
      return r.pick(p.cursors)
    case "grant_type":
      return r.pick(["password", "refresh_token", "client_credentials", "authorization_code", "PASSWORD"])
    case "token_type_hint":
      return r.pick(["access_token", "refresh_token", "bogus"])
    case "client_id":
      return r.pick([client.clientId, "revocable", "some-app", "a b"])
    case "client_secret":
      return r.pick([client.clientSecret, "wrong"])
    case "*":
      return r.pick(["console/entry.js", "console/entry.ts", "console/style.css", "client/index.js", "console/serve.js", "console/index.html", "client/nope.js", "../package.json"])
    default:
      return r.pick(["fuzz", "", "a reason", nasty(r)])
  }
}

function plausibleBody(route: Route, r: Rng, p: Pools): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  for (const [name, schema] of Object.entries(route.body?.properties ?? {})) {
    if ((route.body?.required ?? []).includes(name) || r.chance(0.6)) body[name] = plausible(name, schema, r, p)
  }
  return body
}

/** encodeURIComponent, except that a lone surrogate becomes the (invalid) UTF-8 of its code unit instead of a throw. */
function encode(value: string): string {
  let encoded = ""
  for (const char of value) {
    const unit = char.charCodeAt(0)
    encoded +=
      char.length === 1 && unit >= 0xd800 && unit <= 0xdfff
        ? [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 63), 0x80 | (unit & 63)].map((byte) => `%${byte.toString(16).toUpperCase()}`).join("")
        : encodeURIComponent(char)
  }
  return encoded
}

function encodeForm(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .map(([name, value]) => `${encode(name)}=${encode(typeof value === "string" ? value : JSON.stringify(value) ?? "")}`)
    .join("&")
}

const BAD_PERCENT = ["%", "%%", "%zz", "%0", "%E0%A4%A", "%C0%AF", "%ED%A0%80", "%FF%FE", "%00", "%2F", "%2e%2e%2F%2e%2e", "..%2F..%2F", "%252F", "%u0041", "%c3%28", "a%", "%%30"]

function pathValue(value: string, r: Rng, kind: Kind): string {
  if (kind === "encoding") return r.chance(0.5) ? r.pick(BAD_PERCENT) : encode(value) + r.pick(BAD_PERCENT)
  return encode(value)
}

interface Draft {
  method: string
  params: Record<string, string>
  /** Name and value, encoded when the request is made unless marked raw (already percent-encoded, or badly). */
  query: [string, string, "raw"?][]
  /** The body's fields, encoded as JSON or as a form by the content type, unless `bytes` are given. */
  fields: Record<string, unknown> | undefined
  bytes: Buffer | undefined
  contentType: string | undefined
  headers: [string, string][]
  identity: "admin" | "member" | "anonymous"
  cookieMode: boolean
}

function target(route: Route, draft: Draft): string {
  let path = route.path
  for (const name of route.params) {
    const value = draft.params[name] ?? ""
    path = name === "*" ? path.replace("*", value) : path.replace(`{${name}}`, value)
  }
  const query = draft.query.map(([name, value, raw]) => (raw === "raw" ? `${name}=${value}` : `${encode(name)}=${encode(value)}`)).join("&")
  return query === "" ? path : `${path}?${query}`
}

/** One malformed request of the given kind for the route. */
async function probeFor(route: Route, kind: Kind, r: Rng, p: Pools): Promise<Probe> {
  const draft: Draft = {
    method: route.method,
    params: Object.fromEntries(route.params.map((name) => [name, pathValue(String(plausible(name === "id" ? "path-id" : name, {}, r, p)), r, "method")])),
    query: Object.entries(route.query).flatMap(([name, schema]) => (r.chance(0.4) ? [[name, String(plausible(name, schema, r, p))] as [string, string]] : [])),
    fields: route.body === null ? undefined : plausibleBody(route, r, p),
    bytes: undefined,
    contentType: route.body === null ? undefined : route.form ? "application/x-www-form-urlencoded" : "application/json",
    headers: [],
    identity: r.pick(["admin", "admin", "member", "member", "anonymous"] as const),
    cookieMode: r.chance(0.15),
  }
  const fields = Object.keys(route.body?.properties ?? {})
  const someField = () => (fields.length > 0 && r.chance(0.8) ? r.pick(fields) : r.pick(["extra", "__proto__", "constructor", "cookie", "roles", "sub"]))
  const setField = (value: unknown) => {
    draft.fields = { ...draft.fields, [someField()]: value }
  }
  const someParam = () => r.pick([...route.params, ...Object.keys(route.query)])

  switch (kind) {
    case "method":
      draft.method = r.pick(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "SEARCH", "PROPFIND"].filter((method) => method !== route.method || r.chance(0.1)))
      if (r.chance(0.5)) draft.fields ??= plausibleBody({ ...route, body: { properties: { a: {} } } }, r, p)
      if (draft.fields !== undefined) draft.contentType ??= "application/json"
      break
    case "body-type":
      draft.contentType = r.pick(["application/json", "application/json", "application/json; charset=utf-8", "Application/JSON", "application/json; charset=latin1", "application/vnd.api+json"])
      draft.bytes = Buffer.from(r.chance(0.5) ? JSON.stringify(jsonValue(r)) : r.pick(RAW_JSON))
      break
    case "field-type":
      draft.fields ??= {}
      draft.contentType ??= "application/json"
      for (let i = 0, n = 1 + r.int(3); i < n; i++) setField(jsonValue(r))
      if (route.params.length > 0 && r.chance(0.3)) draft.params[r.pick(route.params)] = pathValue(String(jsonValue(r)), r, kind)
      break
    case "huge": {
      const choice = r.int(4)
      if (choice === 0) {
        draft.fields ??= {}
        draft.contentType ??= "application/json"
        setField(huge(r, 1000 + r.int(BODY_LIMIT - 3000)))
      } else if (choice === 1) {
        draft.contentType ??= r.pick(["application/json", "application/x-www-form-urlencoded"])
        const size = BODY_LIMIT + 1 + r.int(3 * BODY_LIMIT)
        draft.bytes = Buffer.from(draft.contentType.includes("json") ? JSON.stringify({ [someField()]: huge(r, size) }) : `${someField()}=${"a".repeat(size)}`)
      } else if (choice === 2 && (route.params.length > 0 || Object.keys(route.query).length > 0)) {
        const name = someParam()
        const value = huge(r, r.chance(0.7) ? 300 + r.int(4000) : HEADER_LIMIT + r.int(HEADER_LIMIT))
        if (route.params.includes(name)) draft.params[name] = encode(value)
        else draft.query.push([name, value])
      } else {
        draft.headers.push([r.pick(["x-padding", "user-agent", "x-csrf-token", "origin", "accept"]), huge(r, r.chance(0.5) ? 8000 : HEADER_LIMIT + 1000).replace(/[^\x20-\x7e]/g, "a")])
      }
      break
    }
    case "unicode": {
      const value = nasty(r)
      const where = r.int(3)
      if (where === 0 && route.params.length > 0) draft.params[r.pick(route.params)] = encode(value)
      else if (where === 1) draft.query.push([r.chance(0.7) && Object.keys(route.query).length > 0 ? r.pick(Object.keys(route.query)) : nasty(r), value])
      else {
        draft.contentType ??= "application/json"
        draft.fields ??= {}
        if (r.chance(0.3)) {
          // Invalid UTF-8 in an otherwise valid JSON body.
          const text = JSON.stringify({ ...draft.fields, [someField()]: "@@MARK@@" })
          const [left, right] = text.split("@@MARK@@") as [string, string]
          draft.bytes = Buffer.concat([Buffer.from(left), Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]), Buffer.from(right)])
        } else {
          setField(value)
        }
      }
      if (r.chance(0.3)) draft.headers.push([r.pick(["user-agent", "origin", "x-csrf-token", "accept-language"]), Buffer.from(value, "utf8").toString("latin1").replace(/[\x00-\x08\x0a-\x1f\x7f]/g, "")])
      break
    }
    case "params": {
      const choice = r.int(5)
      if (choice === 0 && draft.fields !== undefined) {
        const names = Object.keys(draft.fields)
        if (names.length > 0) delete draft.fields[r.pick(names)]
        if (r.chance(0.5)) draft.fields = {}
      } else if (choice === 1) {
        // The same key twice in one JSON object.
        const name = someField()
        const text = JSON.stringify(draft.fields ?? {})
        const extra = `${JSON.stringify(name)}:${JSON.stringify(jsonValue(r))},${JSON.stringify(name)}:${JSON.stringify(plausible(name, {}, r, p))}`
        draft.bytes = Buffer.from(text === "{}" ? `{${extra}}` : `${text.slice(0, -1)},${extra}}`)
        draft.contentType ??= "application/json"
      } else if (choice === 2) {
        const name = r.chance(0.7) && Object.keys(route.query).length > 0 ? r.pick(Object.keys(route.query)) : r.pick(["limit", "cursor", "kind", "access_token", "__proto__", "a[b]", "a[]"])
        draft.query.push([name, String(plausible(name, route.query[name] ?? {}, r, p))], [name, String(jsonValue(r))])
      } else if (choice === 3) {
        draft.query = Object.keys(route.query).map((name) => [name, r.pick(["", "0", "-1", "1001", "1.5", "1e3", "0x10", "abc", "[]", "true", " 5", "5 ", "+5", "09"])])
        if (draft.query.length === 0) draft.query.push(["unknown", "1"])
      } else {
        setField(r.pick([undefined, null, {}]))
        if (route.params.length > 0) draft.params[r.pick(route.params)] = r.pick(["", "%20", "-", "0"])
      }
      break
    }
    case "form": {
      const fields = draft.fields ?? { [someField()]: "x" }
      const name = r.pick(Object.keys(fields).length > 0 ? Object.keys(fields) : ["grant_type"])
      const forms = [
        () => `${encodeForm(fields)}&${name}=again`,
        () => `${name}=a&${name}=b&${name}=`,
        () => `${encodeForm(fields)}&${name}=%zz&%=%&=&&`,
        () => `${name}=${encode(nasty(r))}&${encodeForm(fields)}`,
        () => `__proto__=x&constructor=y&${encodeForm(fields)}`,
        () => `${name}[]=1&${name}[x]=2`,
        () => "&&&===",
        () => encodeForm(fields),
      ]
      draft.bytes = Buffer.from(r.pick(forms)())
      draft.contentType = r.pick([
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "application/x-www-form-urlencoded; charset=iso-8859-1",
        "application/x-www-form-urlencoded;;",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/json",
        "application/octet-stream",
        "*/*",
        "",
      ])
      if (r.chance(0.2)) draft.contentType = undefined
      break
    }
    case "encoding": {
      if (route.params.length > 0 && r.chance(0.6)) draft.params[r.pick(route.params)] = pathValue(String(plausible("x", {}, r, p)), r, kind)
      draft.query.push([r.pick([...Object.keys(route.query), "%", "a%zz", "x"]), r.pick(BAD_PERCENT), "raw"])
      break
    }
    case "authorization": {
      const token = r.pick(p.tokens)
      const basic = (text: string) => `Basic ${Buffer.from(text, "latin1").toString("base64")}`
      const values = [
        "Bearer", "Bearer ", "Bearer  ", `bearer ${token}`, `BEARER ${token}`, `Bearer  ${token} `, `Bearer\t${token}`, `Bearer a b`, `Bearer ${token},${token}`,
        `Bearer ${token}, Basic eA==`, "Basic", "Basic ", "Basic ===", "Basic !!!", basic(":"), basic("a:%zz"), basic("%zz:%"), basic(`${client.clientId}:${client.clientSecret}`),
        basic(`${client.clientId}:wrong`), basic(`${client.clientId}`), basic(`${"x".repeat(300)}:${"y".repeat(2000)}`), basic("é:é"), "Digest username=x", "Negotiate YII=",
        `DPoP ${token}`, `Token ${token}`, "", " ", "\t", `Bearer ${token}é`, `Bearer ${"a".repeat(8000)}`, `Bearer ${"a".repeat(HEADER_LIMIT + 100)}`,
        `Basic ${"QUFB".repeat(3000)}`, token,
      ]
      draft.identity = "anonymous"
      draft.headers.push(["authorization", r.pick(values)])
      if (r.chance(0.3)) draft.headers.push([r.pick(["authorization", "Authorization", "AUTHORIZATION"]), r.pick(values)])
      break
    }
    case "cookie": {
      const token = r.pick(p.tokens)
      const csrf = r.pick(["abc", "", "x".repeat(64), "é"])
      const cookies = [
        `access_token=${token}`,
        `access_token=${token}; csrf_token=${csrf}`,
        `access_token=${token}; access_token=${token}`,
        `csrf_token=${csrf}; csrf_token=other; access_token=${token}`,
        `access_token="${token}"; csrf_token="${csrf}"`,
        `refresh_token=${token}; csrf_token=${csrf}`,
        `refresh_token=${token}; refresh_token=x; csrf_token=${csrf}`,
        `refresh_token=; csrf_token=`,
        "access_token=",
        ";;;",
        "=; =x; access_token",
        `access_token=${"a".repeat(8000)}`,
        `${"x".repeat(100)}=${"y".repeat(100)}; access_token=${token}`,
        `access_token=${token}é; csrf_token=${csrf}`,
      ]
      draft.identity = r.pick(["anonymous", "anonymous", "admin"])
      draft.headers.push(["cookie", r.pick(cookies)])
      if (r.chance(0.3)) draft.headers.push(["cookie", r.pick(cookies)])
      if (r.chance(0.6)) draft.headers.push(["x-csrf-token", r.chance(0.5) ? csrf : nasty(r).replace(/[^\t\x20-\x7e\x80-\xff]/g, "")])
      if (r.chance(0.2)) draft.headers.push(["x-csrf-token", csrf])
      if (r.chance(0.3)) draft.headers.push(["origin", r.pick(["http://app.test", "http://evil.test", "null", "", "http://app.test/", "HTTP://APP.TEST"])])
      if (draft.fields !== undefined && r.chance(0.5)) {
        draft.fields = { ...draft.fields, cookie: true }
        delete draft.fields.refresh_token
      }
      break
    }
    case "token": {
      const name = r.pick(Object.keys(badTokens))
      const token = badTokens[name] as string
      draft.identity = "anonymous"
      const where = r.int(4)
      if (where === 0) draft.headers.push(["authorization", `Bearer ${token}`])
      else if (where === 1) {
        draft.headers.push(["cookie", `access_token=${token}; refresh_token=${token}; csrf_token=c`], ["x-csrf-token", "c"])
        if (draft.fields !== undefined) delete draft.fields.refresh_token
      } else if (where === 2 && fields.some((field) => ["token", "refresh_token", "id"].includes(field))) {
        draft.fields = { ...draft.fields, [r.pick(fields.filter((field) => ["token", "refresh_token", "id"].includes(field)))]: token }
        draft.identity = r.pick(["admin", "member", "anonymous"])
      } else {
        draft.headers.push(["authorization", `Bearer ${token}`])
        if (route.form) draft.bytes = Buffer.from(encodeForm({ ...draft.fields, token, refresh_token: token, grant_type: "refresh_token" }))
      }
      break
    }
    case "raw":
      return rawProbe(route, draft, r, p)
  }
  return assemble(route, draft, r, kind)
}

async function assemble(route: Route, draft: Draft, r: Rng, kind: Kind): Promise<Probe> {
  const headers: [string, string][] = []
  if (draft.identity !== "anonymous") {
    const pair = await pairOf(draft.identity === "admin" ? admin : member)
    if (draft.cookieMode) {
      const csrf = "fuzz-csrf"
      headers.push(["cookie", `access_token=${pair.accessToken}; refresh_token=${pair.refreshToken}; csrf_token=${csrf}`], ["x-csrf-token", csrf])
    } else {
      headers.push(["authorization", `Bearer ${pair.accessToken}`])
    }
  }
  if (route.path === "/" && r.chance(0.3)) headers.push(["accept", r.pick(["text/html", "text/html;q=0.9, application/json", "*/*", "TEXT/HTML"])])
  headers.push(...draft.headers)
  let body = draft.bytes
  if (body === undefined && draft.fields !== undefined) {
    body = Buffer.from(draft.contentType?.includes("x-www-form-urlencoded") ? encodeForm(draft.fields) : JSON.stringify(draft.fields))
  }
  if (body !== undefined && draft.contentType !== undefined) headers.push(["content-type", draft.contentType])
  return { kind, method: draft.method, target: target(route, draft), headers, ...(body === undefined ? {} : { body }) }
}

/** Bytes node:http refuses to send: control characters in the request line and headers, bad framing. */
async function rawProbe(route: Route, draft: Draft, r: Rng, p: Pools): Promise<Probe> {
  const path = target(route, draft)
  const pair = await pairOf(r.chance(0.5) ? admin : member)
  const auth = `Authorization: Bearer ${pair.accessToken}\r\n`
  // ASCII only (JSON escapes), so that the request's text is its bytes and Content-Length counts them.
  const fields = plausibleBody(route, r, p)
  const body = route.form ? encodeForm(fields) : JSON.stringify(fields).replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)
  const type = `Content-Type: ${route.form ? "application/x-www-form-urlencoded" : "application/json"}\r\n`
  const lines = [
    () => `${route.method} ${path}\u0001x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path.replace(/\/[^/]*$/, "/a b")} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path}\u0000 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path}é\u00ff HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    () => `${route.method.toLowerCase()} ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    () => `G@T ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path} HTTP/2.0\r\nHost: a\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path} HTTP/1.0\r\nConnection: close\r\n\r\n`,
    () => `${route.method} http://evil.test${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    () => `OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\nX-Bad: a\u0000b\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\nBad Header: x\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\n${auth} folded\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer a\rb\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\n${auth}${type}Content-Length: ${body.length}\r\nContent-Length: ${body.length + 1}\r\nConnection: close\r\n\r\n${body}`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\n${auth}${type}Content-Length: -1\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\n${auth}${type}Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\n${auth}${type}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n${body}\r\n0\r\n\r\n`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\n${auth}${type}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\n${auth}${type}Transfer-Encoding: gzip\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\n${auth}Content-Encoding: gzip\r\n${type}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\n${auth}Expect: 100-continue\r\n${type}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\n${auth}Expect: teapot\r\n${type}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    () => `${route.method} ${path} HTTP/1.1\r\n${auth}${type}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    () => `CONNECT ${r.pick([path, "evil.test:443", "*"])} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    () => `${route.method} ${path} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\r\n`,
    () => `${route.method} ${path}\nHost: a\nConnection: close\n\n`,
  ]
  return { kind: "raw", method: route.method, target: path, headers: [], raw: Buffer.from(r.pick(lines)(), "latin1") }
}

// ---------------------------------------------------------------------------------------------------------
// The tests: one per route, in the order GET / lists them

const routes: Route[] = await (async () => {
  // The listing is read from a server of its own, so that the tests can be declared before `before` runs.
  const lister = await testServer(ENV)
  try {
    const listing = (await (await fetch(`${lister.url}/`)).json()) as { endpoints: { method: string; path: string }[] }
    const document = (await (await fetch(`${lister.url}/docs/json`)).json()) as { paths: Record<string, Record<string, unknown>> }
    return routesOf(listing.endpoints, document)
  } finally {
    await lister.close()
  }
})()

const counts = new Map<string, number>()

describe(`fuzz: ${PER_ROUTE} malformed requests to each of the ${routes.length} routes GET / lists (seed ${SEED})`, () => {
  test("GET / lists the console's assets and every route of the API", () => {
    const listed = new Set(routes.map((route) => `${route.method} ${route.path}`))
    for (const expected of ["GET /", "GET /assets/*", "GET /docs", "GET /metrics", "POST /oauth/token", "DELETE /admin/keys/{kid}"]) assert.ok(listed.has(expected), expected)
  })

  for (const route of routes) {
    test(`${route.method} ${route.path}: no 5xx, every error a JSON code, the server still up`, async (t) => {
      const r = rng(SEED ^ hash(`${route.method} ${route.path}`))
      const failures: string[] = []
      const statuses = new Map<number, number>()
      let p = await pools(r)
      for (let i = 0; i < PER_ROUTE; i++) {
        const kind = KINDS[i % KINDS.length] as Kind
        if (i % 60 === 59) p = await pools(r)
        const probe = await probeFor(route, kind, r, p)
        let answer: Answer
        try {
          answer = await send(port, probe)
        } catch (error) {
          failures.push(`#${i} ${kind}: no answer (${(error as Error).message}) to ${describeProbe(probe)}`)
          continue
        }
        const status = `${kind} ${answer.status}`
        counts.set(status, (counts.get(status) ?? 0) + 1)
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
        const wrong = problem(probe, answer)
        if (wrong !== null) failures.push(`#${i} ${kind}: ${wrong} for ${describeProbe(probe)} → ${JSON.stringify(answer.text.slice(0, 300))}`)
      }
      t.diagnostic([...statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status}: ${count}`).join(", "))
      const health = await send(port, { kind: "method", method: "GET", target: "/healthz", headers: [] })
      if (health.status !== 200) failures.push(`GET /healthz answered ${health.status} afterwards`)
      const logged = errorLogs.splice(0)
      if (logged.length > 0) failures.push(`errors logged: ${logged.map((line) => line.slice(0, 400)).join("\n")}`)
      assert.deepEqual(failures, [], `seed ${SEED} (REVOCABLE_FUZZ_SEED=${SEED} to replay), ${route.method} ${route.path}:\n${failures.slice(0, 15).join("\n")}`)
    })
  }

  test("the answers, by kind of input and status", (t) => {
    const lines = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([status, count]) => `${status}: ${count}`)
    t.diagnostic(lines.join(", "))
    assert.ok(counts.size > 0)
  })
})
