import { giftVisual } from "./effects.js";
import { formatMinor, LiveClient } from "./live-client.js";

// The viewer page: gifts and tips paid from the wallet, the merged feed, big-gift effects,
// the live leaderboard. Query: ?room=<roomId>&token=<jwt>
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const roomId = params.get("room");
let token = params.get("token") ?? sessionStorage.getItem("giftwire:token");
let userId = null;

async function api(method, path, body, idempotencyKey) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = res.status === 204 ? null : await res.json();
  if (!res.ok) throw Object.assign(new Error(data?.error?.message ?? res.statusText), { code: data?.error?.code });
  return data;
}

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
}

function subjectOf(jwt) {
  try {
    return JSON.parse(atob(jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
  } catch {
    return null;
  }
}

async function signIn() {
  if (token) return;
  $("signin").hidden = false;
  const demo = ["viewer-ana", "viewer-bo", "viewer-chen"];
  for (const id of demo) {
    const b = document.createElement("button");
    b.textContent = id;
    b.onclick = async () => {
      try {
        token = (await api("POST", "/v1/dev/tokens", { userId: id, roles: ["viewer"] })).token;
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

async function refreshWallet() {
  const wallet = await api("GET", `/v1/users/${userId}/wallet`);
  $("wallet").hidden = false;
  $("balance").textContent = wallet.balance;
}

async function sendTip(body, label) {
  say(`Sending ${label}…`);
  try {
    const { tip, walletBalanceMinor } = await api("POST", `/v1/rooms/${roomId}/tips`, body, crypto.randomUUID());
    $("balance").textContent = formatMinor(walletBalanceMinor);
    say(`Sent ${label} (¥${tip.amount}).`);
  } catch (error) {
    const messages = { insufficient_funds: "Not enough in your wallet.", room_not_live: "The stream has ended." };
    say(messages[error.code] ?? error.message, true);
  }
}

function renderGifts(catalog) {
  for (const gift of catalog.gifts) {
    const b = document.createElement("button");
    b.className = `gift tier-${gift.tier}`;
    b.dataset.giftId = gift.id;
    b.innerHTML = `<span class="icon">${giftVisual(gift).icon}</span><span class="name"></span><span class="price">¥${gift.price}</span>`;
    b.querySelector(".name").textContent = gift.name;
    b.onclick = () => {
      const quantity = Number($("quantity").value);
      sendTip({ kind: "gift", giftId: gift.id, quantity }, `${gift.name}${quantity > 1 ? ` ×${quantity}` : ""}`);
    };
    $("gifts").append(b);
  }
  for (const preset of catalog.tipPresets) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `¥${preset.amount}`;
    b.onclick = () => sendTip({ kind: "custom", amount: preset.amount }, `a ¥${preset.amount} tip`);
    $("presets").append(b);
  }
  $("custom-tip").onsubmit = (event) => {
    event.preventDefault();
    const amount = $("custom-amount").value.trim();
    sendTip({ kind: "custom", amount }, `a ¥${amount} tip`);
  };
}

const giftNames = new Map();

function feed(text, big = false) {
  const li = document.createElement("li");
  li.textContent = text;
  if (big) li.className = "big";
  $("feed").prepend(li);
  while ($("feed").children.length > 100) $("feed").lastChild.remove();
}

function renderBoard(board) {
  const top = board.top;
  const max = top[0]?.totalMinor ?? 1;
  $("board").replaceChildren(
    ...top.map((entry) => {
      const li = document.createElement("li");
      li.innerHTML = `<div class="bar" style="width:${Math.max(4, (100 * entry.totalMinor) / max)}%"></div>
        <span>#${entry.rank} <b></b></span><span class="amount">¥${formatMinor(entry.totalMinor)}</span>`;
      li.querySelector("b").textContent = entry.viewerId;
      return li;
    }),
  );
  if (board.me) $("my-rank").textContent = `You: #${board.me.rank}, ¥${formatMinor(board.me.totalMinor)}`;
}

function playEffect(gift) {
  const el = document.createElement("div");
  el.className = `alert tier-${gift.tier ?? "big"}`;
  el.innerHTML = `<div class="alert-icon">${giftVisual(gift).icon}</div><div class="alert-text"><strong></strong> sent <em></em></div>`;
  el.querySelector("strong").textContent = gift.viewerId;
  el.querySelector("em").textContent =
    `${gift.giftName ?? `¥${formatMinor(gift.amountMinor)}`}${gift.combo.count > 1 ? ` ×${gift.combo.count}` : ""}`;
  $("effect-stage").replaceChildren(el);
  setTimeout(() => el.classList.add("leaving"), 3000);
  setTimeout(() => el.remove(), 3400);
}

async function main() {
  if (!roomId) {
    say("Open this page with ?room=<roomId>.", true);
    return;
  }
  await signIn();
  userId = subjectOf(token);
  const [catalog, room] = await Promise.all([api("GET", "/v1/gifts"), api("GET", `/v1/rooms/${roomId}`)]);
  for (const g of catalog.gifts) giftNames.set(g.id, g.name);
  $("title").textContent = room.title;
  renderGifts(catalog);
  await refreshWallet();
  new LiveClient({
    roomId,
    role: "viewer",
    token,
    onStatus: (state) => {
      $("live-status").dataset.state = state;
      $("live-status").textContent = state;
    },
    onFrame: (frame) => {
      switch (frame.type) {
        case "snapshot":
          renderBoard(frame.leaderboard);
          if (frame.room.status !== "live") $("live-status").textContent = "offline";
          break;
        case "tips.merged": {
          const m = frame.merged;
          const combos = m.combos.map((c) => `${c.viewerId} ${giftNames.get(c.giftId) ?? c.giftId} ×${c.quantity}`);
          feed(`${m.tipCount} tips · ¥${formatMinor(m.totalMinor)}${combos.length ? ` — ${combos.join(", ")}` : ""}`);
          break;
        }
        case "gift.big":
          feed(
            `${frame.gift.viewerId} sent ${frame.gift.giftName ?? "a big tip"} · ¥${formatMinor(frame.gift.amountMinor)}`,
            true,
          );
          playEffect(frame.gift);
          break;
        case "leaderboard":
          renderBoard(frame.leaderboard);
          break;
        case "room.ended":
          $("live-status").textContent = "offline";
          feed("The stream has ended.");
          break;
        case "room.live":
          $("live-status").textContent = "live";
          break;
      }
    },
  });
}

main().catch((error) => say(error.message, true));
