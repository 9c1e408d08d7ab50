// revocable/remote against a fleet (issue 15, point 7): two `revocable serve` instances on one PostgreSQL or
// Redis behind one address (a TCP balancer in the test, helpers.ts: each connection to the first instance that
// accepts it), and remote verifiers in processes of their own (fixtures/follower.ts) following the stream.
// - An instance killed: the verifier reconnects through the balancer to the other, without going stale, and
//   enforces what is revoked there; restarted, it serves again when the other is killed in turn.
// - The network to the instance cut (SIGSTOP): within maxStaleness the verifier answers, past it fails closed;
//   a revocation made meanwhile is enforced at the very moment contact is back, before any token is accepted.
// - A feed client with a wrong secret, or removed while it follows, is refused and says so (401 invalid_client).
// A slow subscriber holding up the others, or the server's memory: test/server/revocation-stream.test.ts ("a
// subscriber that never reads is dropped past its backlog bound, while another keeps receiving every change").
import assert from "node:assert/strict"
import { spawn, type ChildProcess } from "node:child_process"
import { createInterface } from "node:readline"
import { after, before, describe, test } from "node:test"
import { fileURLToPath } from "node:url"
import { createCluster, postgresBinaries } from "../../../revocable/test/helpers/postgres.ts"
import { startRedis } from "../../../revocable/test/helpers/redis.ts"
import { startProcess, type ServerProcess } from "../helpers/process.ts"
import { call, signIn, PASSWORD } from "../helpers/server.ts"
import { ADMIN_PASSWORD, claimsOf, feedClient, startBalancer, type Balancer } from "./helpers.ts"

const FOLLOWER = fileURLToPath(new URL("./fixtures/follower.ts", import.meta.url))
const cleanups: Array<() => Promise<void> | void> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

type Line = Record<string, unknown> & { event: string }

interface Follower {
  lines: Line[]
  /** The first line from now on, or already received and not yet taken, that matches. */
  next(match: (line: Line) => boolean): Promise<Line>
  verify(token: string): Promise<string>
  watch(token: string): Promise<void>
}

