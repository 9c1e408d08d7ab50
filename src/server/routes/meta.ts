// The server about itself: the welcome listing (or the web console, to a browser), health and readiness, metrics, and the API documentation.
import type { FastifyInstance } from "fastify"
import { prefersHtml, sendConsolePage } from "../../console/serve.ts"
import type { ServerContext } from "../context.ts"

/** How long readiness waits for the store before calling it unreachable. */
const STORE_PROBE_MS = 2000

export async function metaRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { auth, config, store, metrics, docs } = ctx
  const tags = ["server"]

  app.get("/", {
    schema: {
      summary: "Welcome: what this server is and its endpoints; to a browser (Accept: text/html), the web console.",
      tags,
      response: {
        200: {
          type: "object",
          properties: {
            name: { type: "string" },
            issuer: { type: "string" },
            docs: { type: "string" },
            endpoints: {
              type: "array",
              items: { type: "object", properties: { method: { type: "string" }, path: { type: "string" }, summary: { type: "string" } } },
            },
          },
        },
      },
    },
    async handler(request, reply) {
      if (prefersHtml(request.headers.accept)) return sendConsolePage(reply)
      return { name: "revocable", issuer: config.issuer, docs: "/docs", endpoints: docs.operations() }
    },
  })

  app.get("/healthz", {
    schema: { summary: "Liveness: the process answers.", tags, response: { 200: { type: "object", properties: { status: { type: "string" } } } } },
    async handler() {
      return { status: "ok" }
    },
  })

  const readiness = { type: "object", properties: { status: { type: "string" }, store: { type: "string" }, replica: { type: "string" } } }
  app.get("/readyz", {
    schema: {
      summary: "Readiness: the store answers and the local replica of revocations is in sync.",
      tags,
      response: { 200: readiness, 503: readiness },
    },
    async handler(_request, reply) {
      const storeUp = await probe()
      const inSync = auth.replicaStatus().fresh
      const ready = storeUp && inSync
      return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "unavailable", store: storeUp ? "up" : "down", replica: inSync ? "in-sync" : "stale" })
    },
  })

  async function probe(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), STORE_PROBE_MS)
    })
    try {
      return await Promise.race([store.getDocument("meta", "readyz").then(() => true, () => false), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  app.get("/metrics", {
    schema: { summary: "Prometheus metrics.", tags },
    async handler(_request, reply) {
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    },
  })

  app.get("/docs", {
    schema: { summary: "This documentation, as HTML.", tags },
    async handler(_request, reply) {
      return reply.type("text/html; charset=utf-8").send(docs.html())
    },
  })

  app.get("/docs/json", {
    schema: { summary: "The OpenAPI 3.1 document.", tags },
    async handler() {
      return docs.document()
    },
  })
}
