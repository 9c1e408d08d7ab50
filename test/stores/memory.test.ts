import { memoryStore } from "../../src/stores/memory.ts"
import { storeConformance } from "./conformance.ts"

storeConformance("memory", {
  async create() {
    const store = memoryStore()
    await store.open()
    return store
  },
})
