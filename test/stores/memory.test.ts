import { memoryStore } from "../../src/stores/memory.ts"
import { storeConformance } from "./conformance.ts"

storeConformance("memory", {
  async create({ clock }) {
    const store = memoryStore({ clock })
    await store.open()
    return store
  },
})
