// The admin API's OAuth clients, registered under /admin/clients for the role `admin`: listed with their type and
// scopes, registered (a confidential one's secret shown once) and removed.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import { Type } from "typebox"
import { AuthError } from "revocable"
import { requireClaims } from "revocable/fastify"
import * as schemas from "../schemas.ts"
import { claimsOf, type Services } from "../services.ts"
import { removeClient } from "../client-directory.ts"
import { actorName } from "../user-directory.ts"
import { denied, deniedOrMissing, guarded, Id, notFound } from "./admin.ts"

export type AdminClientRoutesOptions = Pick<Services, "auth" | "users" | "bearer" | "clients" | "audit">

const ClientBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100, description: "Printable ASCII." }),
  public: Type.Optional(Type.Boolean({ description: "A public client (an app that cannot keep a secret): no secret, no scopes." })),
  scopes: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 64, description: "Scopes it may ask for with the client_credentials grant (RFC 6749 §3.3 tokens), such as revocations:read." })),
})
const CreatedClient = Type.Object({ ...schemas.Client.properties, client_secret: Type.Optional(Type.String({ description: "A confidential client's secret: shown here only." })) })

export const adminClientRoutes: FastifyPluginAsyncTypebox<AdminClientRoutesOptions> = async (app, { auth, users, bearer, clients, audit }) => {
  app.addHook("onRequest", bearer)
  app.addHook("onRequest", requireClaims({ roles: "admin" }))
  const actor = (sub: string) => actorName(users, sub)

  app.get("/", {
    prefixTrailingSlash: "no-slash",
    schema: guarded({ summary: "The OAuth clients, with their type and scopes (never their secrets).", response: { 200: Type.Array(schemas.Client), ...denied } }),
    async handler() {
      return (await clients.list()).map(schemas.clientView)
    },
  })

  app.post("/", {
    prefixTrailingSlash: "no-slash",
    schema: guarded({ summary: "Register an OAuth client; a confidential one's secret is in this answer only.", body: ClientBody, response: { 201: CreatedClient, ...denied } }),
    async handler(request, reply) {
      const { name, scopes = [] } = request.body
      if (request.body.public === true) {
        if (scopes.length > 0) throw new AuthError("invalid_request", "A public client cannot use the client_credentials grant: it has no scopes.")
        const { client } = await clients.createPublic(name)
        await audit.record({ type: "client.created", actor: await actor(claimsOf(request).sub), details: { client_id: client.clientId, name, type: "public" } })
        return reply.code(201).send(schemas.clientView(client))
      }
      const { client, clientSecret } = await clients.create(name, { scopes })
      await audit.record({ type: "client.created", actor: await actor(claimsOf(request).sub), details: { client_id: client.clientId, name, type: "confidential", scopes } })
      return reply.code(201).send({ ...schemas.clientView(client), client_secret: clientSecret })
    },
  })

  app.delete("/:client_id", {
    schema: guarded({
      summary: "Remove a client: its credentials are refused, and the tokens it was issued for itself revoked.",
      params: Type.Object({ client_id: Id }),
      response: { 204: schemas.Empty, ...deniedOrMissing },
    }),
    async handler(request, reply) {
      const by = await actor(claimsOf(request).sub)
      if (!(await removeClient(clients, auth, request.params.client_id, by))) return notFound(reply, "client")
      await audit.record({ type: "client.deleted", actor: by, details: { client_id: request.params.client_id } })
      return reply.code(204).send()
    },
  })
}
