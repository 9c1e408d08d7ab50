// Webhook signing secrets at rest: with a key-encryption key (KEK) the endpoint's document holds the secret only
// wrapped, and deliveries still verify with the secret returned at registration; a secret stored in plaintext
// before a KEK was configured still signs, and is wrapped at the next start; `revocable keys rewrap` moves the
// secrets under a new KEK.
import assert from "node:assert/strict"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, test } from "node:test"
import { decodeProtectedHeader } from "jose"
import type { ServerStore } from "revocable/stores"
import { memoryStore } from "revocable/stores/memory"
import { sqliteStore } from "revocable/stores/sqlite"
import { loadConfig } from "../../src/server/config.ts"
import { openStore } from "../../src/server/engine.ts"
import { keyEncryptionKey, type KeyEncryptionKey } from "../../src/server/keywrap.ts"
import { createWebhooks } from "../../src/server/webhooks/index.ts"
import { runCli } from "../fixtures/cli-run.ts"
import { signIn, testServer } from "../helpers/server.ts"
import { addEndpoint, adminOf, receiver, revokeSession, until, verifySignature, WEBHOOK_ENV, type Received, type Receiver } from "../helpers/webhooks.ts"

const dir = mkdtempSync(join(tmpdir(), "revocable-webhook-secrets-"))
after(() => rmSync(dir, { recursive: true, force: true }))

const newKek = () => randomBytes(32).toString("base64")
const kekId = (kek: string) => keyEncryptionKey(Buffer.from(kek, "base64")).id
const settings = loadConfig(WEBHOOK_ENV).webhooks
const quiet = () => ({ info() {}, error() {} })
const EVENT = { type: "key.rotated", subject: null, actor: null, sessionId: null, ip: null, userAgent: null, reason: null, details: null }

/** The endpoint's document as the store holds it, and what it says of the secret. */
async function stored(store: ServerStore, id: string): Promise<{ text: string; kek: string | null }> {
  const text = (await store.getDocument("webhooks", id)) as string
  const { wrappedSecret } = JSON.parse(text) as { wrappedSecret?: string }
  return { text, kek: wrappedSecret === undefined ? null : String(decodeProtectedHeader(wrappedSecret).kid) }
}

/** Whether the document shows the secret, whole or its key bytes in base64 or hex. */
function shows(text: string, secret: string): boolean {
  const key = secret.slice("whsec_".length)
  return [secret, key, Buffer.from(key, "base64").toString("hex"), Buffer.from(key, "base64").toString("base64url")].some((form) => text.includes(form))
}

/** A server on `store`: a session revoked, and the delivery that `hook` receives for it. */
async function deliveredOn(store: ServerStore, hook: Receiver, register?: (url: string, admin: string) => Promise<void>) {
  const server = await testServer(WEBHOOK_ENV, { store })
  try {
    const admin = await adminOf(server.url)
    await register?.(server.url, admin)
    await revokeSession(server.url, admin, (await signIn(server.url, `user-${randomBytes(4).toString("hex")}`)).session_id)
    return await hook.next()
  } finally {
    await server.close()
  }
}

test("with a KEK the document holds the secret only wrapped, deliveries verify with the one returned; keys rewrap moves it to a new KEK", async () => {
  const path = join(dir, "kek.db")
  const first = newKek()
  const next = newKek()
  const hook = await receiver()
  let store = await openStore(loadConfig({ REVOCABLE_STORE: `sqlite:${path}`, REVOCABLE_KEY_ENCRYPTION_KEY: first }))
  try {
    let endpoint = { id: "", secret: "" }
    const request = await deliveredOn(store, hook, async (url, admin) => {
      endpoint = await addEndpoint(url, admin, hook.url, ["session.revoked"])
    })
    assert.ok(verifySignature(endpoint.secret, request.headers, request.body))
    const wrapped = await stored(store, endpoint.id)
    assert.equal(shows(wrapped.text, endpoint.secret), false, "the document does not hold the secret")
    assert.equal(wrapped.kek, kekId(first))
    await store.close()

    const rewrapped = await runCli(["keys", "rewrap"], { REVOCABLE_STORE: `sqlite:${path}`, REVOCABLE_KEY_ENCRYPTION_KEY: `${next},${first}` })
    assert.equal(rewrapped.code, 0, rewrapped.stderr)
    store = await openStore(loadConfig({ REVOCABLE_STORE: `sqlite:${path}`, REVOCABLE_KEY_ENCRYPTION_KEY: next }))
    assert.equal((await stored(store, endpoint.id)).kek, kekId(next), "under the new KEK alone")
    const again = await deliveredOn(store, hook)
    assert.ok(verifySignature(endpoint.secret, again.headers, again.body), "the same secret signs")
  } finally {
    await store.close()
    await hook.close()
  }
})

