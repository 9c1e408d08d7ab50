// Registered-claim validation, after the signature and before revocation.
import { AuthError } from "../errors.ts"
import { isStorable } from "./store.ts"

/** The claims of a verified token: the registered ones, revocable's own, and the application's. */
export interface Claims {
  iss: string
  sub: string
  aud: string
  exp: number
  iat: number
  nbf?: number
  jti: string
  /** The session (one login and its chain of refresh tokens). */
  sid: string
  /** The subject's generation when the session began; a subject revocation cuts off lower generations. */
  gen: number
  [claim: string]: unknown
}

/** Claims revocable sets itself; `issue()` refuses application claims with these names. */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set(["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "gen"])

export interface ClaimRules {
  issuer: string
  audiences: ReadonlySet<string>
  /** Seconds. */
  leeway: number
  /** Seconds: the longest `exp - iat` accepted for this token type. */
  maxLifetime: number
}

/** Narrows a verified payload to {@link Claims}, or throws the precise error code. `now` is in seconds. */
export function checkClaims(payload: Record<string, unknown>, rules: ClaimRules, now: number): Claims {
  const { iss, sub, aud, exp, iat, nbf, jti, sid, gen } = payload
  // Stryker disable next-line ConditionalExpression: only a string equals the issuer
  if (typeof iss !== "string" || iss !== rules.issuer) throw invalid("The token issuer is not accepted.")
  // Stryker disable next-line ConditionalExpression: the audiences are strings
  if (typeof aud !== "string" || !rules.audiences.has(aud)) throw invalid("The token audience is not accepted.")
  if (!isNumericDate(exp)) throw invalid("The token has no valid exp.")
  if (!isNumericDate(iat)) throw invalid("The token has no valid iat.")
  if (nbf !== undefined && !isNumericDate(nbf)) throw invalid("The token nbf is not a number.")
  if (typeof sub !== "string" || sub === "") throw invalid("The token has no subject.")
  if (typeof jti !== "string" || jti === "") throw invalid("The token has no jti.")
  if (typeof sid !== "string" || sid === "") throw invalid("The token has no session id.")
  // Ids no store keeps exactly: a revocation of them could never match the token (see isStorable).
  if (!isStorable(sub) || !isStorable(jti) || !isStorable(sid)) throw invalid("The token has an id no store can keep (NUL or an unpaired surrogate).")
  // Stryker disable next-line ConditionalExpression: isSafeInteger is false for a non-number
  if (typeof gen !== "number" || !Number.isSafeInteger(gen) || gen < 0) throw invalid("The token has no valid gen.")
  if (exp - iat > rules.maxLifetime) throw invalid("The token lifetime exceeds the maximum.")
  if (now >= exp + rules.leeway) throw new AuthError("token_expired")
  // Stryker disable next-line ConditionalExpression: undefined > n is false
  if (iat > now + rules.leeway || (nbf !== undefined && nbf > now + rules.leeway)) throw new AuthError("token_not_yet_valid")
  return payload as Claims
}

function isNumericDate(value: unknown): value is number {
  // Stryker disable next-line ConditionalExpression: Number.isFinite is false for a non-number
  return typeof value === "number" && Number.isFinite(value)
}

function invalid(message: string): AuthError {
  return new AuthError("token_invalid", message)
}
