// Reading secrets: all of stdin (for scripts), or a prompt at the terminal that does not echo what is typed.
import { CliError } from "./context.ts"

/** All of stdin, without the one line break that `echo` or a here-string adds. */
export async function readStdin(stdin: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk)
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "")
}

/** A prompt interrupted with Ctrl-C: exit status 130, as a shell reports SIGINT. */
export class Interrupted extends Error {
  override name = "Interrupted"
}

/** Asks on stderr and reads one line from the terminal in raw mode, echoing nothing. */
export function promptHidden(question: string, stdin: NodeJS.ReadStream, stderr: NodeJS.WritableStream): Promise<string> {
  // Echo goes off before the question shows, so that nothing typed in answer is ever echoed.
  stdin.setRawMode(true)
  stderr.write(question)
  stdin.setEncoding("utf8")
  return new Promise<string>((resolve, reject) => {
    let typed = ""
    function finish(error: Error | null): void {
      stdin.off("data", onData)
      stdin.setRawMode(false)
      stdin.pause()
      stderr.write("\n")
      if (error) reject(error)
      else resolve(typed)
    }
    function onData(data: string): void {
      for (const char of data) {
        if (char === "\r" || char === "\n") return finish(null)
        if (char === "\u0003") return finish(new Interrupted("interrupted"))
        if (char === "\u0004") return finish(typed === "" ? new CliError("no password given") : null)
        if (char === "\u007f" || char === "\b") typed = Array.from(typed).slice(0, -1).join("")
        else if (char >= " ") typed += char
      }
    }
    stdin.on("data", onData)
    stdin.resume()
  })
}
