// GET /me, registered with the prefix /me: a protected example, what the access token says about its bearer.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import { listClaim } from "revocable/fastify"
import { BEARER } from "../docs.ts"
import * as schemas from "../schemas.ts"
import { claimsOf, type Services } from "../services.ts"
import { identityRoutes } from "./identities.ts"

export const meRoutes: FastifyPluginAsyncTypebox<Pick<Services, "users" | "store" | "bearer">> = async (app, { users, store, bearer }) => {
  await app.register(identityRoutes, { prefix: "/identities", users, store, bearer })

  app.get("/", {
    // The prefix alone: /me, not /me/.
    prefixTrailingSlash: "no-slash",
    onRequest: bearer,
    schema: {
      summary: "A protected example: who the access token says you are.",
      tags: ["auth"],
      security: BEARER,
      response: { 200: schemas.Me, ...schemas.errors(400, 401, 503) },
    },
    async handler(request) {
      const claims = claimsOf(request)
      const user = await users.get(claims.sub)
      return {
        sub: claims.sub,
        username: user?.username ?? null,
        email: user?.email ?? null,
        email_verified: user?.emailVerified ?? false,
        // The admin guard's rule: an array of strings, else no roles.
        roles: listClaim(claims, "roles") ?? [],
        session_id: claims.sid,
        jti: claims.jti,
        expires_at: schemas.iso(claims.exp * 1000),
      }
    },
  })
}
