// The checks of a JWS compact token that need no node: module: its form, its header and the alphabet of its
// signing input. core/tokens.ts (node:crypto) and remote/jws.ts (WebCrypto) both decode through them, so that
// the two verifiers refuse a token in the same order and with the same code.
import { AuthError } from "../errors.ts"
import { isBase64url } from "./base64url.ts"
import type { TokenType } from "./keys.ts"

/** Larger tokens are refused before anything is decoded. */
export const MAX_TOKEN_LENGTH = 8192
const MAX_HEADER_LENGTH = 1024
// Stryker disable next-line Regex: the header is strict base64url before any signature is checked
const SIGNING_INPUT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

export type Algorithm = "EdDSA" | "ES256" | "RS256" | "PS256" | "HS256"

export const ALGORITHMS: readonly Algorithm[] = ["EdDSA", "ES256", "RS256", "PS256", "HS256"]

const KID = /^[A-Za-z0-9._-]{1,128}$/

/** Whether a kid is of the form every key's kid has (1 to 128 of base64url and "."): anything else is refused before any key lookup. */
export function isKid(kid: string): boolean {
  return KID.test(kid)
}

export type SegmentPart = "header" | "payload"

/** What a token's header says, once checked: the key is the caller's to find. */
export interface JwsHeader {
  alg: Algorithm
  kid: string
  type: TokenType
}

/** A token of acceptable size, or token_missing / token_malformed. */
export function checkForm(token: unknown): asserts token is string {
  if (token === undefined || token === null) throw new AuthError("token_missing")
  if (typeof token !== "string") throw malformed("The token must be a string.")
  if (token.length > MAX_TOKEN_LENGTH) throw malformed(`The token is longer than ${MAX_TOKEN_LENGTH} characters.`)
}

/** The index of the dot after the payload, given the first dot's: three non-empty segments, or token_malformed. */
export function signingInputEnd(token: string, first: number): number {
  // Stryker disable next-line ConditionalExpression,UnaryOperator: with no first dot there is no second: indexOf gives -1 too
  const second = first === -1 ? -1 : token.indexOf(".", first + 1)
  // Stryker disable next-line ConditionalExpression,UnaryOperator: second is -1 only if there is at most one dot, which the other tests catch
  if (first <= 0 || second === -1 || second === first + 1 || second === token.length - 1 || token.includes(".", second + 1)) {
    throw malformed("The token must have three non-empty segments.")
  }
  return second
}

/**
 * Reads and checks the header segment; `decode` gives a segment's text (Buffer or atob: the runtime's). Its
 * parameters crit and b64 are refused, jku, x5u, x5c and jwk ignored.
 */
export function readHeader(segment: string, decode: (segment: string, part: SegmentPart) => string): JwsHeader {
  if (segment.length > MAX_HEADER_LENGTH) throw malformed("The token header is too large.")
  const header = parseJsonObject(decode(segment, "header"), "header")
  for (const name of ["crit", "b64"]) {
    if (Object.hasOwn(header, name)) throw invalid(`The header parameter ${name} is not supported.`)
  }
  const { alg, kid, typ } = header
  // Stryker disable next-line ConditionalExpression: ALGORITHMS includes no non-string
  if (typeof alg !== "string" || !ALGORITHMS.includes(alg as Algorithm)) throw invalid("The token algorithm is not accepted.")
  if (typeof kid !== "string") throw invalid("The token header has no kid.")
  if (!isKid(kid)) throw invalid("The token kid is not one a key can have.")
  // Checked before the key, so that only an otherwise acceptable header can make managed keys reload.
  const type = typeof typ === "string" ? tokenType(typ) : undefined
  if (!type) throw invalid("The token header has no accepted typ.")
  return { alg: alg as Algorithm, kid, type }
}

/** A signature that did not verify: token_malformed if the token strays from base64url, else token_invalid. */
export function badSignature(signingInput: string, signature: string): AuthError {
  if (!SIGNING_INPUT.test(signingInput) || !isBase64url(signature)) return malformed("The token contains characters outside base64url.")
  return invalid("The signature is invalid.")
}

function tokenType(typ: string): TokenType | undefined {
  const media = typ.toLowerCase().replace(/^application\//, "")
  return media === "at+jwt" ? "access" : media === "rt+jwt" ? "refresh" : undefined
}

/** A segment's decoded text as a JSON object, or token_malformed. */
export function parseJsonObject(text: string, part: SegmentPart): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw malformed(`The token ${part} is not JSON.`)
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed(`The token ${part} is not a JSON object.`)
  }
  // RFC 7515 §4 lets a parser either reject duplicate names or keep the last: headers are rejected; payloads
  // (checked only after the signature, so written by a holder of the key) keep the last, as JSON.parse does.
  if (part === "header" && hasDuplicateMembers(text)) throw malformed("The token header has duplicate members.")
  return value as Record<string, unknown>
}

/** Whether a valid JSON object text repeats a member name at its top level. */
function hasDuplicateMembers(json: string): boolean {
  const seen = new Set<string>()
  let depth = 0
  // Stryker disable next-line EqualityOperator: one step past the end reads undefined, which matches nothing
  for (let i = 0; i < json.length; i++) {
    const char = json[i]
    if (char === '"') {
      const start = i
      for (i++; json[i] !== '"'; i++) if (json[i] === "\\") i++
      let next = i + 1
      while (json[next] === " " || json[next] === "\t" || json[next] === "\n" || json[next] === "\r") next++
      if (depth === 1 && json[next] === ":") {
        const name = JSON.parse(json.slice(start, i + 1)) as string
        if (seen.has(name)) return true
        seen.add(name)
      }
    } else if (char === "{" || char === "[") {
      depth++
    } else if (char === "}" || char === "]") {
      depth--
    }
  }
  return false
}

export function malformed(message: string): AuthError {
  return new AuthError("token_malformed", message)
}

export function invalid(message: string): AuthError {
  return new AuthError("token_invalid", message)
}
