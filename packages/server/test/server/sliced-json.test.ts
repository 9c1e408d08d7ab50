// A snapshot's JSON made in slices: the same bytes as one JSON.stringify, with the event loop let in between.
import assert from "node:assert/strict"
import { test } from "node:test"
import { slicedJson } from "../../src/server/sliced-json.ts"

const entry = (i: number) => ({ kind: "token", id: `jti-${i}`, exp: 1_800_000_000 + i, ...(i % 7 === 0 ? { cutoff: i } : {}) })

test("slicedJson gives the bytes of JSON.stringify for no entry, one, a slice's worth, and slices and a part", async () => {
  for (const count of [0, 1, 10_000, 25_001]) {
    const entries = Array.from({ length: count }, (_, i) => entry(i))
    const bytes = await slicedJson('{"type":"snapshot","cursor":"e.1","revocations":[', entries, "]}")
    assert.equal(bytes.toString(), JSON.stringify({ type: "snapshot", cursor: "e.1", revocations: entries }), `${count} entries`)
  }
})

test("slicedJson lets the event loop in between slices: what was waiting runs before a large array is done", async () => {
  const order: string[] = []
  const serialized = slicedJson("[", Array.from({ length: 30_000 }, (_, i) => entry(i)), "]").then(() => order.push("serialized"))
  setImmediate(() => order.push("a waiting callback"))
  await serialized
  assert.deepEqual(order, ["a waiting callback", "serialized"])
})
