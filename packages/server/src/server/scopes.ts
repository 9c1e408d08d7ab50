// OAuth scopes (RFC 6749 §3.3): space-delimited, case-sensitive tokens of printable ASCII but the blank, `"` and
// `\`. A confidential client is registered with the scopes it may ask for; the client_credentials grant grants them.
import { AuthError } from "revocable"

/** Reads the revocation feed (GET /revocations). */
export const FEED_SCOPE = "revocations:read"
/** The scopes this server's own endpoints check; others may be registered for the deployment's resource servers. */
export const SERVER_SCOPES: readonly string[] = [FEED_SCOPE]

/** RFC 6749 §3.3's scope-token: 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/
const MAX_SCOPES = 64

/** Whether a string is a scope token. */
export function isScope(value: string): boolean {
  return SCOPE_TOKEN.test(value)
}

/** The scopes of a list, in order, each once. Throws invalid_request naming the first that is not a scope token. */
export function scopeList(values: readonly string[]): string[] {
  const scopes = new Set<string>()
  for (const scope of values) {
    if (typeof scope !== "string" || !isScope(scope)) {
      throw new AuthError("invalid_request", `${String(JSON.stringify(scope)).slice(0, 140)} is not a scope: RFC 6749 §3.3 allows printable ASCII but blanks, " and \\, at most 128 characters.`)
    }
    scopes.add(scope)
  }
  if (scopes.size > MAX_SCOPES) throw new AuthError("invalid_request", `A client may have at most ${MAX_SCOPES} scopes.`)
  return [...scopes]
}

/** A scope parameter or claim: the scopes joined by single spaces. */
export function scopeText(scopes: readonly string[]): string {
  return scopes.join(" ")
}