/** A verifier process following `issuer` with these credentials. */
function follower(issuer: string, credentials: { clientId: string; clientSecret: string }, maxStaleness: string): Follower {
  const child: ChildProcess = spawn(process.execPath, [FOLLOWER], {
    env: { ...process.env, ISSUER: issuer, CLIENT_ID: credentials.clientId, CLIENT_SECRET: credentials.clientSecret, MODE: "stream", MAX_STALENESS: maxStaleness },
    stdio: ["pipe", "pipe", "inherit"],
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  cleanups.push(async () => {
    child.stdin?.end()
    await exited
  })
  const lines: Line[] = []
  let taken = 0
  const waiters = new Set<() => void>()
  createInterface({ input: child.stdout! }).on("line", (text) => {
    lines.push(JSON.parse(text) as Line)
    for (const waiter of [...waiters]) waiter()
  })
  async function next(match: (line: Line) => boolean): Promise<Line> {
    for (;;) {
      for (; taken < lines.length; taken++) {
        const line = lines[taken] as Line
        if (match(line)) {
          taken++
          return line
        }
      }
      await new Promise<void>((resolve) => {
        const waiter = () => {
          waiters.delete(waiter)
          resolve()
        }
        waiters.add(waiter)
        exited.then(waiter)
      })
      if (child.exitCode !== null && taken >= lines.length) throw new Error(`the verifier process exited; it said: ${JSON.stringify(lines)}`)
    }
  }
  return {
    lines,
    next,
    async verify(token) {
      child.stdin!.write(`${JSON.stringify({ verify: token })}\n`)
      return (await next((line) => line.event === "verified")).outcome as string
    },
    async watch(token) {
      child.stdin!.write(`${JSON.stringify({ watch: token })}\n`)
      await next((line) => line.event === "watching")
    },
  }
}

const bin = postgresBinaries()
// Under CI a missing server fails the suite; elsewhere the PostgreSQL case is skipped.
const skipPostgres = bin === null && process.env.CI !== "true" ? "no PostgreSQL server binaries under /usr/lib/postgresql" : false

const STORES: Record<string, { skip: string | false; start(): Promise<string> }> = {
  redis: {
    skip: false,
    async start() {
      const server = await startRedis(["--appendonly", "yes", "--appendfsync", "always"])
      cleanups.push(() => server.destroy())
      return server.url
    },
  },
  postgres: {
    skip: skipPostgres,
    async start() {
      if (bin === null) throw new Error("PostgreSQL server binaries are missing under /usr/lib/postgresql.")
      const cluster = await createCluster(bin)
      cleanups.push(() => cluster.destroy())
      return cluster.url
    },
  },
}

const portOf = (server: ServerProcess) => Number(new URL(server.url).port)

for (const [name, store] of Object.entries(STORES)) {
  describe(`remote verifiers of two instances on ${name}`, { skip: store.skip }, () => {
    let balancer: Balancer
    let env: Record<string, string>
    let admin: string
    let credentials: { clientId: string; clientSecret: string }
    const instances: { a?: ServerProcess; b?: ServerProcess } = {}

    async function instance(): Promise<ServerProcess> {
      const server = await startProcess(env)
      cleanups.push(async () => {
        if (server.child.exitCode === null && server.child.signalCode === null) {
          server.child.kill("SIGKILL")
          await server.exited
        }
      })
      return server
    }
    const revokeSession = (on: ServerProcess, jwt: string) =>
      call(on.url, "POST", "/admin/revocations", { token: admin, json: { kind: "session", id: claimsOf(jwt).sid } })

    before(async () => {
      const storeUrl = await store.start()
      balancer = await startBalancer()
      cleanups.push(() => balancer.close())
      env = {
        // Every instance is the issuer at the balancer's address: what discovery names, and what tokens carry.
        REVOCABLE_ISSUER: balancer.url,
        REVOCABLE_STORE: storeUrl,
        REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true",
        REVOCABLE_ADMIN_PASSWORD: ADMIN_PASSWORD,
        REVOCABLE_STORE_TIMEOUT: "1s",
        REVOCABLE_MAX_STALENESS: "1s",
        REVOCABLE_LOGIN_LIMIT_ACCOUNT: "1000",
        REVOCABLE_LOGIN_LIMIT_IP: "1000",
      }
      // One after the other: the first makes the signing key that both share.
      const a = await instance()
      admin = (await signIn(a.url, "admin", ADMIN_PASSWORD, false)).access_token
      credentials = await feedClient({ url: a.url, admin })
      instances.a = a
      instances.b = await instance()
    })

    test("an instance killed: the verifier goes on with the other without going stale; restarted, it takes over again", async () => {
      const { a, b } = instances as Required<typeof instances>
      balancer.route([portOf(a), portOf(b)])
      const verifier = follower(balancer.url, credentials, "5s")
      await verifier.next((line) => line.event === "ready")
      const first = await signIn(a.url, `${name}-kill-1`)
      const second = await signIn(a.url, `${name}-kill-2`)
      assert.equal(await verifier.verify(first.access_token), "ok")

      a.child.kill("SIGKILL")
      await a.exited
      // Followed through the balancer, now to B: a snapshot from B (A's cursor means nothing there).
      await verifier.next((line) => line.event === "snapshot")
      assert.equal((await revokeSession(b, first.access_token)).status, 201)
      await verifier.next((line) => line.event === "revoked" && line.id === claimsOf(first.access_token).sid)
      assert.equal(await verifier.verify(first.access_token), "token_revoked")
      assert.equal(await verifier.verify(second.access_token), "ok")

      // A restarted, first in line again; B killed: the verifier moves back to A and follows it.
      const restarted = await instance()
      instances.a = restarted
      balancer.route([portOf(restarted), portOf(b)])
      b.child.kill("SIGKILL")
      await b.exited
      await verifier.next((line) => line.event === "snapshot")
      assert.equal((await revokeSession(restarted, second.access_token)).status, 201)
      await verifier.next((line) => line.event === "revoked" && line.id === claimsOf(second.access_token).sid)
      assert.equal(await verifier.verify(second.access_token), "token_revoked")
      assert.deepEqual(verifier.lines.filter((line) => line.event === "stale"), [], "contact never lapsed past maxStaleness")
      instances.b = await instance()
    })

    test("the network to the instance cut (SIGSTOP): served within maxStaleness, closed past it, and a revocation made meanwhile enforced at the first contact back", async () => {
      const { a, b } = instances as Required<typeof instances>
      // The verifier's only way to the fleet is A.
      balancer.route([portOf(a)])
      const verifier = follower(balancer.url, credentials, "2s")
      await verifier.next((line) => line.event === "ready")
      const doomed = await signIn(b.url, `${name}-cut`)
      const kept = await signIn(b.url, `${name}-cut`, PASSWORD, false)
      await verifier.watch(doomed.access_token)
      assert.equal(await verifier.verify(doomed.access_token), "ok")

      a.child.kill("SIGSTOP")
      try {
        // Just cut: the last contact is well within maxStaleness, and the replica answers.
        assert.equal(await verifier.verify(kept.access_token), "ok")
        // Revoked on B while the verifier cannot hear of it.
        assert.equal((await revokeSession(b, doomed.access_token)).status, 201)
        await verifier.next((line) => line.event === "stale")
        assert.equal(await verifier.verify(kept.access_token), "store_unavailable")
      } finally {
        a.child.kill("SIGCONT")
      }
      // The verify made as contact was counted again already refuses the token revoked meanwhile.
      const back = await verifier.next((line) => line.event === "fresh")
      assert.equal(back.outcome, "token_revoked")
      assert.equal(await verifier.verify(kept.access_token), "ok")
    })

    test("a feed client with a wrong secret, or removed while it follows, is refused and says so", async () => {
      const { a, b } = instances as Required<typeof instances>
      balancer.route([portOf(a), portOf(b)])
      const wrong = follower(balancer.url, { clientId: credentials.clientId, clientSecret: "not the secret" }, "2s")
      const refused = await wrong.next((line) => line.event === "refused" || line.event === "ready")
      assert.equal(refused.event, "refused")
      assert.equal(refused.status, 401)
      assert.match(refused.message as string, /token endpoint refused the verifier's client credentials \(401 invalid_client/)

      const own = await feedClient({ url: a.url, admin })
      const verifier = follower(balancer.url, own, "2s")
      await verifier.next((line) => line.event === "ready")
      const pair = await signIn(a.url, `${name}-removed`)
      assert.equal(await verifier.verify(pair.access_token), "ok")
      assert.equal((await call(b.url, "DELETE", `/admin/clients/${own.clientId}`, { token: admin })).status, 204)
      // The stream is ended at its next heartbeat; the token endpoint then refuses the client.
      const error = await verifier.next((line) => line.event === "error" && /invalid_client/.test(line.message as string))
      assert.match(error.message as string, /401 invalid_client/)
      await verifier.next((line) => line.event === "stale")
      assert.equal(await verifier.verify(pair.access_token), "store_unavailable")
    })
  })
}
