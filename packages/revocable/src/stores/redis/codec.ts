// Between the Redis store's script arguments and replies and the contract's types.
import type { Revocation, RevocationKind, Session, StoredKey } from "../../core/store.ts"

/** An optional string as the scripts take it: "" for null, "=" and the value otherwise. */
export function optional(value: string | null): string {
  return value === null ? "" : `=${value}`
}

export function nullable(value: unknown): string | null {
  return value == null ? null : String(value)
}

export function toRevocation(row: unknown): Revocation {
  const r = row as unknown[]
  return {
    kind: String(r[0]) as RevocationKind,
    id: String(r[1]),
    subject: nullable(r[2]),
    reason: nullable(r[3]),
    actor: nullable(r[4]),
    createdAt: Number(r[5]),
    expiresAt: Number(r[6]),
    cutoff: Number(r[7]),
    // Recorded before replicaUntil existed: replicas keep it to its expiry, as they did.
    replicaUntil: Number(r[8] ?? r[6]),
  }
}

export function toSession(row: unknown): Session {
  const r = row as unknown[]
  return {
    sid: String(r[0]),
    subject: String(r[1]),
    gen: Number(r[2]),
    createdAt: Number(r[3]),
    lastUsedAt: Number(r[4]),
    expiresAt: Number(r[5]),
    device: nullable(r[6]),
    claims: JSON.parse(String(r[7])) as Record<string, unknown>,
    revokedAt: r[8] == null ? null : Number(r[8]),
  }
}

export function toKey(row: unknown[]): StoredKey {
  return {
    kid: String(row[0]),
    alg: String(row[1]),
    privateJwk: String(row[2]),
    createdAt: Number(row[3]),
    // A key saved before activation times were kept signs since its creation.
    activatesAt: Number(row[5] ?? row[3]),
    retiredAt: row[4] == null ? null : Number(row[4]),
  }
}
