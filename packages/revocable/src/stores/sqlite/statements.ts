// The store's SQL, prepared once per connection, and the rows it reads.
import type { DatabaseSync } from "node:sqlite"
import type { ChangeEvent, Revocation, RevocationKind, Session } from "../../core/store.ts"

export interface RevocationRow {
  seq: number
  kind: RevocationKind
  id: string
  subject: string | null
  reason: string | null
  actor: string | null
  created_at: number
  expires_at: number
  cutoff: number
  replica_until: number
}

export interface SessionRow {
  sid: string
  subject: string
  gen: number
  created_at: number
  last_used_at: number
  expires_at: number
  device: string | null
  claims: string
  revoked_at: number | null
  current_hash: string
  previous_hash: string | null
  rotated_at: number
}

export interface KeyRow {
  kid: string
  alg: string
  private_jwk: string
  created_at: number
  activates_at: number
  retired_at: number | null
}

export interface ChangeRow {
  seq: number
  type: "revoked" | "unrevoked" | "keys"
  kind: RevocationKind | null
  id: string | null
  revocation: string | null
}

export type Connection = ReturnType<typeof prepare>

export function prepare(db: DatabaseSync) {
  const revocationColumns = "seq, kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until"
  // Live: not revoked, not ended, not idle, and not cut off by a live subject revocation (as matchRevocation).
  const liveSession = `s.subject = :subject AND s.revoked_at IS NULL AND s.expires_at > :now AND s.last_used_at > :idleSince
    AND NOT EXISTS (SELECT 1 FROM revocations AS r
      WHERE r.kind = 'subject' AND r.id = s.subject AND r.expires_at > :now AND r.cutoff > s.gen)`
  return {
    db,
    // The machine's clock as SQLite reads it (not the process's Date), in whole milliseconds.
    now: db.prepare("SELECT CAST(round(unixepoch('subsec') * 1000) AS INTEGER) AS now"),
    dataVersion: db.prepare("PRAGMA data_version"),
    lastSeq: db.prepare("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0) AS seq"),
    getMeta: db.prepare("SELECT value FROM meta WHERE name = :name"),
    setMeta: db.prepare("INSERT INTO meta (name, value) VALUES (:name, :value) ON CONFLICT (name) DO UPDATE SET value = excluded.value"),
    changesAfter: db.prepare("SELECT seq, type, kind, id, revocation FROM changes WHERE seq > :seq ORDER BY seq"),
    appendChange: db.prepare("INSERT INTO changes (type, kind, id, revocation) VALUES (:type, :kind, :id, :revocation)"),
    deleteChangesUpTo: db.prepare("DELETE FROM changes WHERE seq <= :seq"),

    getRevocation: db.prepare(`SELECT ${revocationColumns} FROM revocations WHERE kind = :kind AND id = :id`),
    upsertRevocation: db.prepare(
      `INSERT INTO revocations (kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until)
       VALUES (:kind, :id, :subject, :reason, :actor, :createdAt, :expiresAt, :cutoff, :replicaUntil)
       ON CONFLICT (kind, id) DO UPDATE SET subject = excluded.subject, reason = excluded.reason, actor = excluded.actor,
         created_at = excluded.created_at, expires_at = excluded.expires_at, cutoff = excluded.cutoff,
         replica_until = excluded.replica_until`,
    ),
    deleteRevocation: db.prepare("DELETE FROM revocations WHERE kind = :kind AND id = :id"),
    matchRevocation: db.prepare(
      `SELECT 1 FROM revocations WHERE expires_at > :now AND (
         (kind = 'token' AND id = :jti) OR (kind = 'session' AND id = :sid) OR (kind = 'key' AND id = :kid)
         OR (kind = 'subject' AND id = :subject AND cutoff > :gen)) LIMIT 1`,
    ),
    // What replicas hold (see RevocationInput.replicaUntil): in index order, so that only those rows are read.
    liveRevocations: db.prepare(`SELECT ${revocationColumns} FROM revocations WHERE replica_until > :now ORDER BY replica_until, seq`),
    subjectCutOff: db.prepare(
      "SELECT 1 FROM revocations WHERE kind = 'subject' AND id = :subject AND expires_at > :now AND cutoff > :gen",
    ),
    pageRevocations: db.prepare(
      `SELECT ${revocationColumns} FROM revocations
       WHERE expires_at > :now AND (:kind IS NULL OR kind = :kind) AND (:subject IS NULL OR subject = :subject)
         AND (:before IS NULL OR seq < :before)
       ORDER BY seq DESC LIMIT :take`,
    ),
    purgeRevocations: db.prepare("DELETE FROM revocations WHERE expires_at <= :now"),
    getGeneration: db.prepare("SELECT gen FROM generations WHERE subject = :subject"),
    setGeneration: db.prepare(
      "INSERT INTO generations (subject, gen) VALUES (:subject, :gen) ON CONFLICT (subject) DO UPDATE SET gen = excluded.gen",
    ),

    getSession: db.prepare("SELECT * FROM sessions WHERE sid = :sid"),
    insertSession: db.prepare(
      `INSERT INTO sessions (sid, subject, gen, created_at, last_used_at, expires_at, device, claims, revoked_at, current_hash, previous_hash, rotated_at)
       VALUES (:sid, :subject, :gen, :now, :now, :expiresAt, :device, :claims, NULL, :hash, NULL, :now)`,
    ),
    liveSessionsOldestFirst: db.prepare(
      `SELECT s.sid, s.subject, s.expires_at FROM sessions AS s WHERE ${liveSession} ORDER BY s.created_at, s.rowid`,
    ),
    liveSessionsNewestFirst: db.prepare(`SELECT s.* FROM sessions AS s WHERE ${liveSession} ORDER BY s.created_at DESC, s.rowid`),
    markSessionRevoked: db.prepare("UPDATE sessions SET revoked_at = :at WHERE sid = :sid AND revoked_at IS NULL"),
    clearSessionRevoked: db.prepare("UPDATE sessions SET revoked_at = NULL WHERE sid = :sid"),
    rotateSession: db.prepare(
      "UPDATE sessions SET previous_hash = :previous, current_hash = :current, rotated_at = :now, last_used_at = :now WHERE sid = :sid",
    ),
    graceSession: db.prepare("UPDATE sessions SET current_hash = :current, last_used_at = :now WHERE sid = :sid"),
    purgeSessions: db.prepare("DELETE FROM sessions WHERE expires_at <= :now"),

    // A key saved before activation times were kept signs since its creation.
    listKeys: db.prepare(
      "SELECT kid, alg, private_jwk, created_at, coalesce(activates_at, created_at) AS activates_at, retired_at FROM signing_keys ORDER BY rowid",
    ),
    upsertKey: db.prepare(
      `INSERT INTO signing_keys (kid, alg, private_jwk, created_at, activates_at, retired_at)
       VALUES (:kid, :alg, :jwk, :createdAt, :activatesAt, :retiredAt)
       ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, private_jwk = excluded.private_jwk,
         created_at = excluded.created_at, activates_at = excluded.activates_at, retired_at = excluded.retired_at`,
    ),
    retireKey: db.prepare("UPDATE signing_keys SET retired_at = :at WHERE kid = :kid AND retired_at IS NULL"),
    deleteKey: db.prepare("DELETE FROM signing_keys WHERE kid = :kid"),

    getDocument: db.prepare("SELECT json FROM documents WHERE collection = :collection AND id = :id"),
    putDocument: db.prepare(
      "INSERT INTO documents (collection, id, json) VALUES (:collection, :id, :json) ON CONFLICT (collection, id) DO UPDATE SET json = excluded.json",
    ),
    deleteDocument: db.prepare("DELETE FROM documents WHERE collection = :collection AND id = :id"),
    pageDocuments: db.prepare(
      "SELECT id, json FROM documents WHERE collection = :collection AND (:after IS NULL OR id > :after) ORDER BY id LIMIT :take",
    ),
    hit: db.prepare(
      `INSERT INTO rate_windows (key, count, reset_at) VALUES (:key, 1, :resetAt)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN reset_at <= :now THEN 1 ELSE count + 1 END,
         reset_at = CASE WHEN reset_at <= :now THEN :resetAt ELSE reset_at END
       RETURNING count, reset_at`,
    ),
    purgeWindows: db.prepare("DELETE FROM rate_windows WHERE reset_at <= :now"),
  }
}

export function toRevocation(row: RevocationRow): Revocation {
  return {
    kind: row.kind,
    id: row.id,
    subject: row.subject,
    reason: row.reason,
    actor: row.actor,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    cutoff: row.cutoff,
    replicaUntil: row.replica_until,
  }
}

export function toSession(row: SessionRow): Session {
  return {
    sid: row.sid,
    subject: row.subject,
    gen: row.gen,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    device: row.device,
    claims: JSON.parse(row.claims) as Record<string, unknown>,
    revokedAt: row.revoked_at,
  }
}

export function toEvent(row: ChangeRow): ChangeEvent {
  switch (row.type) {
    case "revoked":
      return { type: "revoked", revocation: JSON.parse(row.revocation ?? "null") as Revocation }
    case "unrevoked":
      return { type: "unrevoked", kind: row.kind as RevocationKind, id: row.id as string }
    case "keys":
      return { type: "keys" }
  }
}
