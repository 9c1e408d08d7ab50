// What the remote verifier's tests share: Ed25519 keys published as JWKs, tokens signed with them, and a verify's
// outcome as a word.
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from "node:crypto"
import type { RemoteVerifier } from "../../src/remote/index.ts"

export interface SigningKey {
  privateKey: KeyObject
  jwk: JsonWebKey & { kid: string }
}

export function keyPair(kid: string = randomUUID()): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519")
  return { privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" } }
}

/** An access token of `key` with these claims (and nothing else). */
export function signAccessToken(key: SigningKey, claims: Record<string, unknown>): string {
  const header = Buffer.from(JSON.stringify({ alg: "EdDSA", kid: key.jwk.kid, typ: "at+jwt" })).toString("base64url")
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url")
  return `${header}.${payload}.${sign(null, Buffer.from(`${header}.${payload}`), key.privateKey).toString("base64url")}`
}

/** "ok", or the AuthError code verify rejected with. */
export async function outcome(verifier: RemoteVerifier, jwt: string): Promise<string> {
  return verifier.verify(jwt).then(
    () => "ok",
    (error: { code?: string }) => error.code ?? String(error),
  )
}
