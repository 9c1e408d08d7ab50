// The console's files as the server serves them (consoleRoutes, sendConsolePage), on a bare Fastify app.
import assert from "node:assert/strict"
import { after, before, describe, test } from "node:test"
import Fastify, { type FastifyInstance } from "fastify"
import { consoleRoutes, prefersHtml, sendConsolePage } from "../../src/server/console.ts"

let app: FastifyInstance

before(async () => {
  app = Fastify()
  await app.register(consoleRoutes, { prefix: "/assets" })
  app.get("/", (request, reply) => (prefersHtml(request.headers.accept) ? sendConsolePage(reply) : reply.send({ name: "revocable" })))
  await app.ready()
})
after(() => app.close())

describe("the console's files", () => {
  test("GET / gives browsers the page, with a policy that allows scripts and styles of this origin only; others get JSON", async () => {
    const page = await app.inject({ url: "/", headers: { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" } })
    assert.equal(page.statusCode, 200)
    assert.equal(page.headers["content-type"], "text/html; charset=utf-8")
    assert.match(page.body, /<script type="module" src="assets\/console\/entry.js"><\/script>/)
    const policy = String(page.headers["content-security-policy"])
    assert.match(policy, /default-src 'none'/)
    assert.match(policy, /script-src 'self';/)
    assert.match(policy, /frame-ancestors 'none'/)
    assert.equal(page.headers["x-content-type-options"], "nosniff")
    for (const accept of [undefined, "*/*", "application/json"]) {
      const answer = await app.inject({ url: "/", headers: accept === undefined ? {} : { accept } })
      assert.deepEqual(answer.json(), { name: "revocable" }, String(accept))
    }
  })

  test("the scripts are ES modules without types, under .js and .ts alike; the stylesheet is CSS", async () => {
    const script = await app.inject({ url: "/assets/console/entry.js" })
    assert.equal(script.statusCode, 200)
    assert.equal(script.headers["content-type"], "text/javascript; charset=utf-8")
    // The bare specifier a browser could not resolve points at the client served beside the console.
    assert.match(script.body, /import \{ ClientError, createClient \} from "\.\.\/client\/index\.js"/)
    assert.doesNotMatch(script.body, /"revocable\/client"/)
    assert.doesNotMatch(script.body, /interface Me|: Promise<void>/)
    for (const path of ["/assets/client/index.ts", "/assets/client/client.ts", "/assets/client/tabs.ts", "/assets/client/storage.ts", "/assets/client/client.js"]) {
      const answer = await app.inject({ url: path })
      assert.equal(answer.statusCode, 200, path)
      assert.equal(answer.headers["content-type"], "text/javascript; charset=utf-8", path)
    }
    const css = await app.inject({ url: "/assets/console/style.css" })
    assert.equal(css.headers["content-type"], "text/css; charset=utf-8")
  })

  test("nothing else is served: not the server-side module, not the page under /assets, no path outside the two folders", async () => {
    for (const path of [
      "/assets/console/serve.ts",
      "/assets/console/serve.js",
      "/assets/console/index.html",
      "/assets/client/missing.js",
      "/assets/client/style.css",
      "/assets/server/app.ts",
      "/assets/console/../server/app.ts",
      "/assets/console/%2e%2e/server/app.ts",
      "/assets/console/..%2fserver%2fapp.ts",
      "/assets/client/index.d.ts",
    ]) {
      const answer = await app.inject({ url: path })
      assert.equal(answer.statusCode, 404, path)
    }
  })
})
