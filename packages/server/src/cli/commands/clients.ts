// `revocable clients add|list|remove`: the OAuth clients: confidential ones (resource servers calling
// /oauth/introspect, back ends) authenticate with a secret; public ones (apps) name themselves by their id.
import { clientDirectory, removeClient } from "../../server/client-directory.ts"
import { SERVER_SCOPES } from "../../server/scopes.ts"
import { command, type Group } from "../args.ts"
import { CliError, json, printable, table, time } from "./context.ts"

const add = command({
  name: "clients add",
  summary: "Register a client: confidential (a secret, printed once) or, with --public, an app that holds no secret.",
  args: ["NAME"],
  options: {
    public: { type: "boolean", help: "a public client (RFC 6749 §2.1: a mobile or browser app): no secret, its tokens carry its id" },
    scope: { type: "string", multiple: true, value: "SCOPES", help: `a scope the client may ask for with the client_credentials grant (repeatable, or space-separated); the server's own: ${SERVER_SCOPES.join(", ")}` },
    json: { type: "boolean", help: "print {clientId, clientSecret, name, scopes} as JSON (no clientSecret with --public)" },
  },
  description: "The store keeps only a hash of the secret: it cannot be shown again. Lost? Remove the client and add a new one.",
  examples: ["revocable clients add orders-api", "revocable clients add edge-gateway --scope revocations:read", "revocable clients add mobile-app --public"],
  async run({ values, positionals }, context) {
    const name = positionals[0] ?? ""
    const scopes = (values.scope ?? []).flatMap((value) => value.split(" ")).filter((scope) => scope !== "")
    if (values.public && scopes.length > 0) throw new CliError("--scope is for confidential clients: a public client cannot use the client_credentials grant.")
    const { store } = await context.runtime()
    if (values.public) {
      const { clientId } = await clientDirectory(store).createPublic(name)
      if (values.json) return context.out(json({ clientId, name }))
      return context.out(`client_id      ${clientId}`)
    }
    const { clientId, clientSecret, client } = await clientDirectory(store).create(name, { scopes })
    const granted = client.scopes
    // Not refused: a deployment's own resource servers may check scopes of their own. A typo should show, though.
    const foreign = granted.filter((scope) => !SERVER_SCOPES.includes(scope))
    if (foreign.length > 0) context.note(`Not a scope this server checks: ${foreign.join(" ")}. Tokens carry it for your own resource servers.`)
    if (values.json) return context.out(json({ clientId, clientSecret, name, scopes: granted }))
    context.out(`client_id      ${clientId}\nclient_secret  ${clientSecret}${granted.length === 0 ? "" : `\nscope          ${granted.join(" ")}`}`)
    context.note("The secret is shown only this once: hand it to the resource server now.")
  },
})

const list = command({
  name: "clients list",
  summary: "List the clients and their type (never their secrets).",
  options: { json: { type: "boolean", help: "print the clients as JSON" } },
  async run({ values }, context) {
    const { store } = await context.runtime()
    const clients = await clientDirectory(store).list()
    if (values.json) return context.out(json(clients))
    context.out(clients.length === 0 ? "no clients" : table(["CLIENT ID", "TYPE", "CREATED", "NAME", "SCOPES"], clients.map((client) => [client.clientId, client.type, time(client.createdAt), client.name, client.scopes.join(" ")])))
  },
})

const remove = command({
  name: "clients remove",
  summary: "Delete a client: its credentials are refused from now on, and its client_credentials tokens revoked.",
  args: ["CLIENT_ID"],
  options: {},
  async run({ positionals }, context) {
    const clientId = positionals[0] ?? ""
    const { store, auth } = await context.runtime()
    if (!(await removeClient(clientDirectory(store), auth, clientId, context.actor))) throw new CliError(printable(`no client ${clientId}`))
    context.out(printable(`removed client ${clientId}`))
  },
})

export const clients: Group = {
  name: "clients",
  summary: "Manage the OAuth clients: resource servers and back ends (confidential), apps (public).",
  commands: [add, list, remove],
}
