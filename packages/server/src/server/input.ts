// What a request's fields may hold: text that every store keeps as it was given (see isStorable). NUL (U+0000)
// and unpaired surrogates are refused with 400 before any store sees them, whatever the store, as the core
// refuses them for callers of the library.
import type { FastifyRequest } from "fastify"
import { checkStorable } from "revocable/stores"

/** A field name is quoted in the answer only when it is one a route could declare. */
const FIELD_NAME = /^[A-Za-z0-9_-]{1,64}$/
/**
 * Routes whose `token` field is answered whatever it holds (RFC 7009 §2.2: 200; RFC 7662 §2.2: not active). A
 * token is parsed, never stored as sent: one holding NUL is merely not a token of ours.
 */
const ANY_TOKEN = new Set(["/oauth/revoke", "/oauth/introspect"])

/**
 * A preValidation hook: every string in the path parameters, the query and the parsed body (JSON or form), at
 * any depth, before the schemas and the handlers see them.
 */
export async function refuseUnstorable(request: FastifyRequest): Promise<void> {
  checkFields(request.params, "path parameter")
  checkFields(request.query, "query parameter")
  checkFields(request.body, "body field", ANY_TOKEN.has(request.routeOptions.url ?? "") ? "token" : undefined)
}

function checkFields(fields: unknown, where: string, exempt?: string): void {
  if (typeof fields !== "object" || fields === null) return checkValue(fields, "The body")
  for (const name in fields) {
    if (name !== exempt) checkValue((fields as Record<string, unknown>)[name], FIELD_NAME.test(name) ? `The ${where} ${name}` : `A ${where}`)
  }
}

/** Every string anywhere in the value, named `what` in the answer; arrays and objects are walked without recursion. */
function checkValue(value: unknown, what: string): void {
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const item = pending.pop()
    if (typeof item === "string") checkStorable(item, what)
    else if (typeof item === "object" && item !== null) for (const nested of Object.values(item)) pending.push(nested)
  }
}
