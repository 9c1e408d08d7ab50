// Hand-crafted JWS compact tokens for attack tests: any header or payload text, signed any way (or not at all).
import { constants, createHmac, sign, type KeyObject } from "node:crypto"

/** Makes the signature segment (base64url) for a signing input. */
export type Signer = (signingInput: string) => string

export type Part = string | Uint8Array | Record<string, unknown> | unknown[]

/** A part's base64url segment: objects are JSON-encoded, strings taken as the exact JSON text, bytes as is. */
export function segment(part: Part): string {
  if (part instanceof Uint8Array) return Buffer.from(part).toString("base64url")
  return Buffer.from(typeof part === "string" ? part : JSON.stringify(part)).toString("base64url")
}

export function forge(header: Part, payload: Part, signer: Signer): string {
  const signingInput = `${segment(header)}.${segment(payload)}`
  return `${signingInput}.${signer(signingInput)}`
}

/** HMAC-SHA256 with whatever key material is given: a secret, or an attacker's choice such as a public PEM. */
export function hs256(key: string | Uint8Array | KeyObject): Signer {
  return (input) => createHmac("sha256", key).update(input).digest("base64url")
}

/** A real asymmetric signature: `alg` picks the digest and padding; ES256 signatures are IEEE P1363 unless told. */
export function signWith(alg: "EdDSA" | "ES256" | "RS256" | "PS256", privateKey: KeyObject, options: { dsaEncoding?: "der" | "ieee-p1363" } = {}): Signer {
  return (input) => {
    const data = Buffer.from(input)
    switch (alg) {
      case "EdDSA":
        return sign(null, data, privateKey).toString("base64url")
      case "ES256":
        return sign("sha256", data, { key: privateKey, dsaEncoding: options.dsaEncoding ?? "ieee-p1363" }).toString("base64url")
      case "RS256":
        return sign("sha256", data, privateKey).toString("base64url")
      case "PS256":
        return sign("sha256", data, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }).toString("base64url")
    }
  }
}

/** A fixed signature segment, "" for none at all. */
export function unsigned(signature = ""): Signer {
  return () => signature
}

/** The three segments of a compact token. */
export function split(token: string): [string, string, string] {
  const parts = token.split(".")
  if (parts.length !== 3) throw new Error(`expected 3 segments, got ${parts.length}`)
  return parts as [string, string, string]
}

/** The JSON of a segment. */
export function decode(segmentText: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segmentText, "base64url").toString()) as Record<string, unknown>
}
