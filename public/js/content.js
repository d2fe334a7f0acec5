import { apiClient, subjectOf } from "./api.js";
import { DEMO_TEXT } from "./content-demo-text.js";
import { formatMinor } from "./live-client.js";
import { askPin, pinLockedText, setPin as setPinWith, triesText } from "./pin.js";
import { offerDemoSignIn, showWallet } from "./viewer.js";

// The content page (付费阅读 and tips on content): an article behind a paywall, unlocked from
// the wallet; the entitlement check decides what is shown, so a reload keeps it unlocked. Under it
// a tip jar: the platform's tip presets, a message, the item's total and leaderboard.
// Query: ?content=<contentId>&token=<jwt>
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const contentId = params.get("content");
const token = params.get("token") ?? sessionStorage.getItem("giftwire:token");
let userId = null;
/** The item (GET /v1/content/{id}). */
let item = null;

const api = apiClient(() => token);

function sayIn(id, text, isError = false) {
  $(id).textContent = text;
  $(id).classList.toggle("error", isError);
}
const say = (text, isError = false) => sayIn("jar-status", text, isError);
const setPin = (reason = "") => setPinWith(api, say, reason);

async function signIn() {
  if (!token) await offerDemoSignIn(api, (text, isError) => sayIn("unlock-message", text, isError));
}

const refreshWallet = () => showWallet(api, userId);

/**
 * Sends a money request, asking for the payment PIN when the server wants it, and sends it
 * again with the same Idempotency-Key (a refused attempt released it). Resolves with the
 * answer, or null when the reader cancelled or the PIN is locked (said in `where`).
 */
async function withPin(send, { what, where }, key = crypto.randomUUID(), pin = undefined) {
  try {
    return await send(key, pin);
  } catch (error) {
    if (error.code === "pin_required" || error.code === "pin_incorrect") {
      const answer = await askPin({
        title: `${what}?`,
        prompt: "This is above your password-free limit: enter your payment PIN.",
        error: error.code === "pin_incorrect" ? triesText(error) : "",
      });
      if (answer !== null) return withPin(send, { what, where }, key, answer.pin);
      sayIn(where, `Not paid: ${what.toLowerCase()} needs your payment PIN.`, true);
      return null;
    }
    if (error.code === "pin_not_set") {
      const fresh = await setPin("You have no payment PIN yet. ");
      if (fresh !== null) return withPin(send, { what, where }, key, fresh);
      sayIn(where, `Not paid: ${what.toLowerCase()} needs a payment PIN.`, true);
      return null;
    }
    if (error.code === "pin_locked") {
      sayIn(where, pinLockedText(error), true);
      return null;
    }
    throw error;
  }
}

// ── the article and its paywall ───────────────────────────────────────────────────────

const UNLOCK_MESSAGES = {
  insufficient_funds: "Not enough in your wallet for this article.",
  content_archived: "The author has taken this article down; it can no longer be unlocked.",
  content_not_priced: "This article is free: reload the page.",
  cannot_unlock_own_content: "This is your own article: you can read it without paying.",
  content_not_found: "This article does not exist (any more).",
};

function renderArticle(entitlement) {
  const text = DEMO_TEXT[item.id];
  const free = item.priceMinor === null;
  const open = free || entitlement?.entitled === true;
  $("article").setAttribute("aria-busy", "false");
  $("article").dataset.state = open ? "unlocked" : "locked";
  $("paywall").hidden = open;
  $("article-body").hidden = !open;
  $("entitlement").hidden = free || !open;
  if (open) {
    const paragraphs = text?.body ?? ["(The host shows this item's body here once you are entitled to it.)"];
    $("article-body").replaceChildren(
      ...paragraphs.map((p) => Object.assign(document.createElement("p"), { textContent: p })),
    );
  }
  $("price-tag").textContent = free ? "free" : `¥${item.price}${open ? " · unlocked" : " to unlock"}`;
  if (entitlement?.entitled) {
    const since = entitlement.grantedAtMs ? new Date(entitlement.grantedAtMs).toLocaleString() : "";
    $("entitlement-text").textContent = `Unlocked${since ? ` on ${since}` : ""} · yours to read on every visit`;
    $("entitlement").title = `unlock ${entitlement.unlockId}${entitlement.grant ? " · grant token issued" : ""}`;
  }
}

