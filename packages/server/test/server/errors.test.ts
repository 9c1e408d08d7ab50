// The server's own refusals (not in the library's codes): how they are answered, beside the AuthErrors.
import assert from "node:assert/strict"
import { test } from "node:test"
import Fastify from "fastify"
import { errorHandler } from "../../src/server/failures.ts"
import { RateLimitedError, ServerError } from "../../src/server/errors.ts"

test("invalid_credentials is 401 with a bare Bearer challenge; rate_limited is 429 with Retry-After", async () => {
  const app = Fastify()
  app.setErrorHandler(errorHandler)
  app.get("/credentials", async () => {
    throw new ServerError("invalid_credentials")
  })
  app.get("/limited", async () => {
    throw new RateLimitedError(42)
  })
  const credentials = await app.inject({ url: "/credentials" })
  assert.equal(credentials.statusCode, 401)
  assert.equal(credentials.headers["www-authenticate"], "Bearer")
  assert.deepEqual(credentials.json(), { error: "invalid_credentials", error_description: "Invalid username or password." })
  const limited = await app.inject({ url: "/limited" })
  assert.equal(limited.statusCode, 429)
  assert.equal(limited.headers["retry-after"], "42")
  assert.deepEqual(limited.json(), { error: "rate_limited", error_description: "Too many attempts; try again later." })
  await app.close()
})
