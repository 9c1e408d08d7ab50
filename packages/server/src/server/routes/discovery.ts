// Discovery, registered under /.well-known: the authorization server metadata (RFC 8414) and the public keys.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import { Type } from "typebox"
import { SERVER_SCOPES } from "../scopes.ts"
import type { Services } from "../services.ts"

/**
 * Seconds a cache may keep the JWKS: at most half the lead time of a rotated key (so that a copy fetched just
 * before the key was published expires with half the lead time left, for the verifier's own refetch rule, such as
 * jose's 30 s cooldown), and at most a minute (so that a retired key leaves caches soon).
 */
export function jwksMaxAge(keyActivationDelayMs: number): number {
  return Math.min(60, Math.floor(keyActivationDelayMs / 2000))
}

/** A JSON object passed through as it is. */
const Document = Type.Object({}, { additionalProperties: true })

export const discoveryRoutes: FastifyPluginAsyncTypebox<Pick<Services, "auth" | "config">> = async (app, { auth, config }) => {
  const tags = ["oauth"]

  app.get("/oauth-authorization-server", {
    schema: { summary: "Authorization server metadata (RFC 8414).", tags, response: { 200: Document } },
    async handler(_request, reply) {
      const base = config.issuer
      reply.header("cache-control", "public, max-age=300")
      return {
        issuer: base,
        token_endpoint: `${base}/oauth/token`,
        revocation_endpoint: `${base}/oauth/revoke`,
        introspection_endpoint: `${base}/oauth/introspect`,
        // The revocation feed (scope revocations:read): its poll and its Server-Sent Events stream.
        revocations_endpoint: `${base}/revocations`,
        revocations_stream_endpoint: `${base}/revocations/stream`,
        jwks_uri: `${base}/.well-known/jwks.json`,
        grant_types_supported: ["password", "client_credentials", "refresh_token"],
        scopes_supported: SERVER_SCOPES,
        response_types_supported: [],
        token_endpoint_auth_methods_supported: ["none", "client_secret_basic", "client_secret_post"],
        revocation_endpoint_auth_methods_supported: ["none", "client_secret_basic", "client_secret_post"],
        introspection_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
        service_documentation: `${base}/docs`,
      }
    },
  })

  app.get("/jwks.json", {
    schema: { summary: "The public keys that sign the tokens (JWKS); retired keys are gone from it.", tags, response: { 200: Document } },
    async handler(_request, reply) {
      reply.header("cache-control", `public, max-age=${jwksMaxAge(config.keyActivationDelayMs)}`)
      return auth.jwks()
    },
  })
}
