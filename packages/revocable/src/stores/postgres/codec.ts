// Between the PostgreSQL store's rows and NOTIFY payloads and the contract's types.
import type { Decoded } from "./feed.ts"
import type { ChangeEvent, Revocation, RevocationKind, Session, StoredKey } from "../../core/store.ts"

export interface RevocationRow {
  kind: RevocationKind
  id: string
  subject: string | null
  reason: string | null
  actor: string | null
  created_at: string
  expires_at: string
  cutoff: string
  replica_until: string
}

export interface SessionRow {
  sid: string
  subject: string
  gen: string
  created_at: string
  last_used_at: string
  expires_at: string
  device: string | null
  claims: string
  revoked_at: string | null
}

export interface KeyRow {
  kid: string
  alg: string
  private_jwk: string
  created_at: string
  activates_at: string
  retired_at: string | null
}

/** What travels over NOTIFY: a revocation (whole, or by kind and id when large), an unrevocation, a key change. */
type Message =
  | { t: "r"; r: Revocation }
  | { t: "r"; k: RevocationKind; i: string }
  | { t: "u"; k: RevocationKind; i: string }
  | { t: "k" }

/** A NOTIFY payload as a change; a revocation announced by kind and id alone is read with `read`. */
export function decodeMessage(payload: string, read: (kind: RevocationKind, id: string) => Promise<ChangeEvent | null>): Decoded {
  let message: Message | null
  try {
    message = JSON.parse(payload) as Message | null
  } catch {
    return null
  }
  switch (message?.t) {
    case "r":
      return "r" in message ? { type: "revoked", revocation: message.r } : read(message.k, message.i)
    case "u":
      return { type: "unrevoked", kind: message.k, id: message.i }
    case "k":
      return { type: "keys" }
    default:
      return null
  }
}

export function one<T>(rows: T[]): T {
  const row = rows[0]
  if (row === undefined) throw new Error("PostgreSQL returned no row where one was expected.")
  return row
}

export function toRevocation(row: RevocationRow): Revocation {
  return {
    kind: row.kind,
    id: row.id,
    subject: row.subject,
    reason: row.reason,
    actor: row.actor,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    cutoff: Number(row.cutoff),
    replicaUntil: Number(row.replica_until),
  }
}

export function toSession(row: SessionRow): Session {
  return {
    sid: row.sid,
    subject: row.subject,
    gen: Number(row.gen),
    createdAt: Number(row.created_at),
    lastUsedAt: Number(row.last_used_at),
    expiresAt: Number(row.expires_at),
    device: row.device,
    claims: JSON.parse(row.claims) as Record<string, unknown>,
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  }
}

export function toKey(row: KeyRow): StoredKey {
  return {
    kid: row.kid,
    alg: row.alg,
    privateJwk: row.private_jwk,
    createdAt: Number(row.created_at),
    activatesAt: Number(row.activates_at),
    retiredAt: row.retired_at === null ? null : Number(row.retired_at),
  }
}
