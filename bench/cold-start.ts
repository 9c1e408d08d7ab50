/**
 * Cold start with 1 000 000 live revocations: how long a `createAuth` instance on PostgreSQL and on Redis, and a
 * revocable/remote verifier fed by a real auth server, take to be ready, as a ratio to the bare driver (pg,
 * node-redis, fetch) reading the same data. Seeded in bulk in a fresh schema / namespace, dropped afterwards.
 *
 * @example
 * npm run bench -- cold-start
 */
import { generateKeyPairSync, randomBytes } from "node:crypto"
import { loadavg } from "node:os"
import { setTimeout as sleep } from "node:timers/promises"
import pg from "pg"
import { createClient } from "redis"
import { createAuth, type KeyInput, type Store } from "revocable"
import { postgresStore } from "revocable/stores/postgres"
import { redisStore } from "revocable/stores/redis"
import { remoteVerifier, type FeedMode } from "revocable/remote"
import { clientToken, registerClient, startRevocableServer, type RevocableServer } from "./fixtures/remote-server.ts"
import { collectGarbage, formatOps, formatRatio, median, quantile, table, type Section } from "./lib.ts"

export const name = "cold-start"

const REVOCATIONS = 1_000_000
const ROUNDS = 3
const TARGET_RATIO = 1.5
/** The stream's cold start is given this long (once) before it counts as not ready. */
const STREAM_TIMEOUT_MS = 90_000
const POSTGRES_URL = process.env.REVOCABLE_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test"
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const ISSUER = "https://auth.bench.test"
const SEED_CONCURRENCY = 2000
/** `revocable serve` loads every revocation into its own replica before it answers /readyz. */
const SERVER_READY_TIMEOUT_MS = 600_000
const REDIS_PAGE = 10_000

interface Remote {
  poll: Pair
  stream: { ms: number | null; rows: number }
  serverReadyMs: number
}

interface Pair {
  label: string
  bare: string
  ours: string
  /** ms per round. */
  bareMs: number[]
  oursMs: number[]
  rows: number
}

export async function run(): Promise<Section> {
  const id = randomBytes(4).toString("hex")
  const schema = `bench_cold_${id}`
  const namespace = `bench_cold_${id}`
  const key: KeyInput = { kid: "k1", alg: "EdDSA", privateKey: generateKeyPairSync("ed25519").privateKey }
  const admin = new pg.Client({ connectionString: POSTGRES_URL })
  await admin.connect()
  const redis = createClient({ url: REDIS_URL })
  redis.on("error", () => undefined)
  await redis.connect()
  let server: RevocableServer | undefined
  const seeding: string[] = []
  try {
    console.log("cold-start: seeding PostgreSQL...")
    seeding.push(await seedPostgres(admin, schema))
    const postgres = await measurePostgres(schema, key)
    console.log("cold-start: seeding Redis...")
    seeding.push(await seedRedis(namespace))
    const redisPair = await measureRedis(namespace, key)
    console.log("cold-start: remote...")
    let remote: Remote | string
    try {
      const serverStarted = performance.now()
      server = await startRevocableServer({ REVOCABLE_STORE: REDIS_URL, REVOCABLE_STORE_NAMESPACE: namespace, REVOCABLE_INSECURE_PLAINTEXT_KEYS: "true" }, SERVER_READY_TIMEOUT_MS)
      const serverReadyMs = performance.now() - serverStarted
      remote = { ...(await measureRemote(server)), serverReadyMs }
    } catch (error) {
      // The stores' figures stand on their own.
      remote = error instanceof Error ? error.message : String(error)
    }
    return { title: `Cold start with ${formatOps(REVOCATIONS)} live revocations`, body: report([postgres, redisPair], remote, seeding) }
  } finally {
    await server?.stop()
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined)
    await admin.end()
    for await (const keys of redis.scanIterator({ MATCH: `{${namespace}}*`, COUNT: 1000 })) if (keys.length > 0) await redis.unlink(keys)
    await redis.close()
  }
}

