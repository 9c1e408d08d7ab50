/**
 * The audit log: every security event is appended to the store (dated by the store's clock, kept
 * `REVOCABLE_AUDIT_RETENTION`) and written as one log line, `msg: "audit"` with the event's fields.
 *
 * Recording never fails or blocks a request: an event the store refuses is logged as an error and counted in
 * `revocable_store_errors_total`, and the request goes on. Events recorded while a request is handled carry its
 * IP and User-Agent, and as actor its signed-in subject unless one is given (see {@link Audit.hook}).
 *
 * Revocations are recorded where they are made, by {@link audited}: the instance's `revoked` event is delivered
 * on every instance by the change feed, and would record one revocation once per instance.
 *
 * @example
 * const audit = createAudit({ store, metrics, retentionMs, log: app.log })
 * const auth = audited(core, audit)
 * const stop = auditReuse(core, audit)
 * await audit.record({ type: "user.suspended", subject: sub, reason: "incident 42" })
 */
import { AsyncLocalStorage } from "node:async_hooks"
import type { FastifyRequest, onRequestHookHandler } from "fastify"
import { isAuthError, type Auth, type Revocation } from "revocable"
import type { AuditEvent, AuditQuery, Page, ServerStore } from "revocable/stores"
import { ServerError } from "./errors.ts"
import type { ServerMetrics } from "./metrics.ts"
import type { UserDirectory } from "./user-directory.ts"
import { SYSTEM_ACTOR } from "./actors.ts"

/** The event types, a closed list (docs/server.md describes each). */
export const AUDIT_TYPES = [
  "login.succeeded",
  "login.failed",
  "refresh.reused",
  "token.revoked",
  "session.revoked",
  "subject.revoked",
  "revocation.removed",
  "password.changed",
  "password.reset",
  "user.created",
  "user.deleted",
  "user.suspended",
  "user.unsuspended",
  "user.roles_changed",
  "key.rotated",
  "key.retired",
  "client.created",
  "client.deleted",
  "webhook.created",
  "webhook.deleted",
] as const

export type AuditType = (typeof AUDIT_TYPES)[number]

export interface AuditRecord {
  type: AuditType
  subject?: string | null | undefined
  actor?: string | null | undefined
  sessionId?: string | null | undefined
  ip?: string | null | undefined
  userAgent?: string | null | undefined
  reason?: string | null | undefined
  details?: Record<string, unknown> | undefined
}

export interface AuditLogger {
  info(fields: object, message: string): void
  error(fields: object, message: string): void
}

export interface Audit {
  /** Appends the event and logs it; never rejects. */
  record(event: AuditRecord): Promise<void>
  list(query: AuditQuery): Promise<Page<AuditEvent>>
  /**
   * Records a refused sign-in (`login.failed`, the error's code as reason) under the account the name belongs to,
   * if any. A store failure is not recorded: the store could not keep it either.
   */
  recordSignInFailure(users: Pick<UserDirectory, "findByUsername">, username: string, error: unknown, method?: string): Promise<void>
  /** Deletes the events older than the retention: what the periodic purge runs. */
  purge(now: number): Promise<number>
  /** An onRequest hook: events recorded while the request is handled carry its IP, User-Agent and subject. */
  hook: onRequestHookHandler
  /** Keeps a record made from a listener (which cannot await it) until it is done, for {@link settled}. */
  track(recording: Promise<void>): void
  /** Waits for the records handed to {@link track}. */
  settled(): Promise<void>
  /** Runs the purge every `intervalMs` (null: never; `revocable purge` does it). */
  start(intervalMs: number | null): void
  stop(): void
}

export interface AuditOptions {
  store: ServerStore
  metrics: Pick<ServerMetrics, "storeError">
  retentionMs: number
  /** Where the lines go; a function so that it can be the app's logger, made after the audit. */
  log: () => AuditLogger
  clock?: () => number
  /** Called with each event the store kept, before record resolves (webhooks/ enqueues its deliveries); must not reject. */
  onRecorded?: (event: AuditEvent) => Promise<void>
}

/** A User-Agent is kept to this many characters. */
const MAX_USER_AGENT = 256

const requests = new AsyncLocalStorage<FastifyRequest>()

