/**
 * The replica holding 1 000 000 live token revocations: the memory it takes and the lookups it answers per
 * second, against a `Set` of the same number of jti strings.
 *
 * @example
 * npm run bench -- replica
 */
import assert from "node:assert/strict"
import { randomUUID } from "node:crypto"
import { randomId } from "../packages/revocable/src/core/ids.ts"
import { IdSet } from "../packages/revocable/src/core/idset.ts"
import { Replica } from "../packages/revocable/src/core/replica.ts"
import type { Revocation } from "revocable/stores"
import { collectGarbage, compare, formatOps, formatRatio, medianOps, ratio, table, type Section } from "./lib.ts"

export const name = "replica"

const ENTRIES = 1_000_000
/** Queries cycled through by the lookup loops: half hits, half misses, shuffled. */
const QUERIES = 1 << 16
const ROUNDS = 9
const ROUND_MS = 250
const WARMUP_MS = 500
const MEMORY_TARGET = 32_000_000
const LOOKUP_TARGET = 1_000_000
const MB = 1_000_000

const REPLICA = "Replica.isRevoked"
const IDSET = "IdSet.has"
const SET = "Set.has"

/** What the JavaScript heap and ArrayBuffer backing stores hold, after full collections. */
function retained(): { heap: number; buffers: number } {
  collectGarbage()
  collectGarbage()
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  return { heap: heapUsed, buffers: arrayBuffers }
}

interface Footprint {
  heap: number
  buffers: number
  total: number
}

/** The memory `make` leaves retained, as long as `keep` holds its result. */
function footprint<T>(make: () => T, keep: (value: T) => void): Footprint {
  const before = retained()
  const value = make()
  const after = retained()
  keep(value)
  const heap = after.heap - before.heap
  const buffers = after.buffers - before.buffers
  return { heap, buffers, total: heap + buffers }
}

export async function run(): Promise<Section> {
  const expiresAt = Date.now() + 3_600_000
  // The ids exist before either measurement: the replica keeps fingerprints, not these strings.
  const ids = Array.from({ length: ENTRIES }, () => randomId())

  let replica: Replica | undefined
  const replicaMemory = footprint(
    () => {
      const made = new Replica()
      for (const id of ids) made.add(tokenRevocation(id, expiresAt))
      return made
    },
    (made) => (replica = made),
  )
  assert.ok(replica)
  assert.equal(replica.size, ENTRIES)

  let idset: IdSet | undefined
  const idsetMemory = footprint(
    () => {
      const made = new IdSet()
      for (const id of ids) made.set(id, expiresAt)
      return made
    },
    (made) => (idset = made),
  )
  assert.ok(idset)
  assert.equal(idset.size, ENTRIES)

  // A Set owns its strings: each is made inside the measurement, of the same shape as a jti.
  let jtiSet: Set<string> | undefined
  const setMemory = footprint(
    () => {
      const made = new Set<string>()
      for (let i = 0; i < ENTRIES; i++) made.add(randomId())
      return made
    },
    (made) => (jtiSet = made),
  )
  assert.ok(jtiSet)
  assert.equal(jtiSet.size, ENTRIES)

  let uuidSet: Set<string> | undefined
  const uuidMemory = footprint(
    () => {
      const made = new Set<string>()
      // randomUUID() returns a string concatenated from pieces: flatten it, as one read from JSON would be.
      for (let i = 0; i < ENTRIES; i++) made.add(copy(randomUUID()))
      return made
    },
    (made) => (uuidSet = made),
  )
  assert.equal(uuidSet?.size, ENTRIES)
  uuidSet = undefined

  const lookups = await measureLookups(replica, idset, jtiSet, ids)
  return { title: "Replica: 1 000 000 live revocations", body: report(replicaMemory, idsetMemory, idset.byteLength, setMemory, uuidMemory, lookups) }
}

function tokenRevocation(id: string, expiresAt: number): Revocation {
  return { kind: "token", id, subject: null, reason: null, actor: null, createdAt: expiresAt - 3_600_000, expiresAt, cutoff: 0 }
}

/** A new string with the same characters: a parsed token's jti is never the very string stored. */
function copy(id: string): string {
  return Buffer.from(id, "latin1").toString("latin1")
}

interface Lookups {
  result: Awaited<ReturnType<typeof compare>>
  hits: number
}

async function measureLookups(replica: Replica, idset: IdSet, jtiSet: Set<string>, ids: readonly string[]): Promise<Lookups> {
  const setIds = [...jtiSet]
  const replicaQueries: string[] = []
  const setQueries: string[] = []
  for (let i = 0; i < QUERIES; i++) {
    if (i % 2 === 0) {
      const at = Math.floor(Math.random() * ENTRIES)
      replicaQueries.push(copy(ids[at] as string))
      setQueries.push(copy(setIds[at] as string))
    } else {
      const miss = randomId()
      replicaQueries.push(miss)
      setQueries.push(copy(miss))
    }
  }
  shuffle(replicaQueries, setQueries)
  setIds.length = 0

  let hits = 0
  for (let i = 0; i < QUERIES; i++) {
    const query = replicaQueries[i] as string
    const revoked = replica.isRevoked(query, query, "subject", 0, "kid")
    assert.equal(idset.has(query), revoked)
    assert.equal(jtiSet.has(setQueries[i] as string), revoked)
    if (revoked) hits++
  }
  assert.equal(hits, QUERIES / 2)

  const mask = QUERIES - 1
  let r = 0
  let s = 0
  let t = 0
  const result = await compare(
    [
      {
        name: REPLICA,
        op: () => {
          const query = replicaQueries[r++ & mask] as string
          return replica.isRevoked(query, query, "subject", 0, "kid")
        },
      },
      { name: IDSET, op: () => idset.has(replicaQueries[s++ & mask] as string) },
      { name: SET, op: () => jtiSet.has(setQueries[t++ & mask] as string) },
    ],
    { rounds: ROUNDS, roundMs: ROUND_MS, warmupMs: WARMUP_MS },
  )
  return { result, hits }
}

