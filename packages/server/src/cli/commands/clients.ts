// `revocable clients add|list|remove`: the OAuth clients: confidential ones (resource servers calling
// /oauth/introspect, back ends) authenticate with a secret; public ones (apps) name themselves by their id.
import { clientDirectory } from "../../server/client-directory.ts"
import { command, type Group } from "../args.ts"
import { CliError, json, printable, table, time } from "./context.ts"

const add = command({
  name: "clients add",
  summary: "Register a client: confidential (a secret, printed once) or, with --public, an app that holds no secret.",
  args: ["NAME"],
  options: {
    public: { type: "boolean", help: "a public client (RFC 6749 §2.1: a mobile or browser app): no secret, its tokens carry its id" },
    json: { type: "boolean", help: "print {clientId, clientSecret, name} as JSON (no clientSecret with --public)" },
  },
  description: "The store keeps only a hash of the secret: it cannot be shown again. Lost? Remove the client and add a new one.",
  examples: ["revocable clients add orders-api", "revocable clients add mobile-app --public"],
  async run({ values, positionals }, context) {
    const name = positionals[0] ?? ""
    const { store } = await context.runtime()
    if (values.public) {
      const { clientId } = await clientDirectory(store).createPublic(name)
      if (values.json) return context.out(json({ clientId, name }))
      return context.out(`client_id      ${clientId}`)
    }
    const { clientId, clientSecret } = await clientDirectory(store).create(name)
    if (values.json) return context.out(json({ clientId, clientSecret, name }))
    context.out(`client_id      ${clientId}\nclient_secret  ${clientSecret}`)
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
    context.out(clients.length === 0 ? "no clients" : table(["CLIENT ID", "TYPE", "CREATED", "NAME"], clients.map((client) => [client.clientId, client.type, time(client.createdAt), client.name])))
  },
})

const remove = command({
  name: "clients remove",
  summary: "Delete a client: its credentials are refused from now on.",
  args: ["CLIENT_ID"],
  options: {},
  async run({ positionals }, context) {
    const clientId = positionals[0] ?? ""
    const { store } = await context.runtime()
    if (!(await clientDirectory(store).delete(clientId))) throw new CliError(printable(`no client ${clientId}`))
    context.out(printable(`removed client ${clientId}`))
  },
})

export const clients: Group = {
  name: "clients",
  summary: "Manage the OAuth clients: resource servers and back ends (confidential), apps (public).",
  commands: [add, list, remove],
}
