// `revocable webhooks add|list|remove|deliveries`: the endpoints that receive audit events, and what was sent to
// each. The running servers deliver; these commands change and read what the store holds. Adding and removing an
// endpoint are recorded in the audit log, as from the admin API.
import { AUDIT_TYPES } from "../../server/audit.ts"
import { deliveryView } from "../../server/routes/webhooks.ts"
import { endpointEvent } from "../../server/webhooks/index.ts"
import { command, integer, type Group } from "../args.ts"
import { CliError, json, printable, table, time } from "./context.ts"

const MAX_LIMIT = 1000

const add = command({
  name: "webhooks add",
  summary: "Register an endpoint for some event types; its signing secret is printed once.",
  args: ["URL"],
  options: {
    event: { type: "string", multiple: true, value: "TYPES", help: `an event type to send (repeatable, or comma-separated): ${AUDIT_TYPES.join(", ")}` },
    json: { type: "boolean", help: "print {id, url, events, secret} as JSON" },
  },
  description:
    "The URL must be https:// and reach a public address, unless REVOCABLE_WEBHOOKS_ALLOW_HTTP or REVOCABLE_WEBHOOKS_ALLOW_PRIVATE say otherwise. Deliveries are signed as Standard Webhooks say, with the secret printed here.",
  examples: ["revocable webhooks add https://hooks.example/revocable --event session.revoked --event subject.revoked"],
  async run({ values, positionals }, context) {
    const events = (values.event ?? []).flatMap((value) => value.split(/[\s,]+/)).filter((type) => type !== "")
    if (events.length === 0) throw new CliError("give at least one --event TYPE")
    const { webhooks, audit } = await context.runtime()
    const { endpoint, secret } = await webhooks.endpoints.create(positionals[0] ?? "", events)
    await audit.record(endpointEvent("webhook.created", endpoint, context.actor))
    if (values.json) return context.out(json({ id: endpoint.id, url: endpoint.url, events: endpoint.events, secret }))
    context.out(`id      ${endpoint.id}\nsecret  ${secret}`)
    context.note("The secret is shown only this once: give it to the receiver, which checks each delivery's signature with it.")
  },
})

const list = command({
  name: "webhooks list",
  summary: "List the endpoints and the event types each receives.",
  options: { json: { type: "boolean", help: "print the endpoints as JSON" } },
  async run({ values }, context) {
    const endpoints = await (await context.runtime()).webhooks.endpoints.list()
    if (values.json) return context.out(json(endpoints))
    context.out(endpoints.length === 0 ? "no webhooks" : table(["ID", "CREATED", "URL", "EVENTS"], endpoints.map((entry) => [entry.id, time(entry.createdAt), entry.url, entry.events.join(",")])))
  },
})

const remove = command({
  name: "webhooks remove",
  summary: "Remove an endpoint, its pending deliveries and their history.",
  args: ["ID"],
  options: {},
  async run({ positionals }, context) {
    const id = positionals[0] ?? ""
    const { webhooks, audit } = await context.runtime()
    const removed = await webhooks.endpoints.remove(id)
    if (removed === null) throw new CliError(printable(`no webhook ${id}`))
    await audit.record(endpointEvent("webhook.deleted", removed, context.actor))
    context.out(printable(`removed webhook ${id}`))
  },
})

const deliveries = command({
  name: "webhooks deliveries",
  summary: "An endpoint's deliveries, newest first, with their status, attempts and last answer.",
  args: ["ID"],
  options: {
    limit: { type: "string", value: "N", help: `at most N, 1 to ${MAX_LIMIT} (default 50)` },
    cursor: { type: "string", value: "CURSOR", help: "the page after the one that printed this cursor" },
    json: { type: "boolean", help: "print {items, next} as JSON (times in ISO 8601)" },
  },
  async run({ values, positionals }, context) {
    const id = positionals[0] ?? ""
    const limit = integer(values.limit, "limit", 1, MAX_LIMIT, "webhooks deliveries") ?? 50
    const { endpoints } = (await context.runtime()).webhooks
    if ((await endpoints.find(id)) === null) throw new CliError(printable(`no webhook ${id}`))
    const page = await endpoints.deliveries(id, { cursor: values.cursor ?? null, limit })
    if (values.json) return context.out(json({ items: page.items.map(deliveryView), next: page.next }))
    context.out(
      page.items.length === 0
        ? "no deliveries"
        : table(
            ["ID", "CREATED", "EVENT", "STATUS", "ATTEMPTS", "LAST STATUS", "LAST ERROR", "NEXT ATTEMPT"],
            page.items.map((entry) => [entry.id, time(entry.createdAt), entry.eventType, entry.status, String(entry.attempts), entry.lastStatus === null ? null : String(entry.lastStatus), entry.lastError, time(entry.nextAttemptAt)]),
          ),
    )
    if (page.next !== null) context.out(printable(`more: revocable webhooks deliveries ${id} --cursor ${page.next}`))
  },
})

export const webhooks: Group = {
  name: "webhooks",
  summary: "Manage the webhook endpoints that receive audit events, and see their deliveries.",
  commands: [add, list, remove, deliveries],
}
