import { apiClient, subjectOf } from "./api.js";

// The operator console's shell, shared by its pages: the header, the nav and the sign-in
// panel (each page's HTML holds only its <main>), the token (?token=<jwt>, an operator's,
// kept for the tab in sessionStorage so the nav's links need not carry it; behind Cloudflare
// Access in production), the local demo sign-in, the nav with the pending proposals badge, the
// API client and the page's status line.

const TOKEN_KEY = "giftwire:operator-token";
const PAGES = [
  { href: "/console/dashboard.html", label: "Dashboard" },
  { href: "/console/search.html", label: "Search" },
  { href: "/console/queues.html", label: "Queues", badge: "queues-badge" },
  { href: "/console/proposals.html", label: "Proposals", badge: "proposals-badge" },
  { href: "/console/config.html", label: "Configuration" },
  { href: "/console/audit.html", label: "Audit log" },
];
// Local development only: POST /v1/dev/tokens mints these (dev/seed.ts's operators).
const DEMO_OPERATORS = [
  { userId: "ops-mei", roles: ["admin", "finance", "ops", "support"] },
  { userId: "ops-kai", roles: ["finance", "ops", "risk"] },
];

export const $ = (id) => document.getElementById(id);

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

/**
 * Wraps the page's <main> in the console's shell: the header with who is signed in, the nav,
 * the sign-in panel (shown only without a token) and the status line (unless the page places
 * its own). Runs when this module loads, before the page's script, so the page finds them.
 */
function drawShell() {
  const main = document.querySelector("main.console-page");
  const who = el("span", { id: "who", className: "pill", textContent: "signing in…" });
  const header = el("header", {}, el("div", {}, el("h1", {}, "giftwire ", el("small", {}, "operator console")), who));
  const nav = el("nav", { className: "console-nav" });
  nav.setAttribute("aria-label", "Console");
  const signin = el(
    "section",
    { id: "signin", hidden: true },
    el("h2", {}, "Sign in as…"),
    el(
      "p",
      { className: "hint" },
      "Open this page with ",
      el("code", {}, "?token=…"),
      " (an operator's token; in production Cloudflare Access signs you in), or pick a demo operator (local development only).",
    ),
    el("div", { id: "demo-users", className: "chips" }),
  );
  const shell = el("div", { className: "shell" }, nav);
  main.before(header, shell);
  shell.append(main);
  main.prepend(signin);
  if (!$("message")) {
    const message = el("p", { id: "message", className: "message" });
    message.setAttribute("role", "status");
    main.append(message);
  }
}

drawShell();

const params = new URLSearchParams(location.search);
let token = params.get("token") ?? sessionStorage.getItem(TOKEN_KEY);
if (params.get("token")) sessionStorage.setItem(TOKEN_KEY, token);

export const api = apiClient(() => token);

export function currentToken() {
  return token;
}

export function say(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
}

/** An API error as the operator should read it: the stable code beside the message. */
export function describeError(e) {
  return e.code ? `${e.message} (${e.code})` : e.message;
}

function drawNav() {
  const nav = document.querySelector(".console-nav");
  nav.replaceChildren(
    ...PAGES.map((p) => {
      const a = Object.assign(document.createElement("a"), { href: p.href, textContent: p.label });
      // The assets server may drop ".html" from the address.
      if (location.pathname.replace(/\.html$/, "") === p.href.replace(/\.html$/, ""))
        a.setAttribute("aria-current", "page");
      if (p.badge) {
        const badge = Object.assign(document.createElement("span"), { id: p.badge, className: "badge" });
        badge.hidden = true;
        a.append(" ", badge);
      }
      return a;
    }),
  );
}

/** The nav's count of proposals waiting for a second operator (hidden when none or not allowed). */
export async function refreshProposalsBadge() {
  const badge = $("proposals-badge");
  try {
    const page = await api("GET", "/v1/admin/proposals?state=pending&limit=100");
    const n = page.items.length;
    badge.textContent = page.next ? `${n}+` : String(n);
    badge.setAttribute("aria-label", `${badge.textContent} pending`);
    badge.hidden = n === 0;
    document.body.dataset.pending = String(n);
    return n;
  } catch {
    badge.hidden = true;
    return null;
  }
}

/**
 * The nav's count of work waiting in the queues the operator may read (GET /v1/admin/queues),
 * proposals left out (they have their own badge); answers the counts, or null.
 */
export async function refreshQueuesBadge() {
  const badge = $("queues-badge");
  try {
    const answer = await api("GET", "/v1/admin/queues");
    const entries = Object.entries(answer.counts).filter(([q]) => q !== "proposals");
    const n = entries.reduce((sum, [, c]) => sum + c, 0);
    const capped = entries.some(([, c]) => c >= answer.countMax);
    badge.textContent = capped ? `${n}+` : String(n);
    badge.setAttribute("aria-label", `${badge.textContent} waiting`);
    badge.hidden = n === 0;
    document.body.dataset.queued = String(n);
    return answer;
  } catch {
    badge.hidden = true;
    return null;
  }
}

/**
 * Behind Cloudflare Access the browser carries no token: Access adds its signed assertion to
 * every request, and the API names the operator from it. So without a token, ask who we are
 * first; only where that fails (local development) offer the demo sign-in.
 */
async function signInByAccess() {
  try {
    const me = await api("GET", "/v1/admin/me");
    return me.operator.id;
  } catch {
    return null;
  }
}

let signedInAs = null;

async function signIn() {
  if (token) return;
  signedInAs = await signInByAccess();
  if (signedInAs) return;
  $("signin").hidden = false;
  for (const op of DEMO_OPERATORS) {
    const b = Object.assign(document.createElement("button"), {
      type: "button",
      textContent: `${op.userId} (demo operator)`,
    });
    b.onclick = async () => {
      try {
        token = (await api("POST", "/v1/dev/tokens", op)).token;
        sessionStorage.setItem(TOKEN_KEY, token);
        location.reload();
      } catch {
        say("Demo sign-in exists only in local development.", true);
      }
    };
    $("demo-users").append(b);
  }
  await new Promise(() => {}); // wait for a choice
}

/** Draws the shell and signs in; resolves once there is a token. */
export async function startConsole() {
  drawNav();
  await signIn();
  $("who").textContent = (token ? subjectOf(token) : signedInAs) ?? "operator";
  refreshProposalsBadge();
  refreshQueuesBadge();
}
