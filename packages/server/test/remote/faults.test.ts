// revocable/remote when the server stops answering or restarts (issue 15, point 7): fails closed past
// maxStaleness, serves within it, reconnects, and enforces what was revoked while it was away before it accepts
// any token again.
import assert from "node:assert/strict"
import { after, describe, test } from "node:test"
import { remoteVerifier, type RemoteVerifier } from "revocable/remote"
import { runCli } from "../fixtures/cli-run.ts"
import { PASSWORD, signIn } from "../helpers/server.ts"
import { claimsOf, feedClient, nextEvent, outcome, startFeedServer, stop, type FeedServer } from "./helpers.ts"

const cleanups: Array<() => Promise<void> | void> = []
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

async function setUp(maxStaleness: string): Promise<{ server: FeedServer; verifier: RemoteVerifier }> {
  const server = await startFeedServer()
  cleanups.push(() => server.cleanup())
  cleanups.push(() => stop(server))
  const verifier = remoteVerifier({ issuer: server.url, ...(await feedClient(server)), maxStaleness })
  cleanups.push(() => verifier.close())
  await verifier.ready
  return { server, verifier }
}

describe("the server process stopped (SIGSTOP), as a partition looks to the verifier", () => {
  test("within maxStaleness the replica still answers; past it verify fails closed; after SIGCONT it serves again", async () => {
    const { server, verifier } = await setUp("3s")
    const pair = await signIn(server.url, "frida")
    assert.equal(await outcome(verifier, pair.access_token), "ok")

    const stale = nextEvent(verifier, "stale")
    server.process.child.kill("SIGSTOP")
    try {
      // Just stopped: the last contact is well within the window.
      assert.equal(await outcome(verifier, pair.access_token), "ok")
      await stale
      assert.equal(await outcome(verifier, pair.access_token), "store_unavailable")
      assert.equal(verifier.status().fresh, false)
    } finally {
      server.process.child.kill("SIGCONT")
    }
    await nextEvent(verifier, "fresh")
    assert.equal(await outcome(verifier, pair.access_token), "ok")
  })
})

describe("the server killed and restarted", () => {
  test("the verifier reconnects, and a revocation made while it was away is enforced before any token is accepted", async () => {
    const { server, verifier } = await setUp("2s")
    const kept = await signIn(server.url, "gina")
    const doomed = await signIn(server.url, "gina", PASSWORD, false)
    assert.equal(await outcome(verifier, doomed.access_token), "ok")

    const stale = nextEvent(verifier, "stale")
    server.process.child.kill("SIGKILL")
    await server.process.exited
    await stale
    // While the verifier cannot reach it, the session is revoked in the server's store (the CLI, as an operator would).
    const revoked = await runCli(["revoke", "--session", claimsOf(doomed.access_token).sid], { REVOCABLE_DATA_DIR: server.dir })
    assert.equal(revoked.code, 0, revoked.stderr)
    // The same data directory and port: the same issuer, keys and revocations.
    const back = nextEvent(verifier, "fresh")
    const restarted = await startFeedServer({}, { port: Number(new URL(server.url).port), dir: server.dir })
    cleanups.push(() => stop(restarted))
    await back
    // The first contact after the outage brought the revocation with it: no window in which the token passes.
    assert.equal(await outcome(verifier, doomed.access_token), "token_revoked")
    assert.equal(await outcome(verifier, kept.access_token), "ok")
    assert.equal(claimsOf(kept.access_token).sub, claimsOf(doomed.access_token).sub)
  })
})
