// Prometheus metrics of one server process, on a registry of its own (never prom-client's global one).
// The replica's size, staleness and feed reconnects are read from the core when Prometheus scrapes.
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client"
import type { Auth } from "revocable"

export interface ServerMetrics {
  readonly registry: Registry
  /** One verify of an access token: "ok" or the AuthError code. */
  verified(outcome: string): void
  /** A refused login: "invalid_credentials", "suspended" or "rate_limited". */
  loginFailed(reason: string): void
  /** A failure of the store met by the server itself (users, clients, rate limits). */
  storeError(): void
  /** The revocation stream (GET /revocations/stream): its subscribers, the events sent, why streams ended. */
  stream: {
    opened(): void
    /** "client" (it left), "token" (its token expired or was revoked), "slow" (its backlog passed the bound), "closing". */
    closed(reason: string): void
    /** `count` subscribers were sent this event (one, unless a batch of changes went to several at once). */
    sent(event: string, count?: number): void
  }
  /** Webhook deliveries (webhooks/): what each attempt came to, and the outbox's backlog. */
  webhooks: {
    /** delivered: a 2xx; failed: another answer or none, retried later; gave_up: the last retry failed. */
    attempted(outcome: WebhookOutcome): void
    /** Where the backlog gauge reads the deliveries waiting in the outbox, when Prometheus scrapes. */
    backlog(read: () => Promise<number>): void
  }
  close(): void
}

export type WebhookOutcome = "delivered" | "failed" | "gave_up"

export function serverMetrics(auth: Auth): ServerMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const verifications = new Counter({
    name: "revocable_verifications_total",
    help: "Access tokens verified by this server, by outcome (ok or the error code).",
    labelNames: ["outcome"],
    registers: [registry],
  })
  const revocations = new Counter({
    name: "revocable_revocations_total",
    help: "Revocations applied to this process's replica, by grain.",
    labelNames: ["kind"],
    registers: [registry],
  })
  const unrevocations = new Counter({
    name: "revocable_unrevocations_total",
    help: "Revocations removed, by grain.",
    labelNames: ["kind"],
    registers: [registry],
  })
  const reuse = new Counter({
    name: "revocable_refresh_reuse_detected_total",
    help: "Replayed refresh tokens: each one revoked its session.",
    registers: [registry],
  })
  const storeErrors = new Counter({
    name: "revocable_store_errors_total",
    help: "Failed store operations, by who met them (core: tokens and revocations; server: users, clients, rate limits).",
    labelNames: ["source"],
    registers: [registry],
  })
  const failOpen = new Counter({
    name: "revocable_fail_open_total",
    help: "Verifies answered from a stale replica because the store failed and onStoreUnavailable is fail-open.",
    registers: [registry],
  })
  const loginFailures = new Counter({
    name: "revocable_login_failures_total",
    help: "Refused logins and password grants, by reason.",
    labelNames: ["reason"],
    registers: [registry],
  })

  const streamSubscribers = new Gauge({
    name: "revocable_stream_subscribers",
    help: "Subscribers of the revocation stream connected to this process.",
    registers: [registry],
  })
  const streamEvents = new Counter({
    name: "revocable_stream_events_total",
    help: "Events sent to the revocation stream's subscribers, by event (snapshot, changes, heartbeat, stale).",
    labelNames: ["event"],
    registers: [registry],
  })
  const streamEnds = new Counter({
    name: "revocable_stream_disconnects_total",
    help: "Revocation streams ended, by reason: client, token (expired or revoked), slow (backlog past its bound), closing.",
    labelNames: ["reason"],
    registers: [registry],
  })

  const webhookAttempts = new Counter({
    name: "revocable_webhook_deliveries_total",
    help: "Webhook delivery attempts made by this process, by outcome: delivered (a 2xx), failed (retried later), gave_up (the last retry failed).",
    labelNames: ["outcome"],
    registers: [registry],
  })
  // Each outcome shows from the start, so that a rate over it is defined before the first failure.
  for (const outcome of ["delivered", "failed", "gave_up"] satisfies WebhookOutcome[]) webhookAttempts.inc({ outcome }, 0)
  let webhookBacklog: (() => Promise<number>) | null = null
  new Gauge({
    name: "revocable_webhook_outbox_pending",
    help: "Webhook deliveries waiting in the outbox for an attempt, every instance's (read from the store when scraped).",
    registers: [registry],
    async collect() {
      if (webhookBacklog === null) return
      try {
        this.set(await webhookBacklog())
      } catch {
        // The scrape still answers, with the last value read; the failure shows in the store errors.
        storeErrors.inc({ source: "server" })
      }
    },
  })

  new Gauge({
    name: "revocable_replica_entries",
    help: "Live revocations held by the local replica.",
    registers: [registry],
    collect() {
      this.set(auth.replicaStatus().entries)
    },
  })
  new Gauge({
    name: "revocable_replica_staleness_seconds",
    help: "Seconds since the change feed last confirmed the replica current (0 when the feed is synchronous).",
    registers: [registry],
    collect() {
      this.set(auth.replicaStatus().stalenessMs / 1000)
    },
  })
  new Counter({
    name: "revocable_feed_reconnects_total",
    help: "Times the change feed reconnected and the live revocations were reloaded.",
    registers: [registry],
    collect() {
      this.reset()
      this.inc(auth.replicaStatus().resets)
    },
  })

  const offs = [
    auth.on("revoked", (revocation) => revocations.inc({ kind: revocation.kind })),
    auth.on("unrevoked", ({ kind }) => unrevocations.inc({ kind })),
    auth.on("reuse-detected", () => reuse.inc()),
    auth.on("store-unavailable", (event) => {
      storeErrors.inc({ source: "core" })
      if (event.failOpen) failOpen.inc()
    }),
  ]

  return {
    registry,
    verified: (outcome) => verifications.inc({ outcome }),
    loginFailed: (reason) => loginFailures.inc({ reason }),
    storeError: () => storeErrors.inc({ source: "server" }),
    stream: {
      opened: () => streamSubscribers.inc(),
      closed(reason) {
        streamSubscribers.dec()
        streamEnds.inc({ reason })
      },
      sent: (event, count = 1) => streamEvents.inc({ event }, count),
    },
    webhooks: {
      attempted: (outcome) => webhookAttempts.inc({ outcome }),
      backlog(read) {
        webhookBacklog = read
      },
    },
    close() {
      for (const off of offs) off()
    },
  }
}