/** The store's own tables (its migrations, by opening it), then REVOCATIONS token rows in one INSERT … SELECT. */
async function seedPostgres(admin: pg.Client, schema: string): Promise<string> {
  const store = postgresStore({ connectionString: POSTGRES_URL }, { schema })
  await store.open()
  await store.close()
  const started = performance.now()
  const until = Date.now() + 3_600_000
  await admin.query(
    `INSERT INTO "${schema}".revocations (kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until)
     SELECT 'token', substr(md5(g::text), 1, 22), NULL, NULL, NULL, $1::bigint, $2::bigint + g, 0, $2::bigint + g FROM generate_series(1, $3) AS g`,
    [Date.now(), until, REVOCATIONS],
  )
  // VACUUM too: the first reader of rows just written would otherwise pay for setting their hint bits, and the
  // bare reader goes first.
  await admin.query(`VACUUM ANALYZE "${schema}".revocations`)
  return `PostgreSQL: one \`INSERT … SELECT … FROM generate_series\` (server-side, no round trip per row) and VACUUM ANALYZE, ${seconds(performance.now() - started)}`
}

/** Through the store's own `revoke` (its script keeps every index), SEED_CONCURRENCY calls in flight: pipelined. */
async function seedRedis(namespace: string): Promise<string> {
  const store = redisStore({ url: REDIS_URL }, { prefix: namespace, onWarning: () => undefined })
  await store.open()
  const started = performance.now()
  const createdAt = Date.now()
  const expiresAt = createdAt + 3_600_000
  let next = 0
  const worker = async () => {
    while (next < REVOCATIONS) {
      const i = next++
      // Expiries a millisecond apart, as revocations made over time have.
      await store.revoke({ kind: "token", id: `jti-${i.toString(36).padStart(18, "0")}`, subject: null, reason: null, actor: null, createdAt, expiresAt: expiresAt + i, replicaUntil: expiresAt + i })
    }
  }
  await Promise.all(Array.from({ length: SEED_CONCURRENCY }, worker))
  await store.close()
  return `Redis: the store's own \`revoke\` script, ${formatOps(SEED_CONCURRENCY)} calls in flight on one connection (node-redis pipelines them), ${seconds(performance.now() - started)}`
}

async function timed(step: () => Promise<number>): Promise<{ ms: number; rows: number }> {
  collectGarbage()
  const started = performance.now()
  const rows = await step()
  return { ms: performance.now() - started, rows }
}

async function measurePostgres(schema: string, key: KeyInput): Promise<Pair> {
  const labels = { label: "createAuth on PostgreSQL", bare: "pg: connect, one SELECT of the live rows", ours: "createAuth(postgresStore) until ready()" }
  return compare(
    labels,
    async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL })
      await client.connect()
      const { rows } = await client.query(`SELECT kind, id, subject, reason, actor, created_at, expires_at, cutoff, replica_until FROM "${schema}".revocations WHERE replica_until > $1`, [Date.now()])
      await client.end()
      return rows.length
    },
    () => authReady(postgresStore({ connectionString: POSTGRES_URL }, { schema }), key),
  )
}

async function measureRedis(namespace: string, key: KeyInput): Promise<Pair> {
  const labels = { label: "createAuth on Redis", bare: "node-redis: connect, pages of ZRANGEBYSCORE on the replica index, HGETALL of each (pipelined)", ours: "createAuth(redisStore) until ready()" }
  return compare(
    labels,
    async () => {
      const client = createClient({ url: REDIS_URL })
      await client.connect()
      let rows = 0
      let after = `(${Date.now()}`
      for (;;) {
        const page = await client.zRangeByScoreWithScores(`{${namespace}}:rp`, after, "+inf", { LIMIT: { offset: 0, count: REDIS_PAGE } })
        const hashes = await Promise.all(page.map(({ value }) => client.hGetAll(`{${namespace}}:r:${value}`)))
        rows += hashes.length
        if (page.length < REDIS_PAGE) break
        after = `(${(page.at(-1) as { score: number }).score}`
      }
      await client.close()
      return rows
    },
    () => authReady(redisStore({ url: REDIS_URL }, { prefix: namespace, onWarning: () => undefined }), key),
  )
}

