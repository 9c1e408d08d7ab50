// Checks of what callers pass to the token operations: a bad value is invalid_request, before any I/O.
import { AuthError } from "../errors.ts"
import { RESERVED_CLAIMS } from "./claims.ts"
import { REVOCATION_KINDS, type RevocationKind } from "./store.ts"
import { checkStorable } from "./store.ts"

const MAX_SUBJECT_LENGTH = 1024
const MAX_META_LENGTH = 1024
export const MAX_PAGE = 1000

export function checkId(value: unknown, what: string): asserts value is string {
  if (typeof value !== "string" || value === "" || value.length > MAX_SUBJECT_LENGTH) {
    throw new AuthError("invalid_request", `The ${what} must be a non-empty string of at most ${MAX_SUBJECT_LENGTH} characters.`)
  }
  checkStorable(value, `The ${what}`)
}

export function checkText(value: unknown, what: string): void {
  if (typeof value !== "string" || value.length > MAX_META_LENGTH) {
    throw new AuthError("invalid_request", `The ${what} must be a string of at most ${MAX_META_LENGTH} characters.`)
  }
  checkStorable(value, `The ${what}`)
}

export function checkKind(kind: unknown): asserts kind is RevocationKind {
  if (!REVOCATION_KINDS.includes(kind as RevocationKind)) {
    throw new AuthError("invalid_request", `The kind must be one of ${REVOCATION_KINDS.join(", ")}.`)
  }
}

/** The application's claims for a session, copied as JSON: reserved names are refused. */
export function checkAppClaims(claims: unknown): Record<string, unknown> {
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) {
    throw new AuthError("invalid_request", "claims must be a plain object.")
  }
  const reserved = Object.keys(claims).filter((name) => RESERVED_CLAIMS.has(name))
  if (reserved.length > 0) throw new AuthError("invalid_request", `claims may not set ${reserved.join(", ")}: revocable sets them.`)
  let copy: unknown
  try {
    copy = JSON.parse(JSON.stringify(claims))
  } catch {
    throw new AuthError("invalid_request", "claims must be JSON-serializable.")
  }
  return copy as Record<string, unknown>
}
