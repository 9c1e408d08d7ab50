// Webhooks as an operator runs them: registering and removing an endpoint is in the audit log (admin API and CLI),
// deliveries and the outbox's backlog are in the metrics, and the purge trims each endpoint's history by count
// and by age, never a delivery still pending.
import assert from "node:assert/strict"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, describe, test } from "node:test"
import type { ServerStore } from "revocable/stores"
import { memoryStore } from "revocable/stores/memory"
import { sqliteStore } from "revocable/stores/sqlite"
import { loadConfig } from "../../src/server/config.ts"
import { createWebhooks, MAX_HISTORY, type WebhookSettings } from "../../src/server/webhooks/index.ts"
import { runCli } from "../fixtures/cli-run.ts"
import { call, freePort, signIn, testServer } from "../helpers/server.ts"
import { addEndpoint, adminOf, deliveries, receiver, revokeSession, until, WEBHOOK_ENV } from "../helpers/webhooks.ts"

const DAY = 86_400_000
const quiet = () => ({ info() {}, error() {} })
/** Loopback allowed; no retry: a failed attempt gives up at once. */
const SETTINGS: WebhookSettings = { ...loadConfig(WEBHOOK_ENV).webhooks, retryDelaysMs: [] }
const EVENT = { type: "key.rotated", subject: null, actor: null, sessionId: null, ip: null, userAgent: null, reason: null, details: null }

const dir = mkdtempSync(join(tmpdir(), "revocable-webhooks-ops-"))
after(() => rmSync(dir, { recursive: true, force: true }))

describe("audit", () => {
  test("registering and removing an endpoint through the admin API is recorded, with the admin and the endpoint, never its secret", async () => {
    const server = await testServer(WEBHOOK_ENV)
    try {
      const admin = await adminOf(server.url)
      const { id, secret } = await addEndpoint(server.url, admin, "http://127.0.0.1:9/hook", ["session.revoked", "user.deleted"])
      assert.equal((await call(server.url, "DELETE", `/admin/webhooks/${id}`, { token: admin })).status, 204)
      const shown = async (type: string) => (await call(server.url, "GET", `/admin/audit?type=${type}`, { token: admin })).body.items
      const [created] = await shown("webhook.created")
      const [deleted] = await shown("webhook.deleted")
      for (const [event, type] of [[created, "webhook.created"], [deleted, "webhook.deleted"]] as const) {
        assert.equal(event.type, type)
        assert.equal(event.actor, "admin")
        assert.deepEqual(event.details, { id, url: "http://127.0.0.1:9/hook", events: ["session.revoked", "user.deleted"] })
        assert.equal(JSON.stringify(event).includes(secret.slice("whsec_".length, 20)), false, "no part of the secret")
      }
      assert.equal((await call(server.url, "DELETE", `/admin/webhooks/${id}`, { token: admin })).status, 404)
      assert.equal((await shown("webhook.deleted")).length, 1, "a removal that found nothing records nothing")
    } finally {
      await server.close()
    }
  })

  test("registering and removing an endpoint with the CLI is recorded, with the CLI's actor", async () => {
    const path = join(dir, "audit.db")
    const env = { REVOCABLE_STORE: `sqlite:${path}`, REVOCABLE_WEBHOOKS_ALLOW_HTTP: "true", REVOCABLE_WEBHOOKS_ALLOW_PRIVATE: "true" }
    const server = await testServer(env, { store: sqliteStore({ path }) })
    await server.close()
    await server.store.close()
    const added = await runCli(["webhooks", "add", "http://127.0.0.1:9/cli", "--event", "key.rotated", "--json"], env)
    assert.equal(added.code, 0, added.stderr)
    const { id, secret } = JSON.parse(added.stdout)
    assert.equal((await runCli(["webhooks", "remove", id], env)).code, 0)
    for (const type of ["webhook.created", "webhook.deleted"]) {
      const listed = await runCli(["audit", "--type", type, "--json"], env)
      assert.equal(listed.code, 0, listed.stderr)
      const [event] = JSON.parse(listed.stdout).items
      assert.match(event.actor, /^cli:/)
      assert.deepEqual(event.details, { id, url: "http://127.0.0.1:9/cli", events: ["key.rotated"] })
      assert.equal(listed.stdout.includes(secret), false)
    }
  })
})