/** A new createAuth instance on `store` (a static key, no purge timer) until ready: the entries its replica holds. */
async function authReady(store: Store, key: KeyInput): Promise<number> {
  const auth = createAuth({ issuer: ISSUER, audience: "api", store, keys: [key], purgeInterval: false })
  await auth.ready()
  const size = auth.replicaStatus().entries
  await auth.close()
  return size
}

/** ROUNDS of the bare reader then ours, each timed alone; ours counts -1 when it never got ready (Infinity). */
async function compare(labels: Pick<Pair, "label" | "bare" | "ours">, bare: () => Promise<number>, ours: () => Promise<number>): Promise<Pair> {
  const pair: Pair = { ...labels, bareMs: [], oursMs: [], rows: 0 }
  for (let round = 0; round < ROUNDS; round++) {
    const bareRound = await timed(bare)
    const oursRound = await timed(ours)
    pair.bareMs.push(bareRound.ms)
    pair.oursMs.push(oursRound.rows < 0 ? Infinity : oursRound.ms)
    pair.rows = Math.min(bareRound.rows, oursRound.rows)
  }
  return pair
}

async function measureRemote(server: RevocableServer): Promise<{ poll: Pair; stream: { ms: number | null; rows: number } }> {
  const client = await registerClient(server, ["revocations:read"])
  const token = await clientToken(server.url, client)
  const fetchSnapshot = async () => {
    const response = await fetch(`${server.url}/revocations`, { headers: { authorization: `Bearer ${token}`, accept: "application/json" } })
    const body = (await response.json()) as { revocations?: unknown[] }
    if (response.status !== 200 || !Array.isArray(body.revocations)) throw new Error(`GET /revocations answered ${response.status}`)
    return body.revocations.length
  }
  // The server's feed loads its snapshot from the store at its first read: not a verifier's cost. Until its
  // replica is in sync it answers 503 (seen right after /readyz with a million revocations): waited for here.
  const deadline = performance.now() + SERVER_READY_TIMEOUT_MS
  for (;;) {
    try {
      await fetchSnapshot()
      break
    } catch (error) {
      if (performance.now() > deadline) throw error
      await sleep(1000)
    }
  }
  const verifierReady = async (mode: FeedMode, timeoutMs: number) => {
    const verifier = remoteVerifier({ issuer: server.url, ...client, mode })
    try {
      const ready = await Promise.race([verifier.ready.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref())])
      return ready ? verifier.status().size : -1
    } finally {
      await verifier.close()
    }
  }
  const labels = { label: "revocable/remote (poll mode)", bare: "fetch: GET /revocations with a bearer token, response.json()", ours: 'remoteVerifier({ mode: "poll" }) until ready (discovery, JWKS, client_credentials token, snapshot)' }
  const pair = await compare(labels, fetchSnapshot, () => verifierReady("poll", STREAM_TIMEOUT_MS))
  // The server serializes its stream's snapshot frame at the first subscriber, as it did its poll answer at the
  // read above: one untimed attempt first, so that the timed one measures the verifier, as the poll rounds do.
  await verifierReady("stream", STREAM_TIMEOUT_MS)
  const stream = await timed(() => verifierReady("stream", STREAM_TIMEOUT_MS))
  return { poll: pair, stream: { ms: stream.rows < 0 ? null : stream.ms, rows: stream.rows } }
}

function seconds(ms: number): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "not ready"
}

