// The two routes of a sign-in on Express (or any node:http handler), Fastify and Hono: each only carries the
// request's URL and Cookie header to answers.ts and writes back what it answers.
import type { IncomingMessage, ServerResponse } from "node:http"
import { callbackAnswer, checkedMount, startAnswer, type MountOptions, type OidcAnswer } from "./answers.ts"
import type { OidcLogin, OidcRequest } from "./login.ts"

type Answerer = (login: OidcLogin, request: OidcRequest, options: MountOptions) => Promise<OidcAnswer>

export interface OidcRoutes<Handler> {
  /** GET: redirects to the provider. `?return_to=/a/path` picks where the browser lands afterwards. */
  start: Handler
  /** GET, at the path of `redirectUri`: signs the user in and redirects to where it lands. */
  callback: Handler
}

export type ExpressHandler = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void

/**
 * @example
 * const google = expressOidc(oidcLogin({ ... }))
 * app.get("/auth/oidc/google", google.start)
 * app.get("/auth/oidc/google/callback", google.callback)
 */
export function expressOidc(login: OidcLogin, options: MountOptions = {}): OidcRoutes<ExpressHandler> {
  checkedMount(login, options)
  const route =
    (answer: Answerer): ExpressHandler =>
    (req, res, next) => {
      answer(login, { url: req.url ?? "/", cookie: req.headers.cookie }, options).then((answered) => {
        res.statusCode = answered.status
        for (const [name, values] of grouped(answered)) res.setHeader(name, values.length === 1 ? (values[0] as string) : values)
        res.end(answered.body ?? undefined)
      }, next)
    }
  return { start: route(startAnswer), callback: route(callbackAnswer) }
}

/** What the Fastify routes use of a reply. */
export interface FastifyReplyLike {
  code(statusCode: number): unknown
  header(name: string, value: string | string[]): unknown
  send(payload?: string): unknown
}
export type FastifyHandler = (request: { url: string; headers: { cookie?: string | undefined } }, reply: FastifyReplyLike) => Promise<unknown>

/**
 * @example
 * const google = fastifyOidc(oidcLogin({ ... }))
 * app.get("/auth/oidc/google", google.start)
 * app.get("/auth/oidc/google/callback", google.callback)
 */
export function fastifyOidc(login: OidcLogin, options: MountOptions = {}): OidcRoutes<FastifyHandler> {
  checkedMount(login, options)
  const route =
    (answer: Answerer): FastifyHandler =>
    async (request, reply) => {
      const answered = await answer(login, { url: request.url, cookie: request.headers.cookie }, options)
      reply.code(answered.status)
      for (const [name, values] of grouped(answered)) reply.header(name, values.length === 1 ? (values[0] as string) : values)
      return reply.send(answered.body ?? undefined)
    }
  return { start: route(startAnswer), callback: route(callbackAnswer) }
}

export type HonoHandler = (c: { req: { raw: Request } }) => Promise<Response>

/**
 * @example
 * const google = honoOidc(oidcLogin({ ... }))
 * app.get("/auth/oidc/google", google.start)
 * app.get("/auth/oidc/google/callback", google.callback)
 */
export function honoOidc(login: OidcLogin, options: MountOptions = {}): OidcRoutes<HonoHandler> {
  checkedMount(login, options)
  const route =
    (answer: Answerer): HonoHandler =>
    async (c) => {
      const answered = await answer(login, { url: c.req.raw.url, cookie: c.req.raw.headers.get("cookie") }, options)
      return new Response(answered.body, { status: answered.status, headers: answered.headers })
    }
  return { start: route(startAnswer), callback: route(callbackAnswer) }
}

function grouped(answer: OidcAnswer): Map<string, string[]> {
  const headers = new Map<string, string[]>()
  for (const [name, value] of answer.headers) headers.set(name, [...(headers.get(name) ?? []), value])
  return headers
}
