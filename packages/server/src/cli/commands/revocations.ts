// `revocable revocations`: the live revocations, newest first, a page at a time.
import { REVOCATION_KINDS, type RevocationKind } from "revocable/stores"
import { command, integer, UsageError } from "../args.ts"
import { json, printable, table, time } from "./context.ts"
import { subjectOf } from "./users.ts"

const MAX_LIMIT = 1000

export const revocations = command({
  name: "revocations",
  summary: "List live revocations, newest first.",
  options: {
    user: { type: "string", value: "USER", help: "only those of this user (a username or a subject)" },
    kind: { type: "string", value: "KIND", help: `only this kind: ${REVOCATION_KINDS.join(", ")}` },
    limit: { type: "string", value: "N", help: `at most N per page, 1 to ${MAX_LIMIT} (default 50)` },
    cursor: { type: "string", value: "CURSOR", help: "the page after the one that printed this cursor" },
    json: { type: "boolean", help: "print {items, next} as JSON (times in milliseconds since the epoch)" },
  },
  description: "Expired revocations are not listed: they have nothing left to refuse.",
  examples: ["revocable revocations --user alice", "revocable revocations --kind session --limit 20"],
  async run({ values }, context) {
    const kind = values.kind
    if (kind !== undefined && !REVOCATION_KINDS.includes(kind as RevocationKind)) {
      throw new UsageError(`--kind must be one of ${REVOCATION_KINDS.join(", ")}`, "revocations")
    }
    const limit = integer(values.limit, "limit", 1, MAX_LIMIT, "revocations")
    const { auth } = await context.runtime()
    const subject = values.user === undefined ? undefined : (await subjectOf(context, values.user)).subject
    const page = await auth.listRevocations({
      ...(subject === undefined ? {} : { subject }),
      ...(kind === undefined ? {} : { kind: kind as RevocationKind }),
      ...(values.cursor === undefined ? {} : { cursor: values.cursor }),
      ...(limit === undefined ? {} : { limit }),
    })
    if (values.json) return context.out(json(page))
    context.out(
      page.items.length === 0
        ? "no live revocations"
        : table(
            ["CREATED", "KIND", "ID", "SUBJECT", "EXPIRES", "ACTOR", "REASON"],
            page.items.map((item) => [time(item.createdAt), item.kind, item.id, item.subject, time(item.expiresAt), item.actor, item.reason]),
          ),
    )
    if (page.next !== null) {
      const filters = [values.user && `--user ${quote(values.user)}`, kind && `--kind ${kind}`, limit && `--limit ${limit}`].filter(Boolean)
      context.out(printable(`more: revocable revocations ${[...filters, `--cursor ${page.next}`].join(" ")}`))
    }
  },
})

/** Quotes for a POSIX shell, when needed, so the "more:" line can be pasted as it is. */
function quote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`
}
