// What the start log tells whoever just started the server: where the console is, and how to make the first admin.
import type { UserDirectory } from "./user-directory.ts"

export const NO_ADMIN =
  "No admin account yet: create one with `revocable users add NAME --role admin` (in the repository: npm run revocable -- users add NAME --role admin), or start with REVOCABLE_ADMIN_PASSWORD set, which creates REVOCABLE_ADMIN_USER (default admin)."

/**
 * Whether an unsuspended user holds the role admin. Only the first page of users is read, so that a start never
 * walks a large directory: null when that page holds none and more users follow (then nothing is said).
 */
export async function hasAdmin(users: UserDirectory): Promise<boolean | null> {
  const page = await users.list({ limit: 1000 })
  if (page.items.some((user) => user.roles.includes("admin") && user.suspendedAt === null)) return true
  return page.next === null ? false : null
}
