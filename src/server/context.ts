// What every route module gets from buildServer.
import type { Auth } from "../core/auth.ts"
import type { AuthHook, CookieOptions } from "../adapters/fastify.ts"
import type { Store } from "../stores/contract.ts"
import type { ClientDirectory } from "./clients.ts"
import type { ServerConfig } from "./config.ts"
import type { ServerMetrics } from "./metrics.ts"
import type { ApiDocs } from "./openapi.ts"
import type { Limiter } from "./ratelimit.ts"
import type { UserDirectory } from "./users.ts"

export interface ServerContext {
  config: ServerConfig
  /** The core, its verify counted in the metrics. */
  auth: Auth
  store: Store
  users: UserDirectory
  clients: ClientDirectory
  metrics: ServerMetrics
  limits: { login: Limiter; register: Limiter; password: Limiter }
  /** Cookie mode's options, shared by the hooks and the cookie helpers. */
  cookies: CookieOptions
  /** onRequest hooks: a valid access token (header, or cookie with CSRF check); the same with the role admin. */
  bearer: AuthHook
  admin: AuthHook[]
  docs: ApiDocs
}