test("GET /metrics counts deliveries by outcome and shows the outbox's backlog", async () => {
  const server = await testServer({ ...WEBHOOK_ENV, REVOCABLE_WEBHOOKS_RETRY: "50ms" })
  const accepting = await receiver(() => 200)
  const refusing = await receiver(() => 500)
  const holding = await receiver(() => "hold")
  const metric = async (line: string) => {
    const scraped = await call(server.url, "GET", "/metrics")
    return new RegExp(`^${line.replace(/[{}]/g, "\\$&")} (\\d+)$`, "m").exec(scraped.text)?.[1]
  }
  try {
    const admin = await adminOf(server.url)
    for (const outcome of ["delivered", "failed", "gave_up"]) assert.equal(await metric(`revocable_webhook_deliveries_total{outcome="${outcome}"}`), "0")
    assert.equal(await metric("revocable_webhook_outbox_pending"), "0")

    const accepted = await addEndpoint(server.url, admin, accepting.url, ["session.revoked"])
    const refused = await addEndpoint(server.url, admin, refusing.url, ["session.revoked"])
    await revokeSession(server.url, admin, (await signIn(server.url, "alice")).session_id)
    await until(() => deliveries(server.url, admin, accepted.id), (items) => items[0]?.status === "delivered")
    // One retry: the first answer fails, the second gives up.
    await until(() => deliveries(server.url, admin, refused.id), (items) => items[0]?.status === "failed")
    assert.deepEqual(
      [await metric('revocable_webhook_deliveries_total{outcome="delivered"}'), await metric('revocable_webhook_deliveries_total{outcome="failed"}'), await metric('revocable_webhook_deliveries_total{outcome="gave_up"}')],
      ["1", "1", "1"],
    )

    await call(server.url, "DELETE", `/admin/webhooks/${accepted.id}`, { token: admin })
    await call(server.url, "DELETE", `/admin/webhooks/${refused.id}`, { token: admin })
    const held = await addEndpoint(server.url, admin, holding.url, ["session.revoked"])
    await revokeSession(server.url, admin, (await signIn(server.url, "bob")).session_id)
    const request = await holding.next()
    assert.equal(await metric("revocable_webhook_outbox_pending"), "1", "the delivery in flight still waits in the outbox")
    request.answer(200)
    await until(() => deliveries(server.url, admin, held.id), (items) => items[0]?.status === "delivered")
    assert.equal(await metric("revocable_webhook_outbox_pending"), "0")
    assert.equal(await metric('revocable_webhook_deliveries_total{outcome="delivered"}'), "2")
  } finally {
    await server.close()
    for (const hook of [accepting, refusing, holding]) await hook.close()
  }
})

