// The example's one page: signed out, a "Sign in with Google" link; signed in, the user with "Refresh" and
// "Log out" buttons. The tokens stay in HttpOnly cookies; the script only echoes the CSRF cookie in a header.
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Google login with revocable</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }
  .error { color: #b00020; }
  dt { font-weight: 600; }
  button, a.button { font: inherit; padding: .4rem 1rem; margin-right: .5rem; }
</style>
</head>
<body>
<h1>Google login with revocable</h1>
<p id="error" class="error" hidden></p>
<section id="signed-out" hidden>
  <p><a class="button" id="sign-in" href="/auth/oidc/google">Sign in with Google</a></p>
</section>
<section id="signed-in" hidden>
  <dl>
    <dt>Name</dt><dd id="name"></dd>
    <dt>Email</dt><dd id="email"></dd>
    <dt>User id</dt><dd id="sub"></dd>
    <dt>Session</dt><dd id="session"></dd>
    <dt>Access token expires</dt><dd id="expires"></dd>
  </dl>
  <button id="refresh">Refresh</button>
  <button id="logout">Log out</button>
  <p id="status"></p>
</section>
<script type="module">
  // Only known codes are worded: a crafted link cannot put its own words on this page.
  const MESSAGES = {
    oidc_provider_error: "The sign-in was cancelled or refused at the provider.",
    oidc_provider_unavailable: "The sign-in provider cannot be reached; try again later.",
    oidc_state_mismatch: "That sign-in link was not started in this browser. Sign in again.",
    oidc_transaction_missing: "The sign-in expired or was not started in this browser. Sign in again.",
    oidc_transaction_replayed: "That sign-in was already used. Sign in again.",
    oidc_callback_invalid: "The provider's answer could not be verified. Sign in again.",
  }
  const $ = (id) => document.getElementById(id)
  const code = new URLSearchParams(location.search).get("error")
  if (code) {
    $("error").textContent = MESSAGES[code] ?? "The sign-in failed."
    $("error").hidden = false
    history.replaceState(null, "", "/")
  }
  const csrf = () => document.cookie.split("; ").find((pair) => pair.startsWith("csrf_token="))?.slice("csrf_token=".length) ?? ""
  const post = (path) => fetch(path, { method: "POST", headers: { "x-csrf-token": csrf() } })

  async function show() {
    const response = await fetch("/api/me")
    const signedIn = response.ok
    $("signed-in").hidden = !signedIn
    $("signed-out").hidden = signedIn
    if (!signedIn) return
    const me = await response.json()
    $("name").textContent = me.name ?? ""
    $("email").textContent = me.email ?? ""
    $("sub").textContent = me.sub
    $("session").textContent = me.session_id
    $("expires").textContent = new Date(me.expires_at * 1000).toLocaleTimeString()
  }

  $("refresh").addEventListener("click", async () => {
    const response = await post("/auth/refresh")
    $("status").textContent = response.ok ? "Tokens refreshed at " + new Date().toLocaleTimeString() + "." : "The session has ended."
    await show()
  })
  $("logout").addEventListener("click", async () => {
    await post("/auth/logout")
    $("status").textContent = ""
    await show()
  })
  await show()
</script>
</body>
</html>
`
