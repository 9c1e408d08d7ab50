// Sessions: created under the session limit, read, listed, and rotated with reuse detection.
import { one, toRevocation, toSession, type RevocationRow, type SessionRow } from "./codec.ts"
import type { Context } from "./connection.ts"
import { insertRevocations } from "./revocations.ts"
import { transaction } from "./transaction.ts"
import { replicaUntilOf } from "../shared.ts"
import type { CreateSessionInput, CreateSessionResult, Revocation, RotateInput, RotateResult, Store } from "../../core/store.ts"

export type Sessions = Pick<Store, "createSession" | "getSession" | "listSessions" | "rotate">

export function sessions({ pool, sql, clock, safely }: Context): Sessions {
  return {
    async createSession(input: CreateSessionInput): Promise<CreateSessionResult> {
      const { session, limit } = input
      return transaction(pool, async (client) => {
        // Locks the subject's row for the transaction: sessions of one subject are created, counted and evicted
        // one at a time, and a subject revocation (which updates the row) waits or is waited for. The store's
        // now is read then, once: the session is counted, evicted and created at it.
        const { rows: locked } = await client.query<{ gen: string; now: string }>(sql.lockSubject, [session.subject, clock?.() ?? null])
        const { gen, now } = one(locked)
        let evicted: Revocation[] = []
        if (limit !== null) {
          const values = [session.subject, now, input.idleTimeoutMs]
          const { rows: live } = await client.query<{ sid: string; expires_at: string }>(sql.liveSessions, values)
          const excess = live.length + 1 - limit
          if (excess > 0 && input.onExceed === "reject") return { ok: false, reason: "limit" }
          const oldest = live.slice(0, Math.max(0, excess)).map((row) => ({
            ...input.evictTemplate,
            id: row.sid,
            subject: session.subject,
            expiresAt: Number(row.expires_at) + input.leewayMs,
          }))
          if (oldest.length > 0) {
            // Oldest first is not key order: as a batch does, lock the sessions, then write their revocations, each
            // statement in key order (see statements()).
            await client.query(sql.markSessions, [oldest.map((row) => row.id), oldest.map((row) => row.createdAt)])
            // Written as any other write is, waiting for the disk: createSession is answered at its commit.
            const written = new Map((await insertRevocations(client, sql.recordEvictions, oldest, new Map())).map((row) => [row.id, row]))
            // Every input comes back: the insert updates on conflict.
            evicted = oldest.map((row) => written.get(row.id) as Revocation)
          }
        }
        // The new session's row is this transaction's own: no one else can be waiting for it.
        const { rows } = await client.query<SessionRow>(sql.insertSession, [
          session.sid,
          session.subject,
          gen,
          now,
          session.ttlMs,
          session.device,
          JSON.stringify(session.claims),
          session.refreshHash,
        ])
        return { ok: true, session: toSession(one(rows)), evicted }
      })
    },

    async getSession(sid) {
      const { rows } = await safely((db) => db.query<SessionRow>(sql.getSession, [sid]))
      return rows[0] ? toSession(rows[0]) : null
    },

    async listSessions(subject, idleTimeoutMs) {
      const values = [subject, clock?.() ?? null, idleTimeoutMs]
      const { rows } = await safely((db) => db.query<SessionRow>(sql.listSessions, values))
      return rows.map(toSession)
    },

    async rotate(input: RotateInput): Promise<RotateResult> {
      const { sid, presentedHash, nextHash, idleTimeoutMs, graceMs } = input
      // Null: each statement reads the server's clock itself (see storeNow).
      const now = clock?.() ?? null
      for (let attempt = 1; ; attempt++) {
        const rotated = await pool.query<SessionRow>(sql.rotate, [sid, presentedHash, nextHash, now, idleTimeoutMs])
        if (rotated.rows[0]) return { status: "rotated", session: toSession(rotated.rows[0]) }
        // Not the current token. Each branch below is one conditional statement re-checked under the row lock,
        // and a token that is not current never becomes current again, so no branch can race another.
        if (graceMs > 0) {
          const grace = await pool.query<SessionRow>(sql.grace, [sid, presentedHash, nextHash, now, idleTimeoutMs, graceMs])
          if (grace.rows[0]) return { status: "grace", session: toSession(grace.rows[0]) }
        }
        const reuse = input.reuseRevocation
        const reused = await pool.query<RevocationRow>(sql.reuse, [
          sid,
          presentedHash,
          now,
          idleTimeoutMs,
          graceMs,
          reuse.kind,
          reuse.id,
          reuse.subject,
          reuse.reason,
          reuse.actor,
          reuse.createdAt,
          reuse.expiresAt,
          replicaUntilOf(reuse),
        ])
        if (reused.rows[0]) return { status: "reused", revocation: toRevocation(reused.rows[0]) }
        const { rows } = await pool.query<{ revoked_at: string | null; live: boolean; uncut: boolean }>(sql.sessionState, [sid, now, idleTimeoutMs])
        if (!rows[0]) return { status: "missing" }
        if (rows[0].revoked_at !== null || !rows[0].uncut) return { status: "revoked" }
        // Live, yet neither rotated nor reused: unrevoked since the first statement, when it was revoked. Once
        // more settles it; were it revoked and unrevoked again meanwhile, it counts as revoked.
        if (!rows[0].live) return { status: "expired" }
        if (attempt === 2) return { status: "revoked" }
      }
    },
  }
}
