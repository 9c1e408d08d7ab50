// The API documentation: @fastify/swagger builds the OpenAPI 3.1 document from the schemas of the routes as
// they are registered, and @fastify/swagger-ui serves an interactive page for it at /docs, from its own files
// (no CDN), with the document at /docs/json.
import swagger from "@fastify/swagger"
import swaggerUi from "@fastify/swagger-ui"
import type { FastifyInstance, FastifyPluginAsync, FastifySchema } from "fastify"

/** The `security` of a route that takes a bearer access token; of introspection, which takes client credentials. */
export const BEARER = [{ bearer: [] }]
export const CLIENT = [{ client: [] }]

/**
 * The documentation's answers: Swagger UI's scripts, styles and requests are of this origin only; its icons are
 * data: images. The console's policy is on the console's own answers, so neither weakens the other.
 */
const DOCS_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
}

/** swagger-ui hides its own routes; these two are listed, with these schemas. */
const LISTED: Record<string, FastifySchema> = {
  "/docs": { summary: "This documentation: an interactive page (Swagger UI) over the OpenAPI document.", tags: ["server"] },
  "/docs/json": { summary: "The OpenAPI 3.1 document.", tags: ["server"] },
}

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch"] as const

export interface Operation {
  method: string
  path: string
  summary: string
}

/** Registers the document's builder, before the routes: it collects them as they are registered. */
export async function openApi(app: FastifyInstance, info: { version: string; serverUrl: string }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "revocable", version: info.version },
      servers: [{ url: info.serverUrl }],
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "An access token from /auth/login or /oauth/token." },
          client: { type: "http", scheme: "basic", description: "Introspection client credentials (or client_id and client_secret in the form)." },
        },
      },
    },
    // An issuer with a path must not have it cut from the routes' paths.
    stripBasePath: false,
    transform: ({ schema, url }) => {
      // swagger-ui's page answers both /docs and /docs/; the route the document sees is the last, /docs/.
      const path = url.length > 1 ? url.replace(/\/$/, "") : url
      const listed = LISTED[path]
      return listed === undefined ? { schema, url } : { schema: listed, url: path }
    },
  })
}

/** /docs (the page, its files under /docs/static/) and /docs/json; swagger-ui takes the prefix as its own option. */
export const docsRoutes: FastifyPluginAsync = async (app) => {
  app.addHook("onRequest", async (_request, reply) => {
    reply.headers(DOCS_HEADERS)
  })
  // BaseLayout: the page without Swagger's top bar, whose logo is an SVG with an inline <style> the policy
  // refuses, and whose box loads documents from other origins.
  await app.register(swaggerUi, { routePrefix: "/docs", theme: { title: "revocable API" }, uiConfig: { layout: "BaseLayout" } })
}

/** Every operation of the document, for the welcome listing; the console's wildcard path as the router writes it. */
export function operations(app: FastifyInstance): Operation[] {
  const paths = (app.swagger() as { paths?: Record<string, Partial<Record<(typeof METHODS)[number], { summary?: string }>>> }).paths ?? {}
  return Object.entries(paths).flatMap(([path, item]) =>
    METHODS.flatMap((method) => {
      const operation = item[method]
      return operation === undefined ? [] : [{ method: method.toUpperCase(), path: path.replace("{*}", "*"), summary: operation.summary ?? "" }]
    }),
  )
}
