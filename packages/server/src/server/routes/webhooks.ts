// The admin API's webhooks, registered under /admin/webhooks for the role `admin`: the endpoints (each with a
// signing secret shown once; registering and removing one is recorded in the audit log) and each endpoint's
// deliveries with their last status.
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox"
import type { FastifyRequest } from "fastify"
import { Type } from "typebox"
import { requireClaims } from "revocable/fastify"
import { AUDIT_TYPES } from "../audit.ts"
import { BEARER } from "../docs.ts"
import * as schemas from "../schemas.ts"
import { claimsOf, type Services } from "../services.ts"
import { actorName } from "../user-directory.ts"
import { denied, deniedOrMissing } from "./admin.ts"
import { endpointEvent, type WebhookDelivery, type WebhookEndpoint } from "../webhooks/index.ts"

const EventType = Type.Enum([...AUDIT_TYPES], { type: "string" })
const nullable = <T extends "string" | "integer">(type: T, description: string) => Type.Unsafe<T extends "string" ? string | null : number | null>({ type: [type, "null"], description })

const Endpoint = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(EventType, { description: "The audit event types sent to it." }),
  created_at: Type.String({ format: "date-time" }),
})
const CreatedEndpoint = Type.Object({
  ...Endpoint.properties,
  secret: Type.String({ description: "whsec_<base64>: the key of the endpoint's signatures (Standard Webhooks). Shown here only." }),
})
const EndpointBody = Type.Object({
  url: Type.String({ minLength: 1, maxLength: 2048, description: "https:// (http:// only with REVOCABLE_WEBHOOKS_ALLOW_HTTP); a public address unless REVOCABLE_WEBHOOKS_ALLOW_PRIVATE." }),
  events: Type.Array(EventType, { minItems: 1, maxItems: AUDIT_TYPES.length * 2, description: "The audit event types to send (docs/server.md lists them)." }),
})
const Delivery = Type.Object({
  id: Type.String({ description: "The webhook-id header: the same on every attempt." }),
  event_id: Type.String({ description: "The audit event's id." }),
  event_type: EventType,
  status: Type.Enum(["pending", "delivered", "failed"], { type: "string", description: "pending: waiting for its next attempt; failed: every retry failed." }),
  attempts: Type.Integer(),
  created_at: Type.String({ format: "date-time" }),
  last_attempt_at: nullable("string", "When it was last sent."),
  last_status: nullable("integer", "The HTTP status of the last answer; null when there was none."),
  last_error: nullable("string", "Why the last attempt got no answer (refused, timed out)."),
  next_attempt_at: nullable("string", "When the next attempt is due, while pending."),
})
const DeliveryPage = Type.Object({ items: Type.Array(Delivery), next: nullable("string", "The cursor of the next page.") })
const Params = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })

const tagged = { tags: ["admin"], security: BEARER, description: "Requires the role `admin`." }

function endpointView(endpoint: WebhookEndpoint) {
  return { id: endpoint.id, url: endpoint.url, events: endpoint.events, created_at: schemas.iso(endpoint.createdAt) }
}

export function deliveryView(delivery: WebhookDelivery) {
  const time = (ms: number | null) => (ms === null ? null : schemas.iso(ms))
  return {
    id: delivery.id,
    event_id: delivery.eventId,
    event_type: delivery.eventType as (typeof AUDIT_TYPES)[number],
    status: delivery.status,
    attempts: delivery.attempts,
    created_at: schemas.iso(delivery.createdAt),
    last_attempt_at: time(delivery.lastAttemptAt),
    last_status: delivery.lastStatus,
    last_error: delivery.lastError,
    next_attempt_at: time(delivery.nextAttemptAt),
  }
}

export const webhookRoutes: FastifyPluginAsyncTypebox<Pick<Services, "webhooks" | "bearer" | "audit" | "users">> = async (app, { webhooks, bearer, audit, users }) => {
  app.addHook("onRequest", bearer)
  app.addHook("onRequest", requireClaims({ roles: "admin" }))
  const notFound = { error: "not_found", error_description: "No webhook endpoint has that id." }

  /** The admin as the audit log names them, read before the change it records. */
  const actor = (request: FastifyRequest) => actorName(users, claimsOf(request).sub)

  app.get("/", {
    prefixTrailingSlash: "no-slash",
    schema: { ...tagged, summary: "The webhook endpoints and the event types each receives (never their secrets).", response: { 200: Type.Array(Endpoint), ...denied } },
    async handler() {
      return (await webhooks.endpoints.list()).map(endpointView)
    },
  })

  app.post("/", {
    prefixTrailingSlash: "no-slash",
    schema: { ...tagged, summary: "Register a webhook endpoint; its signing secret is in this answer only.", body: EndpointBody, response: { 201: CreatedEndpoint, ...denied } },
    async handler(request, reply) {
      const by = await actor(request)
      const { endpoint, secret } = await webhooks.endpoints.create(request.body.url, request.body.events)
      await audit.record(endpointEvent("webhook.created", endpoint, by))
      return reply.code(201).send({ ...endpointView(endpoint), secret })
    },
  })

  app.delete("/:id", {
    schema: { ...tagged, summary: "Remove a webhook endpoint, its pending deliveries and their history.", params: Params, response: { 204: schemas.Empty, ...deniedOrMissing } },
    async handler(request, reply) {
      const by = await actor(request)
      const removed = await webhooks.endpoints.remove(request.params.id)
      if (removed === null) return reply.code(404).send(notFound)
      await audit.record(endpointEvent("webhook.deleted", removed, by))
      return reply.code(204).send()
    },
  })

  app.get("/:id/deliveries", {
    schema: {
      ...tagged,
      summary: "An endpoint's deliveries, newest first, each with its status, attempts and last answer.",
      params: Params,
      querystring: Type.Object({ ...schemas.Paging.properties }),
      response: { 200: DeliveryPage, ...deniedOrMissing },
    },
    async handler(request, reply) {
      if ((await webhooks.endpoints.find(request.params.id)) === null) return reply.code(404).send(notFound)
      const page = await webhooks.endpoints.deliveries(request.params.id, { cursor: request.query.cursor ?? null, limit: request.query.limit ?? 50 })
      return { items: page.items.map(deliveryView), next: page.next }
    },
  })
}
