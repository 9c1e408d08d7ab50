// The strict decode of a token that core/tokens.ts does, with WebCrypto instead of node:crypto: the same checks
// (core/jws.ts) in the same order, so that a remote verify refuses a token with the same code as createAuth's.
import { isBase64url, isCanonicalBase64url } from "../core/base64url.ts"
import { badSignature, checkForm, invalid, malformed, parseJsonObject, readHeader, signingInputEnd, type SegmentPart } from "../core/jws.ts"
import type { TokenType } from "../core/keys.ts"
import type { RemoteKey } from "./jwks.ts"

const utf8 = new TextDecoder("utf-8", { fatal: true })
const ascii = new TextEncoder()

/** A token split and its header read: what is needed to pick its key. */
export interface DecodedToken {
  kid: string
  alg: string
  type: TokenType
  signingInput: string
  signature: string
  payloadSegment: string
}

/** Form and header checks; the key is looked up by the caller (an unknown kid may be worth a JWKS refetch). */
export function decodeToken(token: unknown): DecodedToken {
  checkForm(token)
  const first = token.indexOf(".")
  const second = signingInputEnd(token, first)
  const { alg, kid, type } = readHeader(token.slice(0, first), decodeSegment)
  return { kid, alg, type, signingInput: token.slice(0, second), signature: token.slice(second + 1), payloadSegment: token.slice(first + 1, second) }
}

/** Checks the signature with the token's key, then decodes the payload. */
export async function verifyDecoded(decoded: DecodedToken, key: RemoteKey): Promise<Record<string, unknown>> {
  if (key.alg !== decoded.alg) throw invalid("The token algorithm does not match its key.")
  const { signingInput, signature } = decoded
  const valid =
    signature.length === key.signatureLength &&
    isCanonicalBase64url(signature, key.signatureBytes) &&
    (await crypto.subtle.verify(key.verifyParams, key.cryptoKey, base64urlBytes(signature), ascii.encode(signingInput)))
  if (!valid) throw badSignature(signingInput, signature)
  return parseJsonObject(payloadJson(decoded), "payload")
}

/** The payload's JSON text. */
export function payloadJson(decoded: DecodedToken): string {
  return decodeSegment(decoded.payloadSegment, "payload")
}

function decodeSegment(segment: string, part: SegmentPart): string {
  const bytes = segment.length % 4 === 1 || !isBase64url(segment) ? null : base64urlBytes(segment)
  if (bytes === null) throw malformed(`The token ${part} is not base64url.`)
  try {
    return utf8.decode(bytes)
  } catch {
    throw malformed(`The token ${part} is not valid UTF-8.`)
  }
}

/** The bytes of a base64url text already checked against the alphabet. */
export function base64urlBytes(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4))
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}
