// The store's lists: a subject's live sessions, and revocations page by page.
import { AuthError } from "../errors.ts"
import { checkId, checkKind, MAX_PAGE } from "./checks.ts"
import type { Context } from "./instance.ts"
import type { Page, Revocation, RevocationKind, Session } from "./store.ts"

export async function listSessions(ctx: Context, subject: string): Promise<Session[]> {
  checkId(subject, "subject")
  return ctx.lifecycle.run(() => ctx.events.fromStore(() => ctx.store.listSessions(subject, ctx.config.idleTimeoutMs)))
}

export async function listRevocations(
  ctx: Context,
  query: { subject?: string; kind?: RevocationKind; cursor?: string | null; limit?: number } = {},
): Promise<Page<Revocation>> {
  if (query.kind !== undefined) checkKind(query.kind)
  if (query.subject !== undefined) checkId(query.subject, "subject")
  const limit = query.limit ?? 50
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new AuthError("invalid_request", `limit must be an integer from 1 to ${MAX_PAGE}.`)
  }
  return ctx.lifecycle.run(() =>
    ctx.events.fromStore(() => ctx.store.listRevocations({ subject: query.subject, kind: query.kind, cursor: query.cursor, limit, now: ctx.clock() })),
  )
}