/** The same permutation applied to both arrays, so that query i is a hit in both or a miss in both. */
function shuffle(a: string[], b: string[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[a[i], a[j]] = [a[j] as string, a[i] as string]
    ;[b[i], b[j]] = [b[j] as string, b[i] as string]
  }
}

function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`
}

function perEntry(bytes: number): string {
  return `${(bytes / ENTRIES).toFixed(1)} B`
}

function report(replica: Footprint, idset: Footprint, idsetBytes: number, jtiSet: Footprint, uuidSet: Footprint, lookups: Lookups): string {
  const { result } = lookups
  const memoryRows = [
    ["`Replica`, 1M token revocations", mb(replica.heap), mb(replica.buffers), mb(replica.total), perEntry(replica.total)],
    ["`IdSet` alone (`byteLength` " + mb(idsetBytes) + ")", mb(idset.heap), mb(idset.buffers), mb(idset.total), perEntry(idset.total)],
    ["`Set` of 1M jti strings (22 characters)", mb(jtiSet.heap), mb(jtiSet.buffers), mb(jtiSet.total), perEntry(jtiSet.total)],
    ["`Set` of 1M UUID strings (36 characters)", mb(uuidSet.heap), mb(uuidSet.buffers), mb(uuidSet.total), perEntry(uuidSet.total)],
  ]
  const lookupRows = result.names.map((contender) => [
    contender,
    formatOps(medianOps(result, contender)),
    contender === SET ? "-" : describe(ratio(result, contender, SET)),
  ])
  const replicaOps = medianOps(result, REPLICA)
  const verdicts = [
    ["replica memory, 1M live token revocations", `<= ${mb(MEMORY_TARGET)}`, mb(replica.total), replica.total <= MEMORY_TARGET ? "met" : "**not met**"],
    ["`Replica.isRevoked` lookups, half hits", `>= ${formatOps(LOOKUP_TARGET)}/s`, `${formatOps(replicaOps)}/s`, replicaOps >= LOOKUP_TARGET ? "met" : "**not met**"],
  ]
  const met = verdicts.filter((row) => row[3] === "met").length
  return [
    `The replica (src/core/replica.ts) loaded with ${formatOps(ENTRIES)} live token revocations, each added as a feed event would add it; the table under it is an \`IdSet\` (src/core/idset.ts): 64-bit fingerprints and a 32-bit expiry per slot, at most 60 % full.`,
    "",
    "### Memory",
    "",
    "MB here is 10^6 bytes. Method: full GC (`gc()`, exposed at run time with `v8.setFlagsFromString`), then `process.memoryUsage()` before and after building the structure, which is kept alive past the second reading. \"Heap\" is the `heapUsed` delta (JS objects); \"buffers\" is the `arrayBuffers` delta: the `IdSet`'s typed arrays live outside the V8 heap, so `heapUsed` alone would hide them, and both are counted. The jti strings given to the replica exist before its measurement and are not counted: it keeps fingerprints, not strings. Each `Set` owns its strings, made inside its measurement.",
    "",
    table(["structure", "heap", "buffers", "total", "per entry"], memoryRows),
    "",
    `The replica takes ${formatRatio(replica.total / jtiSet.total)} the memory of a Set of the same jti strings (${formatRatio(jtiSet.total / replica.total)} less), and ${formatRatio(replica.total / uuidSet.total)} that of a Set of UUIDs (${mb(uuidSet.total)}, that is ${(uuidSet.total / 2 ** 20).toFixed(1)} MiB: the issue's ~73 MB). While the table doubles (from 2^20 to 2^21 slots on the way to 1M entries) the old and new arrays are both held for a moment: a transient peak of about ${mb(idsetBytes * 1.5)} (computed, not measured).`,
    "",
    "### Lookups",
    "",
    `Queries cycle through ${formatOps(QUERIES)} jti strings, half revoked (hits) and half not (misses), shuffled; each is a copy, not the string stored, as a jti parsed from a token would be. \`Replica.isRevoked\` is the whole per-verify check (token, session, key and subject); \`IdSet.has\` is the token table alone; \`Set.has\` is the same queries against the Set of jti strings. V8 caches a string's hash in the string, so repeated Set queries skip hashing, which a freshly parsed jti would not: the Set's figure is favourable to it.`,
    "",
    `Method: ${WARMUP_MS} ms warm-up per contender, then ${ROUNDS} interleaved rounds of ${ROUND_MS} ms per contender, a full GC before each; median lookups/s, ratio to the Set as the median of per-round ratios (range).`,
    "",
    table(["lookup", "median lookups/s", "vs Set.has (per-round range)"], lookupRows),
    "",
    "### Targets",
    "",
    table(["target", "wanted", "measured", "verdict"], verdicts),
    "",
    met === verdicts.length ? "Both targets are met in this run." : `${met} of ${verdicts.length} targets are met in this run.`,
  ].join("\n")
}

function describe({ median, min, max }: { median: number; min: number; max: number }): string {
  return `${formatRatio(median)} (${formatRatio(min)} to ${formatRatio(max)})`
}
