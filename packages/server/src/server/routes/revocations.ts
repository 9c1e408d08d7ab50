// The revocation feed, registered under /revocations, for services that verify tokens without the store's
// credentials: a bearer token with the scope `revocations:read` (a client_credentials token) polls it. See feed.ts.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import type { FastifyReply, FastifyRequest } from "fastify"
import { Type } from "typebox"
import { AuthError } from "revocable"
import { BEARER } from "../docs.ts"
import { revocationFeed } from "../feed.ts"
import * as schemas from "../schemas.ts"
import { FEED_SCOPE } from "../scopes.ts"
import { claimsOf, type Services } from "../services.ts"

const Kind = schemas.Revocation.properties.kind
const Entry = {
  kind: Kind,
  id: Type.String({ description: "A jti, a sid, a sub or a kid, by kind." }),
  exp: Type.Integer({ description: "Seconds since the epoch: past it, nothing this revocation matches is still valid." }),
  cutoff: Type.Optional(Type.Integer({ description: "subject: a token whose gen claim is below it is revoked." })),
}
const FeedAnswer = Type.Object({
  type: Type.Enum(["snapshot", "changes"], { type: "string", description: "snapshot: replace what you hold; changes: apply these in order." }),
  cursor: Type.String({ description: "Pass it as since at the next poll; it is also the ETag." }),
  revocations: Type.Optional(Type.Array(Type.Object(Entry))),
  changes: Type.Optional(
    Type.Array(
      Type.Object({
        op: Type.Enum(["revoked", "unrevoked"], { type: "string" }),
        kind: Kind,
        id: Entry.id,
        exp: Type.Optional(Entry.exp),
        cutoff: Entry.cutoff,
      }),
    ),
  ),
})
const FeedQuery = Type.Object({ since: Type.Optional(Type.String({ maxLength: 64, description: "The cursor of your last answer." })) })

/** RFC 6750 §3.1: a valid token without the scope. */
async function requireFeedScope(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const scope = claimsOf(request).scope
  if (typeof scope === "string" && scope.split(" ").includes(FEED_SCOPE)) return
  await reply
    .code(403)
    .header("www-authenticate", `Bearer error="insufficient_scope", scope="${FEED_SCOPE}"`)
    .send({ error: "insufficient_scope", error_description: `This needs a token with the scope ${FEED_SCOPE}: the client_credentials grant of a client registered with it.` })
}

export const revocationRoutes: FastifyPluginAsyncTypebox<Pick<Services, "auth" | "store" | "bearer">> = async (app, { auth, store, bearer }) => {
  const feed = revocationFeed(auth, store)
  app.addHook("onClose", async () => feed.close())

  app.get("/", {
    prefixTrailingSlash: "no-slash",
    onRequest: [bearer, requireFeedScope],
    schema: {
      summary: "The live revocations, for verifiers without store credentials: a snapshot, then the changes since a cursor.",
      description: `Needs a bearer token with the scope ${FEED_SCOPE}. Without since (or with a cursor this instance no longer follows: another instance's, or too old) the answer is a snapshot of the live revocations; with it, the changes since. Drop each entry at its exp. ETag is the cursor: If-None-Match with it answers 304 while nothing changed. 503 while this instance's replica is not in sync with the store.`,
      tags: ["oauth"],
      security: BEARER,
      querystring: FeedQuery,
      response: { 200: FeedAnswer, 304: schemas.Empty, ...schemas.errors(400, 401, 403, 503) },
    },
    async handler(request, reply) {
      // A stale replica may miss revocations: a verifier must not take that for the whole truth.
      if (!auth.replicaStatus().fresh) throw new AuthError("store_unavailable", "The revocation replica is not in sync with the store: try again shortly.")
      const answer = await feed.read(request.query.since ?? null)
      const etag = `W/"${answer.cursor}"`
      reply.header("etag", etag).header("cache-control", "private, no-cache")
      if (matches(request.headers["if-none-match"], etag)) return reply.code(304).send()
      return answer
    },
  })
}

/** RFC 9110 §13.1.2: If-None-Match compares weakly, and may list several tags or be `*`. */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  const bare = etag.replace(/^W\//, "")
  return header.split(",").some((tag) => {
    const trimmed = tag.trim()
    return trimmed === "*" || trimmed.replace(/^W\//, "") === bare
  })
}
