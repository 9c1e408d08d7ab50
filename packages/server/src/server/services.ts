// What buildServer makes once and hands to the route plugins as their options; each plugin's options type
// picks the services it uses.
import type { FastifyRequest } from "fastify"
import { AuthError, type Auth, type Claims } from "revocable"
import type { AuthHook, CookieOptions } from "revocable/fastify"
import type { ServerStore } from "revocable/stores"
import type { Audit } from "./audit.ts"
import type { ClientDirectory } from "./client-directory.ts"
import type { ServerConfig } from "./config.ts"
import type { ServerMetrics } from "./metrics.ts"
import type { Limiter } from "./ratelimit.ts"
import type { UserDirectory } from "./user-directory.ts"
import type { Webhooks } from "./webhooks/index.ts"

export interface Services {
  config: ServerConfig
  /** The core, its verify counted in the metrics. */
  auth: Auth
  /** The store as the server's own code uses it, its failures counted in the metrics. */
  store: ServerStore
  users: UserDirectory
  clients: ClientDirectory
  metrics: ServerMetrics
  /** The audit log: record security events, list them. */
  audit: Audit
  /** Webhook endpoints and the outbox of their deliveries. */
  webhooks: Webhooks
  limits: { login: Limiter; register: Limiter; password: Limiter }
  /** Cookie mode's options, shared by the hooks and the cookie helpers. */
  cookies: CookieOptions
  /** An onRequest hook: a valid access token (header, or cookie with CSRF check) sets `request.auth`. */
  bearer: AuthHook
}

/** The claims that the scope's `bearer` hook set; a route reached without them is a wiring mistake, still a 401. */
export function claimsOf(request: FastifyRequest): Claims {
  if (request.auth === undefined) throw new AuthError("token_missing")
  return request.auth
}
