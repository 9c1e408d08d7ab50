/**
 * The claim guard compares each claim with the values it expects: a claim that is an array matches when one of
 * its items does. `roles`, `groups` and `entitlements` (RFC 9068 §2.2.3.1, multi-valued after SCIM, RFC 7643)
 * count only as arrays of strings: such a claim in any other shape (a lone string, an object, an array holding
 * anything but strings) grants nothing, as if absent. The auth server reads `roles` by the same rule
 * (`listClaim`) for its admin guard, `/me` and introspection.
 */
import { AuthError } from "../../errors.ts"
import type { Claims } from "../../core/claims.ts"
import { isObject } from "./validate.ts"

/**
 * A claim's expected value, or a list of values any one of which will do; a function for anything else. The
 * values expected of `roles`, `groups` and `entitlements` are strings (see `listClaim`).
 */
export type ClaimsRequirement = Readonly<Record<string, ClaimValue | readonly ClaimValue[]>> | ((claims: Claims) => boolean)
type ClaimValue = string | number | boolean

/** The claims of RFC 9068 §2.2.3.1 whose values are JSON arrays of strings. */
const LIST_CLAIMS: ReadonlySet<string> = new Set(["roles", "groups", "entitlements"])
/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ); with no `"` or `\`, quoting it in a challenge is safe. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/** Carries the scope a scope guard wanted, for the `scope` parameter of the challenge. */
export class InsufficientScopeError extends AuthError {
  readonly scope: string

  constructor(scope: string) {
    super("forbidden", "The token does not carry the required scope.")
    this.scope = scope
  }
}

/** A check of the claims `authenticate` put on the request: throws token_missing (none) or forbidden. */
export function claimsGuard(requirement: ClaimsRequirement): (claims: Claims | undefined) => void {
  if (typeof requirement === "function") {
    return (claims) => {
      if (claims === undefined) throw new AuthError("token_missing")
      if (requirement(claims) !== true) throw new AuthError("forbidden")
    }
  }
  if (!isObject(requirement) || Object.keys(requirement).length === 0) {
    throw new TypeError("requireClaims needs a non-empty object of expected claim values, or a function.")
  }
  const expected = Object.entries(requirement).map(([name, value]): [string, readonly ClaimValue[]] => {
    const values = Array.isArray(value) ? value : [value]
    if (values.length === 0 || !values.every(isClaimValue)) {
      throw new TypeError(`requireClaims: the value of ${name} must be a string, number, boolean or a non-empty array of them.`)
    }
    if (LIST_CLAIMS.has(name) && !values.every((item) => typeof item === "string")) {
      throw new TypeError(`requireClaims: ${name} holds strings (RFC 9068 §2.2.3.1): expect a string or a non-empty array of strings.`)
    }
    return [name, values]
  })
  return (claims) => {
    if (claims === undefined) throw new AuthError("token_missing")
    for (const [name, values] of expected) {
      const actual = LIST_CLAIMS.has(name) ? listClaim(claims, name) : Object.hasOwn(claims, name) ? claims[name] : undefined
      const matches = Array.isArray(actual) ? actual.some((item) => values.includes(item as ClaimValue)) : values.includes(actual as ClaimValue)
      if (!matches) throw new AuthError("forbidden")
    }
  }
}

/**
 * The strings of a multi-valued claim (`roles`, `groups`, `entitlements`: RFC 9068 §2.2.3.1); null when the
 * claim is absent or is not an array of strings, which grants nothing.
 */
export function listClaim(claims: Claims, name: string): string[] | null {
  const value = Object.hasOwn(claims, name) ? claims[name] : undefined
  return Array.isArray(value) && value.every((item) => typeof item === "string") ? value : null
}

/** Every scope must be in the token's `scope` claim (space-separated, RFC 9068 §2.2.3) or its array form. */
export function scopeGuard(scopes: readonly string[]): (claims: Claims | undefined) => void {
  if (scopes.length === 0 || !scopes.every((scope) => typeof scope === "string" && SCOPE_TOKEN.test(scope))) {
    throw new TypeError('requireScope needs one or more scope names of printable ASCII without blanks, " or \\ (RFC 6749 §3.3).')
  }
  const wanted = scopes.join(" ")
  return (claims) => {
    if (claims === undefined) throw new AuthError("token_missing")
    const scope = Object.hasOwn(claims, "scope") ? claims.scope : undefined
    const granted = typeof scope === "string" ? scope.split(" ") : Array.isArray(scope) ? scope : []
    if (!scopes.every((name) => granted.includes(name))) throw new InsufficientScopeError(wanted)
  }
}

function isClaimValue(value: unknown): value is ClaimValue {
  return typeof value === "string" || typeof value === "number" || typeof value === "boolean"
}
