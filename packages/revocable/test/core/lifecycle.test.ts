// Starting and closing: one start for every caller, again after a failure, none after close; operations wait for it.
import assert from "node:assert/strict"
import { describe, test } from "node:test"
import { Lifecycle } from "../../src/core/lifecycle.ts"

class StartFailed extends Error {}

/** A lifecycle whose start resolves, or rejects, when told. */
function controlled(): { lifecycle: Lifecycle; starts: () => number; finish(error?: Error): void } {
  let starts = 0
  let settle: (error?: Error) => void = () => undefined
  const lifecycle = new Lifecycle(
    () => {
      starts++
      return new Promise<void>((resolve, reject) => (settle = (error) => (error ? reject(error) : resolve())))
    },
    (cause) => new StartFailed("wrapped", { cause }),
  )
  return { lifecycle, starts: () => starts, finish: (error) => settle(error) }
}

describe("lifecycle", () => {
  test("ready() starts once for every caller, and operations run only once it has", async () => {
    const { lifecycle, starts, finish } = controlled()
    const ran: string[] = []
    const first = lifecycle.ready()
    const second = lifecycle.ready()
    const operation = lifecycle.run(async () => ran.push("operation"))
    await new Promise(setImmediate)
    assert.deepEqual(ran, [])
    finish()
    await Promise.all([first, second, operation])
    assert.equal(starts(), 1)
    assert.deepEqual(ran, ["operation"])
    assert.equal(lifecycle.started, true)
  })

  test("once started, run() calls the operation at once, without waiting a turn", async () => {
    const { lifecycle, finish } = controlled()
    const starting = lifecycle.ready()
    finish()
    await starting
    let called = false
    const result = lifecycle.run(async () => {
      called = true
      return 42
    })
    assert.equal(called, true)
    assert.equal(await result, 42)
  })

  test("a failed start rejects every waiter with the failure's error, and the next ready() starts again", async () => {
    const { lifecycle, starts, finish } = controlled()
    const waiting = [lifecycle.ready(), lifecycle.run(async () => "never")]
    finish(new Error("connect ECONNREFUSED"))
    for (const promise of waiting) {
      await assert.rejects(promise, (error: unknown) => error instanceof StartFailed && (error.cause as Error).message === "connect ECONNREFUSED")
    }
    assert.equal(lifecycle.started, false)
    const again = lifecycle.ready()
    finish()
    await again
    assert.equal(starts(), 2)
  })

  test("close() waits for a start under way; afterwards ready() rejects, and a second close() says so", async () => {
    const { lifecycle, finish } = controlled()
    void lifecycle.ready()
    let closed = false
    const closing = lifecycle.close().then((first) => {
      closed = true
      return first
    })
    await new Promise(setImmediate)
    assert.equal(closed, false)
    finish()
    assert.equal(await closing, true)
    await assert.rejects(lifecycle.ready(), /closed/)
    assert.equal(await lifecycle.close(), false)
  })
})
