/**
 * The store contract as tests (`revocable/testing`): a store proves itself by calling storeConformance once from
 * a node:test file. Every built-in store runs it whole; a third-party store does the same.
 *
 * @example
 * import { storeConformance } from "revocable/testing"
 * storeConformance("mine", { create: async ({ clock }) => { const store = myStore({ clock }); await store.open(); return store } })
 */
import assert from "node:assert/strict"
import { afterEach, describe } from "node:test"
import type { Clock, Store } from "../core/store.ts"
import type { ServerStore } from "../stores/server-store.ts"
import { auditConformance } from "./audit-conformance.ts"
import { documentConformance } from "./document-conformance.ts"
import { feedConformance } from "./feed-conformance.ts"
import { T0 } from "./fixtures.ts"
import { keyConformance } from "./key-conformance.ts"
import { revocationConformance } from "./revocation-conformance.ts"
import { rotationConformance } from "./rotation-conformance.ts"
import { sessionConformance } from "./session-conformance.ts"

export { createInput, nextEvent, revocation, rotateInput, sessionInput } from "./fixtures.ts"

export interface ConformanceTarget {
  /** A fresh, empty, opened store, isolated from every other test, reading session times from `clock`. */
  create(options: { clock: Clock }): Promise<Store>
  /** A second opened store on the same data as `store` (another instance), for the change feed. */
  peer?(store: Store, options: { clock: Clock }): Promise<Store>
  /**
   * Whether the store also fulfils the server's extension ({@link ServerStore}: documents and rate-limit
   * windows), which is then tested too. Default true; false for a store made only for createAuth.
   */
  server?: boolean
}

export function storeConformance(name: string, target: ConformanceTarget): void {
  describe(`${name} store conformance`, () => {
    const opened: Store[] = []
    /** The store's clock: each test starts at T0 and moves it with `at`. */
    let time = T0
    const clock: Clock = () => time
    const at = (ms: number) => void (time = ms)
    async function fresh(): Promise<Store> {
      time = T0
      const store = await target.create({ clock })
      opened.push(store)
      return store
    }
    const makePeer = target.peer
    /** Another instance on the same data, closed with the others. */
    const peer = makePeer && (async (store: Store) => {
      const other = await makePeer(store, { clock })
      opened.push(other)
      return other
    })
    // Each test's stores are closed after it: a suite holding every store's connections open until its end would
    // run a server out of them (PostgreSQL's max_connections) as the suite grows.
    afterEach(async () => {
      for (const store of opened.splice(0).reverse()) await store.close().catch(() => undefined)
    })

    describe("revocations", () => revocationConformance({ fresh, at }))
    describe("sessions", () => sessionConformance({ fresh, at }))
    describe("rotation", () => rotationConformance({ fresh, at }))
    describe("keys", () => keyConformance({ fresh, at }))

    /** A fresh store that must fulfil the server's extension. */
    async function freshServer(): Promise<ServerStore> {
      const store = await fresh()
      for (const method of ["getDocument", "putDocument", "deleteDocument", "listDocuments", "hit"] as const) {
        assert.equal(typeof (store as Partial<ServerStore>)[method], "function", `a ServerStore has ${method}()`)
      }
      return store as ServerStore
    }
    // Registered only for a ServerStore: a library-only store has nothing here to skip.
    const describeServer: (name: string, body: () => void) => void = (target.server ?? true) ? (name, body) => describe(name, body) : () => undefined
    describeServer("documents and rate-limit windows", () => documentConformance({ fresh: freshServer, at }))
    describeServer("audit log", () => auditConformance({ fresh: freshServer, at, start: T0 }))

    describe("change feed", () => feedConformance({ fresh, at, peer }))
  })
}
