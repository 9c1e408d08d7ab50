// Revoking at each grain (token, session, subject, key), and taking a revocation back.
import { AuthError } from "../errors.ts"
import { checkClaims, type Claims } from "./claims.ts"
import { checkId, checkKind, checkText } from "./checks.ts"
import { verify, verifySignatureOrReload } from "./verify.ts"
import type { RevokeMeta } from "./auth.ts"
import type { Context } from "./instance.ts"
import type { Revocation, RevocationInput, RevocationKind } from "./store.ts"

/** The end of 2999: key retirements do not expire. */
const KEY_RETIREMENT_MS = Date.UTC(2999, 11, 31)

export async function revoke(ctx: Context, token: unknown, meta: RevokeMeta = {}): Promise<Revocation | null> {
  return ctx.lifecycle.run(async () => {
    let verified
    try {
      verified = await verifySignatureOrReload(ctx, token)
      checkClaims(verified.payload, ctx.rules[verified.type], ctx.clock() / 1000)
    } catch (error) {
      if (error instanceof AuthError) return null
      throw error
    }
    const claims = verified.payload as Claims
    if (verified.type === "refresh") return revokeSession(ctx, claims.sid, meta)
    return record(ctx, { kind: "token", id: claims.jti, subject: claims.sub, expiresAt: claims.exp * 1000 + ctx.retentionMs }, meta)
  })
}

export async function revokeToken(ctx: Context, jti: string, meta: RevokeMeta & { subject?: string } = {}): Promise<Revocation> {
  checkId(jti, "jti")
  if (meta.subject !== undefined) checkId(meta.subject, "subject")
  // Its expiry is unknown: the entry lives as long as any token of ours can.
  const expiresAt = ctx.clock() + Math.max(ctx.config.accessTtlMs, ctx.config.refreshTtlMs) + ctx.retentionMs
  return record(ctx, { kind: "token", id: jti, subject: meta.subject ?? null, expiresAt }, meta)
}

export async function revokeSession(ctx: Context, sessionId: string, meta: RevokeMeta = {}): Promise<Revocation> {
  checkId(sessionId, "session id")
  return ctx.lifecycle.run(async () => {
    const session = await ctx.events.fromStore(() => ctx.store.getSession(sessionId))
    const expiresAt = session ? session.expiresAt + ctx.retentionMs : ctx.clock() + ctx.longestLifeMs
    return record(ctx, { kind: "session", id: sessionId, subject: session?.subject ?? null, expiresAt }, meta)
  })
}

export async function revokeSubject(ctx: Context, subject: string, meta: RevokeMeta = {}): Promise<Revocation> {
  checkId(subject, "subject")
  return record(ctx, { kind: "subject", id: subject, subject, expiresAt: ctx.clock() + ctx.longestLifeMs }, meta)
}

export async function logout(ctx: Context, accessToken: unknown, options: { everywhere?: boolean } = {}): Promise<Revocation> {
  const claims = await verify(ctx, accessToken)
  const meta = { actor: claims.sub, reason: options.everywhere ? "logout everywhere" : "logout" }
  return options.everywhere ? revokeSubject(ctx, claims.sub, meta) : revokeSession(ctx, claims.sid, meta)
}

export async function retireKey(ctx: Context, kid: string, meta: RevokeMeta = {}): Promise<Revocation> {
  return ctx.lifecycle.run(async () => {
    if (!(await ctx.keys.has(kid))) throw new AuthError("invalid_request", "No key has that kid.")
    // A retired key stays retired, even while a static key is still listed in the configuration; unrevoke refuses it.
    const revocation = await record(ctx, { kind: "key", id: kid, subject: null, expiresAt: KEY_RETIREMENT_MS }, meta)
    await ctx.keys.retired(kid, revocation.createdAt)
    return revocation
  })
}

export async function unrevoke(ctx: Context, kind: RevocationKind, id: string): Promise<boolean> {
  checkKind(kind)
  checkId(id, "id")
  // Retiring is permanent: a managed key also stays marked retired in the store, and the tokens it signed
  // may have leaked.
  if (kind === "key") throw new AuthError("invalid_request", "A retired key cannot be restored: rotate a new key instead.")
  return ctx.lifecycle.run(async () => {
    const existed = await ctx.events.fromStore(() => ctx.store.unrevoke(kind, id))
    ctx.replica.delete(kind, id)
    return existed
  })
}

/**
 * When replicas may let go of a session or subject revocation made at `createdAt`: once every access token it
 * can match is past its expiry and leeway, only a refresh could use the session, and the store's rotation refuses
 * that from its own records (see Store.rotate). A token minted by a rotation committed just before the
 * revocation expires at most accessTtl after its issuer's clock read, which may be a leeway ahead of the
 * revoker's: that leeway, the leeway the token is accepted past `exp`, and one more for the time between the
 * revoker's clock read and its write.
 */
export function accessWindowEnd(ctx: Context, createdAt: number): number {
  return createdAt + ctx.config.accessTtlMs + ctx.retentionMs + ctx.config.leewayMs
}

/** Writes a revocation to the store, then to the replica, so that this instance refuses at once. */
async function record(ctx: Context, input: Omit<RevocationInput, "createdAt" | "reason" | "actor">, meta: RevokeMeta): Promise<Revocation> {
  const reason = meta.reason ?? null
  const actor = meta.actor ?? null
  if (reason !== null) checkText(reason, "reason")
  if (actor !== null) checkText(actor, "actor")
  return ctx.lifecycle.run(async () => {
    const createdAt = ctx.clock()
    // Token and key revocations match tokens until their own expiry; sessions and subjects, see accessWindowEnd.
    const grain = input.kind === "session" || input.kind === "subject"
    const replicaUntil = grain ? Math.min(input.expiresAt, accessWindowEnd(ctx, createdAt)) : input.expiresAt
    const revocation = await ctx.events.fromStore(() => ctx.store.revoke({ ...input, reason, actor, createdAt, replicaUntil }))
    ctx.replica.add(revocation)
    return revocation
  })
}