describe("purge", () => {
  test("each endpoint's history keeps its newest deliveries up to the bound, then those within the retention; a pending one stays", async () => {
    const store = memoryStore()
    const webhooks = createWebhooks({ store, settings: SETTINGS, retentionMs: DAY, log: quiet, present: (event) => event })
    const { endpoint } = await webhooks.endpoints.create(`http://127.0.0.1:${await freePort()}/hook`, ["key.rotated"])
    const history = async () => (await webhooks.endpoints.deliveries(endpoint.id, { limit: MAX_HISTORY + 10 })).items
    try {
      for (let index = 0; index < MAX_HISTORY + 5; index++) await webhooks.enqueue(await store.appendAudit(EVENT))
      webhooks.start()
      // Refused, with no retry: each one fails at its first attempt.
      await until(history, (items) => items.every((item) => item.status === "failed"))
      await webhooks.stop()
      await webhooks.enqueue(await store.appendAudit(EVENT))

      const now = await store.now!()
      assert.equal(await webhooks.purge(now), 6, "past the bound: the six oldest")
      const kept = await history()
      assert.equal(kept.length, MAX_HISTORY)
      assert.equal(kept[0]?.status, "pending")
      assert.equal(await webhooks.purge(now), 0)
      assert.equal(await webhooks.purge(now + DAY + 1), MAX_HISTORY - 1, "past the retention: every finished one")
      assert.deepEqual((await history()).map((item) => item.status), ["pending"])
    } finally {
      await webhooks.stop()
      await store.close()
    }
  })

  test("a pending delivery whose outbox entry is gone is history like a finished one", async () => {
    const store = memoryStore()
    const webhooks = createWebhooks({ store, settings: SETTINGS, retentionMs: DAY, log: quiet, present: (event) => event })
    const { endpoint } = await webhooks.endpoints.create("http://127.0.0.1:9/hook", ["key.rotated"])
    await webhooks.enqueue(await store.appendAudit(EVENT))
    const [pending] = (await webhooks.endpoints.deliveries(endpoint.id, { limit: 10 })).items
    assert.equal(await webhooks.purge((await store.now!()) + 2 * DAY), 0, "still in the outbox")
    // As when the instance that finished it could not write its last state.
    await store.deleteDocument("webhook-outbox", pending?.id as string)
    assert.equal(await webhooks.purge((await store.now!()) + 2 * DAY), 1)
    await store.close()
  })

  test("the server's periodic purge trims the history as its clock passes the retention", async () => {
    let offset = 0
    const store = memoryStore({ clock: () => Date.now() + offset })
    const hook = await receiver(() => 200)
    const webhooks = createWebhooks({ store, settings: SETTINGS, retentionMs: DAY, log: quiet, present: (event) => event })
    try {
      const { endpoint } = await webhooks.endpoints.create(hook.url, ["key.rotated"])
      webhooks.start(10)
      await webhooks.enqueue(await store.appendAudit(EVENT))
      const history = () => webhooks.endpoints.deliveries(endpoint.id, { limit: 10 })
      await until(history, (page) => page.items[0]?.status === "delivered")
      offset = DAY + 1
      await until(history, (page) => page.items.length === 0)
    } finally {
      await webhooks.stop()
      await hook.close()
      await store.close()
    }
  })

  test("revocable purge trims the history past REVOCABLE_AUDIT_RETENTION, and leaves a pending delivery", async () => {
    const path = join(dir, "purge.db")
    const env = { REVOCABLE_STORE: `sqlite:${path}`, REVOCABLE_AUDIT_RETENTION: "1d" }
    const server = await testServer(env, { store: sqliteStore({ path }) })
    await server.close()
    // Deliveries made two days ago, by the store's clock.
    const old = aged(server.store, -2 * DAY)
    const webhooks = createWebhooks({ store: old, settings: SETTINGS, retentionMs: DAY, log: quiet, present: (event) => event })
    const { endpoint } = await webhooks.endpoints.create("http://127.0.0.1:9/hook", ["key.rotated"])
    const history = async () => (await webhooks.endpoints.deliveries(endpoint.id, { limit: 10 })).items
    for (let index = 0; index < 3; index++) await webhooks.enqueue(await old.appendAudit(EVENT))
    webhooks.start()
    await until(history, (items) => items.length === 3 && items.every((item) => item.status === "failed"))
    await webhooks.stop()
    await webhooks.enqueue(await old.appendAudit(EVENT))

    const purged = await runCli(["purge", "--json"], env)
    assert.equal(purged.code, 0, purged.stderr)
    assert.equal(JSON.parse(purged.stdout).removed, 3)
    assert.deepEqual((await history()).map((item) => item.status), ["pending"])
    await server.store.close()
  })
})

/** The store with its clock moved by `offsetMs`: what the webhooks date their deliveries by. */
function aged(store: ServerStore, offsetMs: number): ServerStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === "now") return async () => Date.now() + offsetMs
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === "function" ? value.bind(target) : value
    },
  })
}
