// `revocable audit`: the audit log, newest first, a page at a time.
import { parseDuration } from "revocable"
import { AUDIT_TYPES, type AuditType } from "../../server/audit.ts"
import { command, integer, UsageError } from "../args.ts"
import { json, printable, table, time } from "./context.ts"
import { subjectOf } from "./users.ts"

const MAX_LIMIT = 1000

export const audit = command({
  name: "audit",
  summary: "List security events, newest first: sign-ins, revocations, account, key and client changes.",
  options: {
    user: { type: "string", value: "USER", help: "only those about this user (a username or a subject)" },
    type: { type: "string", value: "TYPE", help: "only this type, e.g. login.failed (docs/server.md lists them)" },
    since: { type: "string", value: "AGE", help: "only those of the last AGE (30m, 1h, 7d) or since a time (ISO 8601)" },
    limit: { type: "string", value: "N", help: `at most N per page, 1 to ${MAX_LIMIT} (default 50)` },
    cursor: { type: "string", value: "CURSOR", help: "the page after the one that printed this cursor" },
    json: { type: "boolean", help: "print {items, next} as JSON (times in milliseconds since the epoch)" },
  },
  description: "Events are kept for REVOCABLE_AUDIT_RETENTION (default 90 days).",
  examples: ["revocable audit --user alice --since 1h", "revocable audit --type login.failed --json"],
  async run({ values }, context) {
    const type = values.type
    if (type !== undefined && !AUDIT_TYPES.includes(type as AuditType)) {
      throw new UsageError(`--type must be one of ${AUDIT_TYPES.join(", ")}`, "audit")
    }
    const limit = integer(values.limit, "limit", 1, MAX_LIMIT, "audit") ?? 50
    const since = values.since === undefined ? null : sinceOf(values.since)
    const { store } = await context.runtime()
    const subject = values.user === undefined ? null : (await subjectOf(context, values.user)).subject
    const page = await store.listAudit({ subject, type: type ?? null, since, cursor: values.cursor ?? null, limit })
    if (values.json) {
      return context.out(json({ ...page, items: page.items.map((event) => ({ ...event, details: event.details === null ? null : JSON.parse(event.details) })) }))
    }
    context.out(
      page.items.length === 0
        ? "no events"
        : table(
            ["AT", "TYPE", "SUBJECT", "ACTOR", "IP", "REASON", "DETAILS"],
            page.items.map((event) => [time(event.at), event.type, event.subject, event.actor, event.ip, event.reason, event.details]),
          ),
    )
    if (page.next !== null) {
      const filters = [values.user && `--user ${quote(values.user)}`, type && `--type ${type}`, values.since && `--since ${quote(values.since)}`, values.limit && `--limit ${limit}`]
      context.out(printable(`more: revocable audit ${[...filters.filter(Boolean), `--cursor ${page.next}`].join(" ")}`))
    }
  },
})

/** An age ("1h": since an hour ago) or a time. */
function sinceOf(value: string): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(Date.parse(value))) return Date.parse(value)
  try {
    return Date.now() - parseDuration(value, "since")
  } catch {
    throw new UsageError("--since must be an age such as 30m, 1h or 7d, or a time such as 2026-01-31T12:00:00Z", "audit")
  }
}

/** Quotes for a POSIX shell, when needed, so the "more:" line can be pasted as it is. */
function quote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`
}