/** Asks the server whether this reader may open the item; the answer alone reveals the body. */
async function checkEntitlement() {
  // The answer is cacheable for 5 s (for hosts); the reader's own page asks the server each time
  // ("no-cache"), so an unlock a moment ago, or a refund, shows at once.
  const entitlement = await api("GET", `/v1/content/${contentId}/entitlement`, undefined, undefined, {
    cache: "no-cache",
  });
  renderArticle(entitlement);
  return entitlement;
}

async function unlock() {
  const button = $("unlock");
  button.disabled = true;
  sayIn("unlock-message", `Paying ¥${item.price} from your wallet…`);
  try {
    const result = await withPin(
      (key, pin) => api("POST", `/v1/content/${contentId}/unlock`, pin ? { pin } : {}, key),
      {
        what: `Unlock for ¥${item.price}`,
        where: "unlock-message",
      },
    );
    if (result === null) return;
    $("balance").textContent = formatMinor(result.walletBalanceMinor);
    sayIn("unlock-message", "");
    await checkEntitlement();
  } catch (error) {
    if (error.code === "already_unlocked") {
      await checkEntitlement();
      return;
    }
    sayIn("unlock-message", UNLOCK_MESSAGES[error.code] ?? error.message, true);
  } finally {
    button.disabled = false;
  }
}

// ── the tip jar ──────────────────────────────────────────────────────────────────────

/** The amount picked in the jar: a preset chip, or the typed one. */
let jarAmount = null;

function pickAmount(amount, chip) {
  jarAmount = amount;
  for (const b of $("jar-presets").children) b.setAttribute("aria-pressed", String(b === chip));
  if (chip) $("jar-amount").value = "";
  $("jar-send").textContent = amount ? `Tip ¥${amount}` : "Tip";
}

function renderJar(board) {
  $("jar-total").textContent = `¥${formatMinor(board.totalMinor)}`;
  $("jar-count").textContent =
    board.tipCount === 0 ? "no tips yet" : `from ${board.tipCount} tip${board.tipCount === 1 ? "" : "s"}`;
  const max = board.entries[0]?.amountMinor ?? 1;
  $("jar-board").replaceChildren(
    ...board.entries.map((entry) => {
      const li = document.createElement("li");
      li.innerHTML = `<div class="bar" style="width:${Math.max(4, (100 * entry.amountMinor) / max)}%"></div>
        <span>#${entry.rank} <b></b></span><span class="amount">¥${formatMinor(entry.amountMinor)}</span>`;
      li.querySelector("b").textContent = entry.userId === userId ? `${entry.userId} (you)` : entry.userId;
      return li;
    }),
  );
  $("jar-empty").hidden = board.entries.length > 0;
}

/** One recent tip: who, what, and its message (the server gives one only once moderation let it through). */
function recentTipItem(tip) {
  const li = document.createElement("li");
  li.dataset.tipId = tip.id;
  li.classList.toggle("reversed", tip.reversed);
  li.innerHTML = '<b></b> <span class="what hint"></span><span class="amount"></span>';
  li.querySelector("b").textContent = tip.viewerId === userId ? `${tip.viewerId} (you)` : tip.viewerId;
  li.querySelector(".what").textContent =
    (tip.giftId === null ? "tipped" : `sent ${tip.quantity} × ${tip.giftId}`) + (tip.reversed ? " · reversed" : "");
  li.querySelector(".amount").textContent = `¥${tip.amount}`;
  if (tip.message !== null) {
    const said = document.createElement("span");
    said.className = "said";
    said.textContent = `“${tip.message}”`;
    li.append(said);
  }
  return li;
}

let recentCursor = null;

/** The newest tips (replacing the list), or with `more` the page after the last one shown. */
async function refreshRecent(more = false) {
  const query = more && recentCursor !== null ? `?limit=10&cursor=${encodeURIComponent(recentCursor)}` : "?limit=10";
  const page = await api("GET", `/v1/content/${contentId}/tips${query}`);
  const items = page.tips.map(recentTipItem);
  if (more) $("jar-recent").append(...items);
  else $("jar-recent").replaceChildren(...items);
  recentCursor = page.nextCursor;
  $("jar-recent-more").hidden = recentCursor === null;
}

