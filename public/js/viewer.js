// What the viewer pages (room, content) share around the signed-in viewer: the demo sign-in
// offered when there is no token, and the wallet in the header.

const $ = (id) => document.getElementById(id);

/**
 * With no token: shows the page's `signin` box with a button per demo viewer; a choice mints a
 * token (`POST /v1/dev/tokens`, local development only), keeps it for the tab and reloads. Never
 * resolves: the page waits for the choice. `say(text, isError)` tells a refused sign-in.
 */
export async function offerDemoSignIn(api, say) {
  $("signin").hidden = false;
  for (const id of ["viewer-ana", "viewer-bo", "viewer-chen"]) {
    const b = document.createElement("button");
    b.textContent = id;
    b.onclick = async () => {
      try {
        const { token } = await api("POST", "/v1/dev/tokens", { userId: id, roles: ["viewer"] });
        sessionStorage.setItem("giftwire:token", token);
        location.reload();
      } catch {
        say("Demo sign-in exists only in local development.", true);
      }
    };
    $("demo-users").append(b);
  }
  await new Promise(() => {}); // wait for a choice
}

/** Shows the viewer's wallet balance in the page's header (`wallet`, `balance`). */
export async function showWallet(api, userId) {
  const wallet = await api("GET", `/v1/users/${userId}/wallet`);
  $("wallet").hidden = false;
  $("balance").textContent = wallet.balance;
}
