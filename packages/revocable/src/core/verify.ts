// verify(): signature, claims, then revocation, from the replica when it is fresh, else from the store.
import { AuthError } from "../errors.ts"
import { checkClaims, type Claims } from "./claims.ts"
import { isUnknownKey, verifySignature, type VerifiedToken } from "./tokens.ts"
import type { VerifyOptions } from "./auth.ts"
import type { Context } from "./instance.ts"

// Not async: with a fresh replica a verify settles without a single await, the hot path's one promise.
export function verify<C extends object>(ctx: Context, token: unknown, options?: VerifyOptions): Promise<Claims & C> {
  if (!ctx.lifecycle.started) return ctx.lifecycle.run(() => verify<C>(ctx, token, options))
  try {
    const expected = options?.type ?? "access"
    const { key, type, payload } = verifySignature(token, ctx.keys.ring)
    if (type !== expected) throw new AuthError("wrong_token_type", `Expected ${expected === "access" ? "an access" : "a refresh"} token.`)
    const now = ctx.clock()
    const claims = checkClaims(payload, ctx.rules[type], now / 1000) as Claims & C
    if (!ctx.sync.isFresh(now)) return askStore(ctx, claims, key.kid, now)
    if (ctx.replica.isRevoked(claims.jti, claims.sid, claims.sub, claims.gen, key.kid)) throw new AuthError("token_revoked")
    // Replicas let go of a session or subject revocation once no access token it matches is valid (see
    // accessWindowEnd); a refresh token outlives that, so the store answers for it. Refreshes are rare: no hot path.
    if (type === "refresh") return askStore(ctx, claims, key.kid, now)
    return Promise.resolve(claims)
  } catch (error) {
    // Retried once: the interval counts from the end of the reload, so the retry cannot start another.
    const reload = isUnknownKey(error) ? ctx.keys.reloadForUnknownKid() : undefined
    return reload ? reload.then(() => verify<C>(ctx, token, options)) : Promise.reject(error)
  }
}

/** verifySignature, retried once after the reload an unknown kid may start (see Keychain.reloadForUnknownKid). */
export async function verifySignatureOrReload(ctx: Context, token: unknown): Promise<VerifiedToken> {
  try {
    return verifySignature(token, ctx.keys.ring)
  } catch (error) {
    const reload = isUnknownKey(error) ? ctx.keys.reloadForUnknownKid() : undefined
    if (reload === undefined) throw error
    await reload
    return verifySignature(token, ctx.keys.ring)
  }
}

/** The claims, once the store says the token is not revoked. */
async function askStore<C extends Claims>(ctx: Context, claims: C, kid: string, now: number): Promise<C> {
  if (await isRevokedInStore(ctx, claims, kid, now)) throw new AuthError("token_revoked")
  return claims
}

async function isRevokedInStore(ctx: Context, claims: Claims, kid: string, now: number): Promise<boolean> {
  try {
    return await ctx.store.isRevoked({ jti: claims.jti, sid: claims.sid, subject: claims.sub, gen: claims.gen, kid, now })
  } catch (error) {
    ctx.events.emit("store-unavailable", { error, failOpen: ctx.config.failOpen })
    if (!ctx.config.failOpen) throw new AuthError("store_unavailable", undefined, { cause: error })
    return ctx.replica.isRevoked(claims.jti, claims.sid, claims.sub, claims.gen, kid)
  }
}