test("a secret stored in plaintext before a KEK was configured still signs, and the first start with a KEK wraps it", async () => {
  const path = join(dir, "upgrade.db")
  const hook = await receiver()
  const plain = sqliteStore({ path })
  await plain.open()
  const { endpoint, secret } = await createWebhooks({ store: plain, settings, retentionMs: 86_400_000, log: quiet, present: (event) => event }).endpoints.create(hook.url, ["session.revoked"])
  assert.ok(shows((await stored(plain, endpoint.id)).text, secret), "no KEK: in plaintext")
  await plain.close()
  // The KEK generated beside the database on first open.
  const store = await openStore(loadConfig({ REVOCABLE_STORE: `sqlite:${path}` }))
  try {
    const wrapped = await stored(store, endpoint.id)
    assert.ok(wrapped.kek !== null)
    assert.equal(shows(wrapped.text, secret), false)
    const request = await deliveredOn(store, hook)
    assert.ok(verifySignature(secret, request.headers, request.body))
  } finally {
    await store.close()
    await hook.close()
  }
})

test("a worker with the KEK signs with a plaintext secret too; one without it records why it cannot sign, and retries", async () => {
  const kek = keyEncryptionKey(randomBytes(32))
  const plain = memoryStore()
  const hook = await receiver()
  const options = { settings, retentionMs: 86_400_000, log: quiet, present: (event: unknown) => event }
  const plaintext = await createWebhooks({ ...options, store: plain }).endpoints.create(hook.url, ["key.rotated"])
  const wrapped = await createWebhooks({ ...options, store: keyed(plain, [kek]) }).endpoints.create(hook.url, ["key.rotated"])
  assert.equal((await stored(plain, plaintext.endpoint.id)).kek, null)
  assert.equal((await stored(plain, wrapped.endpoint.id)).kek, kek.id)
  const verifiedBy = (requests: Received[], secret: string) => requests.filter((entry) => verifySignature(secret, entry.headers, entry.body)).length

  const withKek = createWebhooks({ ...options, store: keyed(plain, [kek]) })
  try {
    withKek.start()
    await withKek.enqueue(await plain.appendAudit(EVENT))
    const signed = [await hook.next(), await hook.next()]
    assert.deepEqual([verifiedBy(signed, plaintext.secret), verifiedBy(signed, wrapped.secret)], [1, 1], "each verifies with its own secret")
  } finally {
    await withKek.stop()
  }

  const keyless = createWebhooks({ ...options, store: plain })
  try {
    keyless.start()
    await keyless.enqueue(await plain.appendAudit(EVENT))
    assert.equal(verifiedBy([await hook.next()], plaintext.secret), 1)
    const failing = await until(() => keyless.endpoints.deliveries(wrapped.endpoint.id, { limit: 1 }), (page) => (page.items[0]?.attempts ?? 0) >= 1)
    const [refused] = failing.items
    assert.equal(refused?.status, "pending")
    assert.match(refused?.lastError ?? "", new RegExp(`^The secret of webhook ${wrapped.endpoint.id} is wrapped under the key-encryption key ${kek.id}, which is not configured`))
    assert.equal(hook.requests.length, 3, "nothing unsigned was sent")
  } finally {
    await keyless.stop()
    await hook.close()
    await plain.close()
  }
})

/** The store as the server's store carries its KEKs (keystore.ts protectKeys). */
function keyed(store: ServerStore, keks: KeyEncryptionKey[]): ServerStore {
  return new Proxy(store, { get: (target, property) => (property === "keyEncryptionKeys" ? keks : Reflect.get(target, property, target)) })
}