function report(stores: readonly Pair[], remote: Remote | string, seeding: readonly string[]): string {
  const pairs = typeof remote === "string" ? stores : [...stores, remote.poll]
  const rows: string[][] = []
  const ratioRows: string[][] = []
  const verdicts: string[][] = []
  for (const pair of pairs) {
    rows.push([pair.label, pair.bare, `${seconds(median(pair.bareMs))} (${pair.bareMs.map(seconds).join(" / ")})`, pair.ours, `${seconds(median(pair.oursMs))} (${pair.oursMs.map(seconds).join(" / ")})`, formatOps(pair.rows)])
    const ratios = pair.oursMs.map((ms, round) => ms / (pair.bareMs[round] as number))
    const low = quantile(ratios, 0.25)
    const high = quantile(ratios, 0.75)
    const described = `${formatRatio(median(ratios))} (${formatRatio(low)} to ${formatRatio(high)})`
    ratioRows.push([pair.label, described])
    // Lower is better here: met when even the third quartile is within the goal.
    const outcome = high <= TARGET_RATIO ? "met" : low > TARGET_RATIO ? "**not met**" : "**uncertain**"
    verdicts.push([`${pair.label}: time to ready / bare`, `<= ${formatRatio(TARGET_RATIO)}`, described, outcome])
  }
  const remoteText =
    typeof remote === "string"
      ? `revocable/remote: **not measured**: ${remote}`
      : `The auth server itself (\`revocable serve\` on Redis, its replica loaded from the store) answered /readyz ${seconds(remote.serverReadyMs)} after its process was started. Stream mode (the verifier's default, \`mode: "stream"\`, one attempt after an untimed one, which had the server serialize its stream snapshot as the read before the poll rounds did its poll answer): ${
          remote.stream.ms === null
            ? `**not ready within ${STREAM_TIMEOUT_MS / 1000} s**`
            : `${seconds(remote.stream.ms)} (${formatOps(remote.stream.rows)} entries), ${formatRatio(remote.stream.ms / median(remote.poll.bareMs))} the median bare fetch`
        }.`
  const met = verdicts.filter((row) => row[3] === "met").length
  const load = loadavg()
    .map((value) => value.toFixed(2))
    .join(" ")
  return [
    `${formatOps(REVOCATIONS)} live token revocations (22-character ids, an hour to live, expiries a millisecond apart), and the time until each reader holds them all. Seeded once, before any timing: ${seeding.join("; ")}. PostgreSQL in a fresh schema of database \`test\`, Redis under a fresh namespace; both dropped afterwards.`,
    "",
    "- createAuth: a new instance (static EdDSA key, `purgeInterval: false`) on a new store object until `await auth.ready()`: the store opened (connection, schema check), the keys, and the snapshot of live revocations loaded into the replica; the entries it holds are counted from `replicaStatus().entries`. The bare driver reads the same rows with nothing around it: pg's one query (rows parsed into objects, all columns the store reads), node-redis's pages of the replica index and each revocation's hash.",
    "- revocable/remote: a real auth server, `revocable serve` on the Redis namespace above (its own replica of them all loaded at its start), in its own process; its feed was read once before the timing, so the server holds its snapshot. A new `remoteVerifier` until `ready`: discovery, JWKS, a client_credentials token, the snapshot parsed and loaded. The bare reader is fetch of the same snapshot (`GET /revocations`, the token already at hand) and `response.json()`.",
    `- ${ROUNDS} rounds, bare then ours, a full garbage collection before each; a ratio is the median of the per-round ratios, with its quartiles. All in the suite's process.`,
    "",
    table(["reader", "bare", "bare: median (rounds)", "revocable", "revocable: median (rounds)", "entries"], rows),
    "",
    remoteText,
    "",
    "### Targets",
    "",
    table(["target", "wanted", "measured: median (quartiles)", "verdict"], verdicts),
    "",
    "A goal of at most 1.5x is met when even the third quartile of the per-round ratios is within it, not met when the first quartile is over it, and uncertain in between.",
    "",
    met === verdicts.length ? "All targets are met in this run." : `${met} of ${verdicts.length} targets are met in this run.`,
    "",
    `Noise: 2 cores shared with other work (load average at the end: ${load}) carry this process, PostgreSQL, Redis and the auth server; ${ROUNDS} rounds of multi-second reads give coarse medians. Read the ratios, not the times, across runs.`,
  ].join("\n")
}
