// One application, written three times: the same routes on Express, Fastify and Hono, so that the behaviour
// table in matrix.test.ts runs unchanged against each adapter.
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import express from "express"
import Fastify from "fastify"
import { Hono } from "hono"
import { serve } from "@hono/node-server"
import type { Auth } from "../../src/index.ts"
import type { CookieOptions } from "../../src/adapters/shared/index.ts"
import * as ex from "../../src/adapters/express.ts"
import * as fa from "../../src/adapters/fastify.ts"
import * as ho from "../../src/adapters/hono.ts"

export type AdapterName = "express" | "fastify" | "hono"
export const ADAPTERS: readonly AdapterName[] = ["express", "fastify", "hono"]

export interface Auths {
  /** The healthy instance every route uses. */
  auth: Auth
  /** Its store can be cut off. */
  flaky: Auth
  /** Closed: verify throws a plain Error, which must take the framework's own error path. */
  closed: Auth
}

export interface Running {
  base: string
  close(): Promise<void>
}

export const COOKIES: CookieOptions = { origins: ["https://app.example"], refreshPath: "/cookie" }
const COOKIE_ONLY = { cookie: COOKIES, header: false } as const

export function start(name: AdapterName, auths: Auths): Promise<Running> {
  switch (name) {
    case "express":
      return startExpress(auths)
    case "fastify":
      return startFastify(auths)
    case "hono":
      return startHono(auths)
  }
}

