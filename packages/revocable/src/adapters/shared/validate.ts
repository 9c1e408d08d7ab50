// Checks of adapter options that more than one of the shared modules makes.

/** RFC 9110 token characters: cookie, header and scope names. */
export const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

export function isObject(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value)
}
