// How the server answers what goes wrong, always in the JSON shape {"error", "error_description"}: the error
// handler (AuthErrors, the server's own ServerErrors, validation, parse and router errors), errors before a request exists, and the requests
// Node would answer on its own.
import type { Server } from "node:http"
import type { Socket } from "node:net"
import type { Duplex } from "node:stream"
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify"
import { AuthError, isAuthError } from "revocable"
import { sendAuthError } from "revocable/fastify"
import { sendServerError, ServerError } from "./errors.ts"

/**
 * The longest path parameter the router takes: the longest id the core accepts (1024 characters, as a subject).
 * find-my-way measures a parameter once percent-decoded, in UTF-16 code units as String.length counts them, so an
 * id of that length fits however it is encoded; a longer one is answered 414.
 */
export const MAX_PARAM_LENGTH = 1024

const CLIENT_DESCRIPTIONS: Record<number, string> = {
  400: "The request is invalid.",
  404: "No such endpoint: GET / lists them.",
  413: "The request body is too large.",
  414: `A path parameter is longer than ${MAX_PARAM_LENGTH} characters.`,
  415: "Unsupported content type: the /oauth endpoints take application/x-www-form-urlencoded, the others application/json.",
}

export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof ServerError) return sendServerError(reply, error)
  if (isAuthError(error)) {
    if (error.code === "store_unavailable") request.log.warn({ code: error.code }, "the store is unavailable")
    return sendAuthError(reply, error)
  }
  if (error.validation) return sendAuthError(reply, new AuthError("invalid_request", error.message))
  const status = error.statusCode
  if (typeof status === "number" && status >= 400 && status < 500) {
    // The message of a JSON parse error quotes the body: it is neither sent nor logged.
    const description = error instanceof SyntaxError || error.code === "FST_ERR_CTP_INVALID_JSON_BODY" ? "The request body is not valid JSON." : CLIENT_DESCRIPTIONS[status] ?? CLIENT_DESCRIPTIONS[400]
    request.log.info({ statusCode: status, code: error.code }, "request refused")
    return reply.code(status).send({ error: "invalid_request", error_description: description })
  }
  request.log.error({ err: error }, "unexpected error")
  return reply.code(500).send({ error: "server_error", error_description: "An unexpected error occurred." })
}

/** Errors before a request exists (oversized headers, bad HTTP), answered in the JSON shape of every other error. */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return
  const [status, text, description] =
    error.code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large", "The request headers are too large."]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "Request Timeout", "The request took too long."]
        : [400, "Bad Request", "The request is not valid HTTP."]
  if (!socket.writable) return void socket.destroy(error)
  endWithError(socket, status, text, description)
}

function errorBody(description: string): string {
  return JSON.stringify({ error: "invalid_request", error_description: description })
}

/** An error answer written on the connection itself, then closed. */
function endWithError(socket: Duplex, status: number, text: string, description: string): void {
  const body = errorBody(description)
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}

/** Requests Node answers on its own with no body (an Expect other than 100-continue: 417) or not at all (CONNECT). */
export function answerNodeRefusals(server: Server): void {
  server.on("checkExpectation", (_request, response) => {
    const body = errorBody("Only Expect: 100-continue is supported.")
    response.writeHead(417, { "content-type": "application/json", "content-length": Buffer.byteLength(body), connection: "close" }).end(body)
  })
  server.on("connect", (_request, socket: Duplex) => endWithError(socket, 405, "Method Not Allowed", "CONNECT is not supported."))
}
