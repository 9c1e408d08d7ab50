import type { Store } from "../../src/core/store.ts"
import { memoryStore } from "../../src/stores/memory.ts"
import { storeConformance } from "../../src/testing/conformance.ts"

storeConformance("memory", {
  async create({ clock }) {
    const store = memoryStore({ clock })
    await store.open()
    return store
  },
})

// A store made only for createAuth: the library's contract, without the server's documents and counters.
storeConformance("library-only", {
  server: false,
  async create({ clock }) {
    const inner = memoryStore({ clock })
    const { getDocument, putDocument, deleteDocument, listDocuments, hit, ...contract } = inner
    const store: Store = { ...contract, name: inner.name, heartbeatMs: inner.heartbeatMs }
    await store.open()
    return store
  },
})