export function createAudit(options: AuditOptions): Audit {
  const { store, metrics, retentionMs, log } = options
  const clock = options.clock ?? Date.now
  const pending = new Set<Promise<void>>()
  let timer: NodeJS.Timeout | undefined

  async function record(event: AuditRecord): Promise<void> {
    const request = requests.getStore()
    const userAgent = event.userAgent ?? request?.headers["user-agent"] ?? null
    const input = {
      type: event.type,
      subject: event.subject ?? null,
      actor: event.actor ?? request?.auth?.sub ?? null,
      sessionId: event.sessionId ?? null,
      ip: event.ip ?? request?.ip ?? null,
      userAgent: userAgent === null ? null : userAgent.slice(0, MAX_USER_AGENT),
      reason: event.reason ?? null,
      details: event.details === undefined ? null : JSON.stringify(event.details),
    }
    log().info({ ...input, details: event.details ?? null }, "audit")
    let stored: AuditEvent
    try {
      stored = await store.appendAudit(input)
    } catch (error) {
      metrics.storeError()
      log().error({ err: error, type: event.type }, "audit event not stored")
      return
    }
    await options.onRecorded?.(stored)
  }

  async function purge(now: number): Promise<number> {
    return store.purgeAudit(now - retentionMs)
  }

  return {
    record,
    async recordSignInFailure(users, username, error, method = "password") {
      const code = error instanceof ServerError || isAuthError(error) ? error.code : null
      if (code === null || code === "store_unavailable") return
      // Looked up for a wrong password and an unknown name alike, so that both still take the same time.
      const user = await users.findByUsername(username).catch(() => null)
      await record({ type: "login.failed", subject: user?.sub ?? null, reason: code, details: { method, username } })
    },
    list: (query) => store.listAudit(query),
    purge,
    hook(request, _reply, done) {
      requests.run(request, done)
    },
    track(recording) {
      pending.add(recording)
      void recording.finally(() => pending.delete(recording))
    },
    async settled() {
      await Promise.all(pending)
    },
    start(intervalMs) {
      if (intervalMs === null) return
      timer = setInterval(() => {
        purge(clock()).catch((error: unknown) => {
          metrics.storeError()
          log().error({ err: error }, "audit purge failed")
        })
      }, intervalMs)
      // A purge is never a reason to keep the process alive.
      timer.unref()
    },
    stop() {
      clearInterval(timer)
    },
  }
}

const REVOCATION_TYPES = { token: "token.revoked", session: "session.revoked", subject: "subject.revoked", key: "key.retired" } as const

function revocationEvent(revocation: Revocation): AuditRecord {
  return {
    type: REVOCATION_TYPES[revocation.kind],
    subject: revocation.subject ?? (revocation.kind === "subject" ? revocation.id : null),
    actor: revocation.actor,
    sessionId: revocation.kind === "session" ? revocation.id : null,
    reason: revocation.reason,
    details: { kind: revocation.kind, id: revocation.id },
  }
}

/**
 * Records each refresh reuse that `auth` detects (the instance that detected it emits it, during the refresh;
 * the store revoked the session itself). Returns the function that stops it.
 */
export function auditReuse(auth: Auth, audit: Audit): () => void {
  return auth.on("reuse-detected", ({ sessionId, subject }) => {
    audit.track(audit.record({ type: "refresh.reused", subject, sessionId, actor: SYSTEM_ACTOR, reason: "refresh token reused", details: { revoked_session: sessionId } }))
  })
}

/**
 * The core with its revocations, key changes and detected refresh reuse recorded in the audit log, whichever
 * route, directory or command made them.
 */
export function audited(auth: Auth, audit: Audit): Auth {
  const recorded = async (revocation: Revocation) => {
    await audit.record(revocationEvent(revocation))
    return revocation
  }
  return {
    ...auth,
    async refresh(token) {
      try {
        return await auth.refresh(token)
      } catch (error) {
        // The refresh's answer waits for the event, so that what a client saw is in the log.
        if (isAuthError(error) && error.code === "refresh_token_reused") await audit.settled()
        throw error
      }
    },
    async revoke(token, meta) {
      const revocation = await auth.revoke(token, meta)
      return revocation === null ? null : recorded(revocation)
    },
    logout: async (token, options) => recorded(await auth.logout(token, options)),
    revokeToken: async (jti, meta) => recorded(await auth.revokeToken(jti, meta)),
    revokeSession: async (sid, meta) => recorded(await auth.revokeSession(sid, meta)),
    revokeSubject: async (subject, meta) => recorded(await auth.revokeSubject(subject, meta)),
    retireKey: async (kid, meta) => recorded(await auth.retireKey(kid, meta)),
    async unrevoke(kind, id) {
      const existed = await auth.unrevoke(kind, id)
      if (existed) {
        await audit.record({ type: "revocation.removed", subject: kind === "subject" ? id : null, sessionId: kind === "session" ? id : null, details: { kind, id } })
      }
      return existed
    },
    async rotateKey(keyOrOptions) {
      const rotated = await auth.rotateKey(keyOrOptions)
      await audit.record({ type: "key.rotated", details: { kid: rotated.kid, activates_at: rotated.activatesAt } })
      return rotated
    },
  }
}