/** Loads the total, the leaderboard and the recent tips; false when this server has no tips on content. */
async function refreshJar() {
  try {
    const [board] = await Promise.all([api("GET", `/v1/content/${contentId}/leaderboard?limit=10`), refreshRecent()]);
    renderJar(board);
    return true;
  } catch (error) {
    // `not_found` (not `content_not_found`): no such route here — tips on content are not deployed.
    if (error.status === 404 && error.code !== "content_not_found") {
      $("tip-jar").dataset.state = "unavailable";
      say("Tips on articles are not open on this server yet.");
      return false;
    }
    throw error;
  }
}

const TIP_MESSAGES = {
  insufficient_funds: "Not enough in your wallet.",
  message_too_long: "The message is too long: at most 40 characters.",
  cannot_tip_self: "You cannot tip your own article.",
  content_archived: "The author has taken this article down.",
};

async function sendJarTip(event) {
  event.preventDefault();
  const typed = $("jar-amount").value.trim();
  const amount = typed !== "" ? typed : jarAmount;
  if (!amount) return say("Pick an amount or type one.", true);
  if (!/^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$/.test(amount)) return say("An amount looks like 18.80.", true);
  const message = $("jar-message").value.trim();
  const body = message === "" ? { amount } : { amount, message };
  $("jar-send").disabled = true;
  say(`Sending ¥${amount}…`);
  try {
    const result = await withPin(
      (key, pin) => api("POST", `/v1/content/${contentId}/tips`, pin ? { ...body, pin } : body, key),
      { what: `Tip ¥${amount}`, where: "jar-status" },
    );
    if (result === null) return;
    $("balance").textContent = formatMinor(result.walletBalanceMinor);
    say(
      `Thank you! You tipped ¥${result.tip.amount}.` +
        (result.tip.messageStatus === "held" ? " Your message is shown once a moderator approves it." : ""),
    );
    $("jar-message").value = "";
    await refreshJar();
  } catch (error) {
    say(TIP_MESSAGES[error.code] ?? error.message, true);
  } finally {
    $("jar-send").disabled = false;
  }
}

function renderPresets(presets) {
  for (const preset of presets) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `¥${preset.amount}`;
    b.dataset.amount = preset.amount;
    b.setAttribute("aria-pressed", "false");
    b.onclick = () => pickAmount(preset.amount, b);
    $("jar-presets").append(b);
  }
  $("jar-amount").oninput = () => pickAmount($("jar-amount").value.trim() || null, null);
  $("jar-form").onsubmit = sendJarTip;
  $("jar-recent-more").onclick = () => refreshRecent(true).catch((error) => say(error.message, true));
}

async function main() {
  if (!contentId) {
    $("title").textContent = "No article chosen";
    sayIn("unlock-message", "Open this page with ?content=<contentId>.", true);
    return;
  }
  await signIn();
  userId = subjectOf(token);
  $("pin-settings").onclick = () => setPin();
  let catalog;
  try {
    [item, catalog] = await Promise.all([api("GET", `/v1/content/${contentId}`), api("GET", "/v1/gifts")]);
  } catch (error) {
    $("title").textContent = error.code === "content_not_found" ? "Article not found" : "Could not load the article";
    $("article").setAttribute("aria-busy", "false");
    $("tip-jar").hidden = true;
    if (error.code !== "content_not_found") sayIn("unlock-message", error.message, true);
    return;
  }
  document.title = `giftwire · ${item.title}`;
  $("title").textContent = item.title;
  $("kind").textContent = item.kind.replace("_", " ");
  $("author").textContent = `by ${item.creatorId}`;
  $("lead").textContent = DEMO_TEXT[item.id]?.lead ?? "";
  $("paywall-price").textContent = `¥${item.price}`;
  $("unlock").textContent = `Unlock for ¥${item.price}`;
  $("unlock").onclick = unlock;
  renderPresets(catalog.tipPresets);
  await Promise.all([refreshWallet(), checkEntitlement(), refreshJar()]);
}

main().catch((error) => sayIn("unlock-message", error.message, true));
