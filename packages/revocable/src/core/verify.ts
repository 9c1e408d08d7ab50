// verify(): signature (or the cache of tokens already checked), claims, then revocation, from the replica when it
// is fresh, else from the store.
import { AuthError } from "../errors.ts"
import { checkClaims, type Claims } from "./claims.ts"
import type { Key, KeyRing, TokenType } from "./keys.ts"
import { isUnknownKey, payloadJson, verifySignature, type VerifiedToken } from "./tokens.ts"
import { copyPayload, holdPayload, VerifiedCache, type HeldPayload } from "./verified-cache.ts"
import type { VerifyOptions } from "./auth.ts"
import type { Context } from "./instance.ts"

// Not async: with a fresh replica a verify settles without a single await, the hot path's one promise.
export function verify<C extends object>(ctx: Context, token: unknown, options?: VerifyOptions): Promise<Claims & C> {
  if (!ctx.lifecycle.started) return ctx.lifecycle.run(() => verify<C>(ctx, token, options))
  try {
    const expected = options?.type ?? "access"
    const now = ctx.clock()
    const { key, type, payload } = checkSignature(ctx, token, now)
    if (type !== expected) throw new AuthError("wrong_token_type", `Expected ${expected === "access" ? "an access" : "a refresh"} token.`)
    const claims = checkClaims(payload, ctx.rules[type], now / 1000) as Claims & C
    if (!ctx.sync.isFresh(now)) return askStore(ctx, claims, key.kid, now)
    if (ctx.replica.isRevoked(claims.jti, claims.sid, claims.sub, claims.gen, key.kid)) throw revoked(ctx, key.kid)
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

/**
 * checkSignature, retried once after the reload an unknown kid may start (see Keychain.reloadForUnknownKid). What
 * revoke checks: a logout handler revokes the access token its request was just verified with, a cache hit.
 */
export async function verifySignatureOrReload(ctx: Context, token: unknown): Promise<VerifiedToken> {
  try {
    return checkSignature(ctx, token, ctx.clock())
  } catch (error) {
    const reload = isUnknownKey(error) ? ctx.keys.reloadForUnknownKid() : undefined
    if (reload === undefined) throw error
    await reload
    return checkSignature(ctx, token, ctx.clock())
  }
}

interface Remembered {
  key: Key
  type: TokenType
  payload: HeldPayload
}

interface TokenCache {
  readonly entries: VerifiedCache<Remembered>
  /** The keys the entries were verified with. */
  ring: KeyRing
}

/** Each instance's verified tokens, made at its first verify; null when its verifyCache option is false. */
const caches = new WeakMap<Context, TokenCache | null>()

/**
 * verifySignature, or what it found for this very token before. Only access tokens are held: a refresh token is
 * presented once. HS256 ones too: besides the HMAC, a hit spares decoding and parsing (about 5x in bench/verify.ts).
 */
function checkSignature(ctx: Context, token: unknown, now: number): VerifiedToken {
  const held = typeof token === "string" ? tokenCache(ctx) : null
  if (held === null) return verifySignature(token, ctx.keys.ring)
  const hit = held.entries.get(token as string, now)
  if (hit !== undefined) return { key: hit.key, type: hit.type, payload: copyPayload(hit.payload) }
  const verified = verifySignature(token, held.ring)
  const { key, type, payload } = verified
  if (type === "access" && typeof payload.exp === "number") {
    const remembered = { key, type, payload: holdPayload(payload, () => payloadJson(token as string)) }
    held.entries.set(token as string, key.kid, remembered, payload.exp * 1000, now)
  }
  return verified
}

function tokenCache(ctx: Context): TokenCache | null {
  let held = caches.get(ctx)
  if (held === undefined) {
    const limits = ctx.config.verifyCache
    held = limits === null ? null : { entries: new VerifiedCache(limits), ring: ctx.keys.ring }
    caches.set(ctx, held)
  }
  if (held !== null && held.ring !== ctx.keys.ring) keepSameKeys(ctx, held)
  return held
}

/**
 * The keys changed (rotated, retired, deleted, or reloaded as they were): the tokens of a key the new ring holds
 * no longer, holds with other key material under the same kid, or that is retired, are dropped. Comparing the
 * material, not the objects, keeps the cache over a reload that changed nothing (an unknown kid starts one).
 */
function keepSameKeys(ctx: Context, held: TokenCache): void {
  const ring = ctx.keys.ring
  for (const kid of [...held.entries.kids()]) {
    const before = held.ring.get(kid)
    const after = ring.get(kid)
    if (before === undefined || after === undefined || !sameKey(before, after) || ctx.replica.isKeyRetired(kid)) held.entries.dropKey(kid)
  }
  held.ring = ring
}

function sameKey(a: Key, b: Key): boolean {
  return a === b || (a.alg === b.alg && a.publicJwk !== null && JSON.stringify(a.publicJwk) === JSON.stringify(b.publicJwk))
}

/** A retired key's tokens leave the cache at the first of them refused. */
function revoked(ctx: Context, kid: string): AuthError {
  if (ctx.replica.isKeyRetired(kid)) caches.get(ctx)?.entries.dropKey(kid)
  return new AuthError("token_revoked")
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
