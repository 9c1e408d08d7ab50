// `revocable clients add|list|remove`: credentials of the resource servers allowed to call /oauth/introspect.
import { clientDirectory } from "../../server/clients.ts"
import { command, type Group } from "../args.ts"
import { CliError, json, printable, table, time } from "./context.ts"

const add = command({
  name: "clients add",
  summary: "Create introspection credentials for a resource server; the secret is printed once.",
  args: ["NAME"],
  options: { json: { type: "boolean", help: "print {clientId, clientSecret, name} as JSON" } },
  description: "The store keeps only a hash of the secret: it cannot be shown again. Lost? Remove the client and add a new one.",
  examples: ["revocable clients add orders-api"],
  async run({ values, positionals }, context) {
    const name = positionals[0] ?? ""
    const { store } = await context.runtime()
    const { clientId, clientSecret } = await clientDirectory(store).create(name)
    if (values.json) return context.out(json({ clientId, clientSecret, name }))
    context.out(`client_id      ${clientId}\nclient_secret  ${clientSecret}`)
    context.note("The secret is shown only this once: hand it to the resource server now.")
  },
})

const list = command({
  name: "clients list",
  summary: "List the introspection clients (never their secrets).",
  options: { json: { type: "boolean", help: "print the clients as JSON" } },
  async run({ values }, context) {
    const { store } = await context.runtime()
    const clients = await clientDirectory(store).list()
    if (values.json) return context.out(json(clients))
    context.out(clients.length === 0 ? "no clients" : table(["CLIENT ID", "CREATED", "NAME"], clients.map((client) => [client.clientId, time(client.createdAt), client.name])))
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
  summary: "Manage the credentials resource servers use to call /oauth/introspect.",
  commands: [add, list, remove],
}