async function startExpress({ auth, flaky, closed }: Auths): Promise<Running> {
  const { authenticate, requireClaims, requireScope, authErrorHandler, setAuthCookies, clearAuthCookies, readToken } = ex
  const app = express()
  app.set("env", "test")
  app.get("/public", (_req, res) => void res.json({ ok: true }))
  app.get("/me", authenticate(auth), (req, res) => void res.json({ sub: req.auth?.sub, jti: req.auth?.jti }))
  app.get("/optional", authenticate(auth, { optional: true }), (req, res) => void res.json({ sub: req.auth?.sub ?? null }))
  app.get("/admin", authenticate(auth), requireClaims({ role: "admin" }), (req, res) => void res.json({ sub: req.auth?.sub }))
  app.get("/alice-only", authenticate(auth), requireClaims((claims) => claims.sub === "alice"), (_req, res) => void res.json({ ok: true }))
  app.get("/read", authenticate(auth), requireScope("read"), (_req, res) => void res.json({ ok: true }))
  app.get("/orders", authenticate(auth), requireScope("orders:write", "orders/write", "https://api.example/refunds"), (_req, res) => void res.json({ ok: true }))
  app.get("/query/me", authenticate(auth, { query: "access_token" }), (req, res) => void res.json({ sub: req.auth?.sub }))
  app.get("/header-off/me", authenticate(auth, COOKIE_ONLY), (req, res) => void res.json({ sub: req.auth?.sub }))
  app.get("/cookie/me", authenticate(auth, { cookie: COOKIES }), (req, res) => void res.json({ sub: req.auth?.sub }))
  app.post("/cookie/me", authenticate(auth, { cookie: COOKIES }), (req, res) => void res.json({ sub: req.auth?.sub }))
  app.post("/cookie/login", async (_req, res) => {
    const pair = await auth.issue("alice", { claims: { role: "reader" } })
    res.json({ csrf: setAuthCookies(res, pair, COOKIES) })
  })
  app.post("/cookie/refresh", async (req, res) => {
    const pair = await auth.refresh(readToken(req, { ...COOKIE_ONLY, type: "refresh" }))
    res.json({ csrf: setAuthCookies(res, pair, COOKIES) })
  })
  app.post("/cookie/logout", async (req, res) => {
    await auth.logout(readToken(req, COOKIE_ONLY))
    clearAuthCookies(res, COOKIES)
    res.json({ ok: true })
  })
  app.get("/flaky/me", authenticate(flaky), (req, res) => void res.json({ sub: req.auth?.sub }))
  app.get("/closed/me", authenticate(closed), (req, res) => void res.json({ sub: req.auth?.sub }))
  app.get("/boom", authenticate(auth), () => {
    throw new Error("boom")
  })
  app.get("/thrown", async (req, res) => {
    res.json(await auth.verify(req.headers["x-token"]))
  })
  app.use(authErrorHandler())
  const server = createServer(app).listen(0, "127.0.0.1")
  return listen(server, () => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
}

async function startFastify({ auth, flaky, closed }: Auths): Promise<Running> {
  const { authenticate, requireClaims, requireScope, authErrorHandler, setAuthCookies, clearAuthCookies, readToken } = fa
  const app = Fastify()
  app.setErrorHandler(authErrorHandler())
  app.get("/public", async () => ({ ok: true }))
  app.get("/me", { onRequest: authenticate(auth) }, async (request) => ({ sub: request.auth?.sub, jti: request.auth?.jti }))
  app.get("/optional", { onRequest: authenticate(auth, { optional: true }) }, async (request) => ({ sub: request.auth?.sub ?? null }))
  app.get("/admin", { onRequest: [authenticate(auth), requireClaims({ role: "admin" })] }, async (request) => ({ sub: request.auth?.sub }))
  app.get("/alice-only", { onRequest: [authenticate(auth), requireClaims((claims) => claims.sub === "alice")] }, async () => ({ ok: true }))
  app.get("/read", { preHandler: [authenticate(auth), requireScope("read")] }, async () => ({ ok: true }))
  app.get("/orders", { preHandler: [authenticate(auth), requireScope("orders:write", "orders/write", "https://api.example/refunds")] }, async () => ({ ok: true }))
  app.get("/query/me", { onRequest: authenticate(auth, { query: "access_token" }) }, async (request) => ({ sub: request.auth?.sub }))
  app.get("/header-off/me", { onRequest: authenticate(auth, COOKIE_ONLY) }, async (request) => ({ sub: request.auth?.sub }))
  app.register(async (scope) => {
    scope.addHook("onRequest", authenticate(auth, { cookie: COOKIES }))
    scope.get("/cookie/me", async (request) => ({ sub: request.auth?.sub }))
    scope.post("/cookie/me", async (request) => ({ sub: request.auth?.sub }))
  })
  app.post("/cookie/login", async (_request, reply) => {
    const pair = await auth.issue("alice", { claims: { role: "reader" } })
    return { csrf: setAuthCookies(reply, pair, COOKIES) }
  })
  app.post("/cookie/refresh", async (request, reply) => {
    const pair = await auth.refresh(readToken(request, { ...COOKIE_ONLY, type: "refresh" }))
    return { csrf: setAuthCookies(reply, pair, COOKIES) }
  })
  app.post("/cookie/logout", async (request, reply) => {
    await auth.logout(readToken(request, COOKIE_ONLY))
    clearAuthCookies(reply, COOKIES)
    return { ok: true }
  })
  app.get("/flaky/me", { onRequest: authenticate(flaky) }, async (request) => ({ sub: request.auth?.sub }))
  app.get("/closed/me", { onRequest: authenticate(closed) }, async (request) => ({ sub: request.auth?.sub }))
  app.get("/boom", { onRequest: authenticate(auth) }, async () => {
    throw new Error("boom")
  })
  app.get("/thrown", async (request) => auth.verify(request.headers["x-token"]))
  await app.listen({ port: 0, host: "127.0.0.1" })
  return { base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() }
}

async function startHono({ auth, flaky, closed }: Auths): Promise<Running> {
  const { authenticate, requireClaims, requireScope, authErrorHandler, setAuthCookies, clearAuthCookies, readToken } = ho
  const app = new Hono()
  app.onError(authErrorHandler())
  app.get("/public", (c) => c.json({ ok: true }))
  app.get("/me", authenticate(auth), (c) => c.json({ sub: c.get("auth")?.sub, jti: c.get("auth")?.jti }))
  app.get("/optional", authenticate(auth, { optional: true }), (c) => c.json({ sub: c.get("auth")?.sub ?? null }))
  app.get("/admin", authenticate(auth), requireClaims({ role: "admin" }), (c) => c.json({ sub: c.get("auth")?.sub }))
  app.get("/alice-only", authenticate(auth), requireClaims((claims) => claims.sub === "alice"), (c) => c.json({ ok: true }))
  app.get("/read", authenticate(auth), requireScope("read"), (c) => c.json({ ok: true }))
  app.get("/orders", authenticate(auth), requireScope("orders:write", "orders/write", "https://api.example/refunds"), (c) => c.json({ ok: true }))
  app.get("/query/me", authenticate(auth, { query: "access_token" }), (c) => c.json({ sub: c.get("auth")?.sub }))
  app.get("/header-off/me", authenticate(auth, COOKIE_ONLY), (c) => c.json({ sub: c.get("auth")?.sub }))
  app.use("/cookie/me", authenticate(auth, { cookie: COOKIES }))
  app.get("/cookie/me", (c) => c.json({ sub: c.get("auth")?.sub }))
  app.post("/cookie/me", (c) => c.json({ sub: c.get("auth")?.sub }))
  app.post("/cookie/login", async (c) => {
    const pair = await auth.issue("alice", { claims: { role: "reader" } })
    return c.json({ csrf: setAuthCookies(c, pair, COOKIES) })
  })
  app.post("/cookie/refresh", async (c) => {
    const pair = await auth.refresh(readToken(c, { ...COOKIE_ONLY, type: "refresh" }))
    return c.json({ csrf: setAuthCookies(c, pair, COOKIES) })
  })
  app.post("/cookie/logout", async (c) => {
    await auth.logout(readToken(c, COOKIE_ONLY))
    clearAuthCookies(c, COOKIES)
    return c.json({ ok: true })
  })
  app.get("/flaky/me", authenticate(flaky), (c) => c.json({ sub: c.get("auth")?.sub }))
  app.get("/closed/me", authenticate(closed), (c) => c.json({ sub: c.get("auth")?.sub }))
  app.get("/boom", authenticate(auth), () => {
    throw new Error("boom")
  })
  app.get("/thrown", async (c) => c.json(await auth.verify(c.req.header("x-token"))))
  const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }) as Server
  return listen(server, () => new Promise<void>((resolve) => server.close(() => resolve())))
}

async function listen(server: Server, close: () => Promise<void>): Promise<Running> {
  if (!server.listening) {
    await new Promise<void>((resolve, reject) => {
      server.once("listening", resolve)
      server.once("error", reject)
    })
  }
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close }
}
