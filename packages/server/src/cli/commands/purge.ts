// `revocable purge`: deletes what has expired, for SQL stores run without the server's purge timer.
import { command } from "../args.ts"
import { json } from "./context.ts"

export const purge = command({
  name: "purge",
  summary: "Delete expired revocations, sessions and rate-limit windows, and audit events and webhook deliveries past their retention, from the store.",
  options: { json: { type: "boolean", help: "print {removed} as JSON" } },
  description:
    "Running servers purge on a timer; this does the same once, for cron. Nothing still in force is touched: a webhook delivery still pending stays, however old.",
  async run({ values }, context) {
    const { store, config, webhooks } = await context.runtime()
    const now = Date.now()
    const removed = (await store.purge(now)) + (await store.purgeAudit(now - config.auditRetentionMs)) + (await webhooks.purge(now))
    context.out(values.json ? json({ removed }) : `removed ${removed} expired ${removed === 1 ? "entry" : "entries"}`)
  },
})
