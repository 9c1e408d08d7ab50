// The revocation stream across a fleet (issue 15, point 7): two `revocable serve` processes on one PostgreSQL or
// Redis. A revocation made on one instance reaches the other's subscribers; a subscriber whose instance is
// killed resumes on the other one and gets a snapshot that holds what was revoked meanwhile; while the store is
// stopped (SIGSTOP) past maxStaleness the stream says `stale` and sends no heartbeat until the store is back.
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import { createCluster, postgresBinaries } from "../../../revocable/test/helpers/postgres.ts"
import { startRedis } from "../../../revocable/test/helpers/redis.ts"
import { startProcess, stopProcess, type ServerProcess } from "../helpers/process.ts"
import { call, signIn } from "../helpers/server.ts"
import { openStream, type EventStream, type StreamEvent } from "../helpers/sse.ts"

const ADMIN_PASSWORD = "the admin's long passphrase"
const cleanups: Array<() => Promise<void>> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

interface StoppableStore {
  url: string
  pause(): Promise<void> | void
  resume(): Promise<void> | void
}

const bin = postgresBinaries()
// Under CI a missing server fails the suite; elsewhere the PostgreSQL case is skipped.
const skipPostgres = bin === null && process.env.CI !== "true" ? "no PostgreSQL server binaries under /usr/lib/postgresql" : false

const STORES: Record<string, { skip: string | false; start(): Promise<StoppableStore> }> = {
  redis: {
    skip: false,
    async start() {
      const server = await startRedis(["--appendonly", "yes", "--appendfsync", "always"])
      cleanups.push(() => server.destroy())
      return server
    },
  },
  postgres: {
    skip: skipPostgres,
    async start() {
      if (bin === null) throw new Error("PostgreSQL server binaries are missing under /usr/lib/postgresql.")
      const cluster = await createCluster(bin)
      cleanups.push(() => cluster.destroy())
      return cluster
    },
  },
}

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1] as string, "base64url").toString())
const revokes = (kind: string, id: string) => (event: StreamEvent) =>
  event.event === "changes" && event.data.changes.some((change: { op: string; kind: string; id: string }) => change.op === "revoked" && change.kind === kind && change.id === id)
const holds = (snapshot: StreamEvent, kind: string, id: string) => snapshot.data.revocations.some((entry: { kind: string; id: string }) => entry.kind === kind && entry.id === id)

