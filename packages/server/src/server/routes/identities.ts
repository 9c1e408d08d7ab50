// The signed-in user's external identities, registered under /me/identities (docs/oidc.md):
//   GET    /      the identities linked to this account, and whether it has a password
//   DELETE /:id   unlink one; refused (409 oidc_last_identity) when it is the last way to sign in
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import type { FastifyError } from "fastify"
import { Type } from "typebox"
import { BEARER } from "../docs.ts"
import { errorHandler } from "../failures.ts"
import { identityList } from "../oidc/identities.ts"
import { OidcError, sendOidcError } from "../oidc/oidc-error.ts"
import * as schemas from "../schemas.ts"
import { claimsOf, type Services } from "../services.ts"

export const identityRoutes: FastifyPluginAsyncTypebox<Pick<Services, "users" | "store" | "bearer">> = async (app, { users, store, bearer }) => {
  const identities = identityList(store, users)
  const tags = ["oidc"]
  app.addHook("onRequest", bearer)
  app.setErrorHandler((error, request, reply) => (error instanceof OidcError ? sendOidcError(reply, error) : errorHandler(error as FastifyError, request, reply)))

  app.get("/", {
    prefixTrailingSlash: "no-slash",
    schema: {
      summary: "The OpenID Connect identities linked to this account.",
      tags,
      security: BEARER,
      response: { 200: schemas.Identities, ...schemas.errors(400, 401, 503) },
    },
    async handler(request) {
      const sub = claimsOf(request).sub
      const user = await users.get(sub)
      return { passwordless: user?.passwordless === true, identities: (await identities.list(sub)).map(schemas.identityView) }
    },
  })

  app.delete("/:id", {
    schema: {
      summary: "Unlink one of this account's identities; refused when it is the last way to sign in.",
      description: "409 oidc_last_identity: the account has no password and no other identity; set a password (POST /auth/password) or link another identity first.",
      tags,
      security: BEARER,
      params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
      response: { 204: schemas.Empty, ...schemas.errors(400, 401, 404, 409, 503) },
    },
    async handler(request, reply) {
      if (!(await identities.unlink(claimsOf(request).sub, request.params.id))) {
        return reply.code(404).send({ error: "not_found", error_description: "No identity of yours has that id." })
      }
      return reply.code(204).send()
    },
  })
}
