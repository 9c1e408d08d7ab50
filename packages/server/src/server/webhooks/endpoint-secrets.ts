// The endpoints' signing secrets at rest. With a key-encryption key configured (keystore.ts), an endpoint's
// document keeps its secret wrapped under the newest one (keywrap.ts) and bound to the endpoint's id, as the
// signing keys and the server's own secrets (secrets.ts) are kept: a copy of the store alone forges no delivery.
// Without one it is kept in plaintext; one kept so before a KEK was configured still signs, and is wrapped at the
// next start or by `revocable keys rewrap`.
import { storeOperation, type ServerStore } from "revocable/stores"
import { unwrapKey, wrapKey, wrappedUnder, type KeyEncryptionKey } from "../keywrap.ts"
import { documents, ENDPOINTS } from "./collections.ts"
import type { EndpointRecord, WebhookEndpoint } from "./endpoints.ts"

/** How an endpoint's document keeps its secret (`whsec_<base64>`): in plaintext, or a compact JWE under a KEK. */
export type StoredSecret = { secret: string } | { wrappedSecret: string }

const ownerOf = (id: string) => ({ kid: `${ENDPOINTS}/${id}`, alg: "secret", label: `The secret of webhook ${id}` })

/** The endpoint's document: wrapped under `kek`, or in plaintext when none is configured. */
export function sealSecret(endpoint: WebhookEndpoint, secret: string, kek: KeyEncryptionKey | undefined): EndpointRecord {
  return kek === undefined ? { ...endpoint, secret } : { ...endpoint, wrappedSecret: wrapKey(secret, ownerOf(endpoint.id), kek) }
}

/** The endpoint's secret, unwrapped with whichever of `keks` wrapped it; throws an Error naming a missing KEK. */
export function openSecret(record: EndpointRecord, keks: readonly KeyEncryptionKey[]): string {
  return "wrappedSecret" in record ? unwrapKey(record.wrappedSecret, ownerOf(record.id), keks) : record.secret
}

/** The endpoint without its secret, in either form: what the API and the CLI show. */
export function withoutSecret(record: EndpointRecord): WebhookEndpoint {
  const { secret: _, wrappedSecret: __, ...endpoint } = record as WebhookEndpoint & { secret?: string; wrappedSecret?: string }
  return endpoint
}

/**
 * Wraps under the newest KEK each endpoint's secret that `select` picks by the KEK it is wrapped under (null: in
 * plaintext), after checking that every one opens; resolves the ids of the endpoints rewritten. Run beside
 * rewrapSecrets (keystore.ts): at start for those in plaintext, by `keys rewrap` for those not under the newest
 * KEK. A compare-and-set on each document: an endpoint removed meanwhile stays removed.
 */
export async function rewrapWebhookSecrets(store: ServerStore, keks: readonly KeyEncryptionKey[], select: (wrappedUnder: string | null) => boolean): Promise<string[]> {
  const current = keks[0]
  const done: string[] = []
  for await (const item of documents(store, ENDPOINTS)) {
    let text: string | null = item.json
    while (text !== null) {
      const record = JSON.parse(text) as EndpointRecord
      const secret = openSecret(record, keks)
      if (current === undefined || !select("wrappedSecret" in record ? wrappedUnder(record.wrappedSecret) : null)) break
      const expected: string = text
      if (await storeOperation(() => store.putDocument(ENDPOINTS, item.id, JSON.stringify(sealSecret(withoutSecret(record), secret, current)), expected))) {
        done.push(item.id)
        break
      }
      text = await storeOperation(() => store.getDocument(ENDPOINTS, item.id))
    }
  }
  return done
}