for (const [name, store] of Object.entries(STORES)) {
  describe(`the revocation stream of two instances on ${name}`, { skip: store.skip }, () => {
    let backend: StoppableStore
    let env: Record<string, string>
    const instances: { a?: ServerProcess; b?: ServerProcess } = {}
    let admin: string
    let reader: string

    async function instance(): Promise<ServerProcess> {
      const server = await startProcess(env)
      cleanups.push(async () => {
        if (server.child.exitCode === null && server.child.signalCode === null) await stopProcess(server)
      })
      return server
    }

    // Streams are left open, to end with their server: a fetch aborted makes undici open a spare connection,
    // which holds a server's close until its drain timeout.
    const subscribe = (on: ServerProcess, lastEventId?: string): Promise<EventStream> => openStream(on.url, reader, lastEventId === undefined ? {} : { lastEventId })

    before(async () => {
      backend = await store.start()
      env = {
        REVOCABLE_STORE: backend.url,
        REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true",
        REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD,
        REVOCABLE_STORE_TIMEOUT: "1s",
        REVOCABLE_MAX_STALENESS: "1s",
        REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000",
      }
      // One after the other: the first makes the signing key that both share.
      instances.a = await instance()
      instances.b = await instance()
      admin = (await signIn(instances.a.url, "admin", ADMIN_PASSWORD, false)).access_token
      const client = await call(instances.a.url, "POST", "/admin/clients", { token: admin, json: { name: "verifier", scopes: ["revocations:read"] } })
      assert.equal(client.status, 201)
      const token = await call(instances.a.url, "POST", "/oauth/token", {
        form: { grant_type: "client_credentials", client_id: client.body.client_id, client_secret: client.body.client_secret },
      })
      reader = token.body.access_token
    })

    test("a revocation made on instance A reaches a subscriber of instance B", async () => {
      const { a, b } = instances as Required<typeof instances>
      const stream = await subscribe(b)
      await stream.next((event) => event.event === "snapshot")
      const victim = await signIn(a.url, `${name}-across`)
      assert.equal((await call(a.url, "POST", "/auth/logout", { token: victim.access_token })).status, 204)
      await stream.next(revokes("session", claimsOf(victim.access_token).sid))
    })

    test("B killed: its subscriber resumes on A with a snapshot holding what was revoked meanwhile, and again on B restarted", async () => {
      const { a, b } = instances as Required<typeof instances>
      const earlier = await signIn(a.url, `${name}-before`)
      const stream = await subscribe(b)
      await stream.next((event) => event.event === "snapshot")
      b.child.kill("SIGKILL")
      await b.exited
      await stream.ended

      const meanwhile = await signIn(a.url, `${name}-meanwhile`)
      assert.equal((await call(a.url, "POST", "/auth/logout", { token: meanwhile.access_token })).status, 204)
      assert.equal((await call(a.url, "POST", "/auth/logout-all", { token: earlier.access_token })).status, 204)

      // B's cursor means nothing to A: a snapshot, which holds both revocations made while the subscriber was away.
      const onA = await subscribe(a, stream.lastEventId())
      const snapshot = await onA.next()
      assert.equal(snapshot.event, "snapshot")
      assert.ok(holds(snapshot, "session", claimsOf(meanwhile.access_token).sid))
      assert.ok(holds(snapshot, "subject", claimsOf(earlier.access_token).sub))

      instances.b = await instance()
      const later = await signIn(a.url, `${name}-later`)
      assert.equal((await call(a.url, "POST", "/auth/logout", { token: later.access_token })).status, 204)
      const onB = await subscribe(instances.b, onA.lastEventId())
      const again = await onB.next()
      assert.equal(again.event, "snapshot")
      for (const [kind, id] of [["session", claimsOf(meanwhile.access_token).sid], ["session", claimsOf(later.access_token).sid], ["subject", claimsOf(earlier.access_token).sub]] as const) {
        assert.ok(holds(again, kind, id), `${kind} ${id}`)
      }
      // And it follows B from there.
      const last = await signIn(a.url, `${name}-last`)
      assert.equal((await call(instances.b.url, "POST", "/auth/logout", { token: last.access_token })).status, 204)
      await onB.next(revokes("session", claimsOf(last.access_token).sid))
    })

    test("the store stopped past maxStaleness: `stale`, no heartbeat until it is back, then heartbeats again", async () => {
      const { a } = instances as Required<typeof instances>
      const stream = await subscribe(a)
      await stream.next((event) => event.event === "snapshot")
      await stream.next((event) => event.event === "heartbeat")

      await backend.pause()
      const stale = await stream.next((event) => event.event === "stale")
      // Readiness needs the store and waits for it: by its answer, several heartbeats' time has passed stale.
      const readiness = await call(a.url, "GET", "/readyz")
      const whileStopped = stream.events.length
      await backend.resume()
      assert.equal(stale.event, "stale")
      assert.equal(readiness.status, 503)
      const stopped = stream.events.slice(stream.events.indexOf(stale) + 1, whileStopped)
      assert.deepEqual(stopped.filter((event) => event.event === "heartbeat"), [])

      // Back in sync: a heartbeat, or a snapshot when the instance's store feed had to reconnect.
      const back = await stream.next((event) => event.event === "heartbeat" || event.event === "snapshot")
      assert.ok(back.id)
      await stream.next((event) => event.event === "heartbeat")
    })
  })
}
