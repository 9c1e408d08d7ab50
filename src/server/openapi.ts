// The OpenAPI 3.1 document, built from the JSON schemas the routes are validated with (collected by an
// `onRoute` hook), and a plain HTML rendering of it that needs no script from a CDN.
import type { RouteOptions } from "fastify"

/** What a route's `schema` may carry besides what Fastify validates with. */
export interface RouteDoc {
  summary?: string
  description?: string
  tags?: string[]
  /** Who may call: a bearer access token, an admin's, or introspection client credentials. */
  security?: "bearer" | "admin" | "client"
  /** Request body media types; default application/json. */
  consumes?: string[]
  /** Left out of the document (the documentation pages themselves). */
  hide?: boolean
  body?: JsonSchema
  querystring?: JsonSchema
  params?: JsonSchema
  response?: Record<string, JsonSchema>
}

export type JsonSchema = Record<string, unknown>

declare module "fastify" {
  /** The documentation keys a route schema may carry (Fastify ignores them; the OpenAPI document reads them). */
  interface FastifySchema {
    summary?: string
    description?: string
    tags?: string[]
    security?: "bearer" | "admin" | "client"
    consumes?: string[]
    hide?: boolean
  }
}

export interface Operation {
  method: string
  path: string
  summary: string
}

export interface ApiDocs {
  /** For the `onRoute` hook: records every documented route. */
  collect(route: RouteOptions): void
  operations(): Operation[]
  document(): Record<string, unknown>
  html(): string
}

const METHODS = ["get", "post", "put", "patch", "delete"]

export function apiDocs(info: { title: string; version: string; serverUrl: string }): ApiDocs {
  const paths: Record<string, Record<string, unknown>> = {}
  const operations: Operation[] = []
  let cached: Record<string, unknown> | undefined

  function collect(route: RouteOptions): void {
    const schema = (route.schema ?? {}) as RouteDoc
    if (schema.hide) return
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, "{$1}")
    for (const method of (Array.isArray(route.method) ? route.method : [route.method]).map((m) => m.toLowerCase())) {
      if (!METHODS.includes(method)) continue
      operations.push({ method: method.toUpperCase(), path, summary: schema.summary ?? "" })
      ;(paths[path] ??= {})[method] = operation(schema)
      cached = undefined
    }
  }

  function document(): Record<string, unknown> {
    cached ??= {
      openapi: "3.1.0",
      info: { title: info.title, version: info.version },
      servers: [{ url: info.serverUrl }],
      paths,
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "An access token from /auth/login or /oauth/token." },
          client: { type: "http", scheme: "basic", description: "Introspection client credentials (or client_id and client_secret in the form)." },
        },
      },
    }
    return cached
  }

  return { collect, operations: () => operations, document, html: () => render(document()) }
}

function operation(schema: RouteDoc): Record<string, unknown> {
  const result: Record<string, unknown> = {}
  if (schema.summary) result.summary = schema.summary
  if (schema.description) result.description = schema.description
  if (schema.tags) result.tags = schema.tags
  if (schema.security) {
    result.security = [schema.security === "client" ? { client: [] } : { bearer: [] }]
    if (schema.security === "admin") result.description = `${schema.description ?? ""} Requires the role \`admin\`.`.trim()
  }
  const parameters = [...parametersOf(schema.params, "path"), ...parametersOf(schema.querystring, "query")]
  if (parameters.length > 0) result.parameters = parameters
  if (schema.body) {
    result.requestBody = {
      required: true,
      content: Object.fromEntries((schema.consumes ?? ["application/json"]).map((type) => [type, { schema: schema.body }])),
    }
  }
  const responses: Record<string, unknown> = {}
  for (const [status, body] of Object.entries(schema.response ?? {})) {
    const { description, ...content } = body as { description?: string }
    responses[status] = {
      description: description ?? statusText(status),
      ...(isEmpty(content) ? {} : { content: { "application/json": { schema: content } } }),
    }
  }
  result.responses = Object.keys(responses).length > 0 ? responses : { default: { description: "See the route's summary." } }
  return result
}

function parametersOf(schema: JsonSchema | undefined, location: "path" | "query"): Record<string, unknown>[] {
  const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>
  const required = new Set((schema?.required ?? []) as string[])
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: location,
    required: location === "path" || required.has(name),
    ...(typeof property.description === "string" ? { description: property.description } : {}),
    schema: property,
  }))
}

function isEmpty(schema: Record<string, unknown>): boolean {
  return schema.type === "null" || Object.keys(schema).length === 0
}

function statusText(status: string): string {
  const texts: Record<string, string> = {
    "200": "OK",
    "201": "Created",
    "204": "No content",
    "400": "invalid_request",
    "401": "Authentication failed",
    "403": "Forbidden",
    "404": "Not found",
    "429": "Too many attempts (Retry-After)",
    "503": "The store is unavailable",
  }
  return texts[status] ?? status
}

function render(document: Record<string, unknown>): string {
  const info = document.info as { title: string; version: string }
  const paths = document.paths as Record<string, Record<string, Record<string, unknown>>>
  const sections: string[] = []
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const details = JSON.stringify({ parameters: op.parameters, requestBody: op.requestBody, responses: op.responses, security: op.security }, null, 2)
      sections.push(
        `<section><h2><span class="method ${method}">${method.toUpperCase()}</span> <code>${escape(path)}</code></h2>` +
          `<p>${escape(String(op.summary ?? ""))}${op.description ? ` ${escape(String(op.description))}` : ""}</p>` +
          `<details><summary>Schemas</summary><pre>${escape(details)}</pre></details></section>`,
      )
    }
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(info.title)} API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{font-size:1rem;margin:1.5rem 0 .25rem}.method{display:inline-block;min-width:4.5rem;font-weight:600}
.get{color:#0a6}.post{color:#06c}.delete{color:#c22}pre{background:#f5f5f5;padding:.75rem;overflow:auto;font-size:13px}
section{border-bottom:1px solid #ddd;padding-bottom:.5rem}
</style></head><body>
<h1>${escape(info.title)} API <small>${escape(info.version)}</small></h1>
<p>The OpenAPI document: <a href="/docs/json">/docs/json</a>.</p>
${sections.join("\n")}
</body></html>`
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`)
}
