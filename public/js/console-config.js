import { $, api, describeError, refreshProposalsBadge, say, startConsole } from "./console-common.js";

// Configuration: one panel per setting — a table of what is set and a form that changes it
// through the audited admin API. A four-eyed change answers 202 with a proposal: the panel
// says so and links the proposals page; the table changes once a second operator approves.

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
};
const when = (ms) => (ms === null || ms === undefined ? "—" : new Date(ms).toLocaleString());
const key = () => crypto.randomUUID();
/** Minor units as a decimal amount, in integers. */
const money = (minor) => `${Math.trunc(minor / 100)}.${String(minor % 100).padStart(2, "0")}`;

function table(headers, rows, empty) {
  if (rows.length === 0) return el("p", { className: "hint empty", textContent: empty });
  return el(
    "div",
    { className: "table-box" },
    el(
      "table",
      { className: "config-table" },
      el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { textContent: h })))),
      el(
        "tbody",
        {},
        ...rows.map((cells) => {
          const tr = el("tr", {}, ...cells.map((c) => el("td", {}, c instanceof Node ? c : String(c ?? "—"))));
          return tr;
        }),
      ),
    ),
  );
}

const field = (label, input) => el("label", {}, label, input);
const input = (name, props = {}) => el("input", { name, type: "text", ...props });
const select = (name, options, value) =>
  el("select", { name }, ...options.map((o) => el("option", { value: o, textContent: o, selected: o === value })));

/**
 * Runs a change and writes its outcome under the form: done, kept as a proposal (202), or the
 * API's refusal. Reloads the section after a change that took effect.
 */
async function change(section, run, done) {
  const out = section.querySelector(".config-result");
  out.className = "config-result";
  out.textContent = "…";
  try {
    const answer = await run();
    if (answer?.proposal) {
      out.replaceChildren(
        `Kept as proposal ${answer.proposal.id} (“${answer.proposal.summary}”): a second operator approves it on `,
        el("a", { href: "/console/proposals.html", textContent: "the proposals page" }),
        ".",
      );
      out.dataset.outcome = "proposed";
      out.dataset.proposal = answer.proposal.id;
      refreshProposalsBadge();
      return;
    }
    await section.reload();
    const result = section.querySelector(".config-result");
    result.textContent = done;
    result.dataset.outcome = "done";
  } catch (e) {
    out.classList.add("error");
    out.textContent = describeError(e);
    out.dataset.outcome = e.code ?? "error";
  }
}

function formOf(fields, submitLabel, onSubmit) {
  const form = el(
    "form",
    { className: "config-form" },
    ...fields,
    el("button", { type: "submit", textContent: submitLabel }),
  );
  form.onsubmit = (event) => {
    event.preventDefault();
    onSubmit(new FormData(form), form);
  };
  return form;
}

const button = (label, onclick, className = "small") => {
  const b = el("button", { type: "button", className, textContent: label });
  b.onclick = onclick;
  return b;
};

const SWITCH_KINDS = [
  "tips_paused",
  "packets_paused",
  "read_only",
  "payment_channel_out",
  "payout_channel_out",
  "effects_degraded",
  "claims_tightened",
  "unlocks_paused",
];
const LIST_KINDS = ["user", "device", "ip", "cidr", "card", "payout_account", "country", "asn"];
const GIFT_TIERS = ["small", "medium", "big", "epic"];
const ROLES = ["admin", "finance", "ops", "support", "risk", "auditor"];
const RULE_EXAMPLE = {
  kind: "velocity",
  outcome: "block",
  enabled: true,
  action: "tip",
  scope: "user",
  count: 30,
  windowSec: 10,
};

const SECTIONS = [
  {
    id: "switches",
    title: "Runtime switches",
    hint: "Pause tips, red packets or paid unlocks, go read-only, take a channel out, degrade effects, tighten claims — platform-wide or for one room, gift, channel, content item or creator. Every change is four-eyed.",
    async draw(section) {
      const { switches, propagationMaxMs } = await api("GET", "/v1/admin/switches");
      const clear = (s) => () =>
        change(
          section,
          () => api("DELETE", `/v1/admin/switches/${s.kind}/${encodeURIComponent(s.scope)}`, undefined, key()),
          "Cleared.",
        );
      return [
        table(
          ["Switch", "Scope", "Value", "Reason", "Set by", "Expires", "Active", ""],
          switches.map((s) => [
            el("code", { textContent: s.kind }),
            s.scope,
            s.value ?? "—",
            s.reason,
            `${s.setBy}, ${when(s.setAtMs)}`,
            when(s.expiresAtMs),
            s.active ? "yes" : "expired",
            button("Clear", clear(s)),
          ]),
          "No switch is set: everything runs normally.",
        ),
        el("h3", { textContent: "Set a switch" }),
        formOf(
          [
            field("Switch", select("kind", SWITCH_KINDS, "tips_paused")),
            field(
              "Scope",
              input("scope", {
                value: "platform",
                placeholder: "platform, room:<id>, gift:<id>, channel:<name>, content:<id>, creator:<id>",
                size: 34,
              }),
            ),
            field("Value (claims_tightened)", input("value", { type: "number", min: 1, size: 6 })),
            field("Reason", input("reason", { required: true, minLength: 3, size: 30 })),
            field("Expires", input("expires", { type: "datetime-local" })),
          ],
          "Propose",
          (data) =>
            change(
              section,
              () =>
                api(
                  "PUT",
                  `/v1/admin/switches/${data.get("kind")}/${encodeURIComponent(String(data.get("scope")).trim())}`,
                  {
                    value: data.get("value") ? Number(data.get("value")) : null,
                    reason: String(data.get("reason")).trim(),
                    expiresAtMs: data.get("expires") ? new Date(String(data.get("expires"))).getTime() : null,
                  },
                  key(),
                ),
              "Set.",
            ),
        ),
        el("p", {
          className: "hint",
          textContent: `A change reaches every isolate within ${propagationMaxMs / 1000} s.`,
        }),
      ];
    },
  },
  {
    id: "risk-rules",
    title: "Risk rules",
    hint: "Velocity, amount caps, blacklists, geo blocks, cash-out chains… each with its outcome (challenge, review, block). Edit loads a rule into the form as JSON.",
    async draw(section) {
      const { rules } = await api("GET", "/v1/admin/risk/rules");
      const ruleInput = el("textarea", {
        name: "rule",
        rows: 6,
        cols: 50,
        value: JSON.stringify(RULE_EXAMPLE, null, 2),
      });
      const idInput = input("id", { required: true, placeholder: "tip-velocity-user", size: 22 });
      const save = (id, rule) =>
        change(section, () => api("PUT", `/v1/admin/risk/rules/${encodeURIComponent(id)}`, { ...rule, id }), "Saved.");
      return [
        table(
          ["Rule", "Kind", "Outcome", "Enabled", "Parameters", "Updated", ""],
          rules.map(({ rule, updatedBy, updatedAtMs }) => {
            const { id, kind, outcome, enabled, ...params } = rule;
            return [
              el("code", { textContent: id }),
              kind,
              outcome,
              enabled ? "yes" : "no",
              el("code", { textContent: JSON.stringify(params) }),
              `${updatedBy}, ${when(updatedAtMs)}`,
              el(
                "span",
                { className: "row-actions" },
                button(enabled ? "Disable" : "Enable", () => save(id, { ...rule, enabled: !enabled })),
                button("Edit", () => {
                  idInput.value = id;
                  ruleInput.value = JSON.stringify({ kind, outcome, enabled, ...params }, null, 2);
                  idInput.focus();
                }),
                button("Delete", () =>
                  change(section, () => api("DELETE", `/v1/admin/risk/rules/${encodeURIComponent(id)}`), "Deleted."),
                ),
              ),
            ];
          }),
          "No rule: only the built-in limits apply.",
        ),
        el("h3", { textContent: "Add or change a rule" }),
        formOf([field("Rule id", idInput), field("Rule (JSON)", ruleInput)], "Save rule", (data) => {
          let rule;
          try {
            rule = JSON.parse(String(data.get("rule")));
          } catch {
            const out = section.querySelector(".config-result");
            out.className = "config-result error";
            out.textContent = "The rule is not valid JSON.";
            return;
          }
          save(String(data.get("id")).trim(), rule);
        }),
      ];
    },
  },
  {
    id: "risk-lists",
    title: "Risk lists",
    hint: "Blacklisted users, devices, IPs, CIDRs, cards and payout accounts; blocked countries and ASNs. Newest first.",
    async draw(section) {
      const { entries } = await api("GET", "/v1/admin/risk/lists?limit=100");
      return [
        table(
          ["List", "Value", "Reason", "Added", ""],
          entries.map((e) => [
            e.kind,
            el("code", { textContent: e.value }),
            e.reason,
            `${e.addedBy}, ${when(e.addedAtMs)}`,
            button("Remove", () =>
              change(
                section,
                () => api("DELETE", `/v1/admin/risk/lists/${e.kind}?value=${encodeURIComponent(e.value)}`),
                "Removed.",
              ),
            ),
          ]),
          "The lists are empty.",
        ),
        el("h3", { textContent: "Add an entry" }),
        formOf(
          [
            field("List", select("kind", LIST_KINDS, "device")),
            field("Value", input("value", { required: true, size: 20 })),
            field("Reason", input("reason", { required: true, minLength: 3, size: 30 })),
          ],
          "Add",
          (data) =>
            change(
              section,
              () =>
                api("POST", `/v1/admin/risk/lists/${data.get("kind")}`, {
                  value: String(data.get("value")).trim(),
                  reason: String(data.get("reason")).trim(),
                }),
              "Added.",
            ),
        ),
      ];
    },
  },
  {
    id: "gifts",
    title: "Gifts and tip presets",
    hint: "The gift catalog viewers tip from (disabled gifts stay for history). Edit loads a gift into the form; saving an existing id changes it.",
    async draw(section) {
      const catalog = await api("GET", "/v1/gifts?includeDisabled=true");
      const form = formOf(
        [
          field("Id", input("id", { required: true, size: 12, placeholder: "lantern" })),
          field("Name", input("name", { required: true, size: 14 })),
          field("Price", input("price", { required: true, size: 8, placeholder: "9.90" })),
          field("Tier", select("tier", GIFT_TIERS, "small")),
          field("Animation", input("animationKey", { required: true, size: 12, placeholder: "float" })),
          field("Order", input("sortOrder", { type: "number", min: 0, value: 100, size: 5 })),
          field("Enabled", el("input", { name: "enabled", type: "checkbox", checked: true })),
        ],
        "Save gift",
        (data) => {
          const id = String(data.get("id")).trim();
          const fields = {
            name: String(data.get("name")).trim(),
            price: String(data.get("price")).trim(),
            tier: String(data.get("tier")),
            animationKey: String(data.get("animationKey")).trim(),
            sortOrder: Number(data.get("sortOrder")),
            enabled: data.get("enabled") === "on",
          };
          const exists = catalog.gifts.some((g) => g.id === id);
          change(
            section,
            () =>
              exists
                ? api("PATCH", `/v1/admin/gifts/${encodeURIComponent(id)}`, fields)
                : api("POST", "/v1/admin/gifts", { id, ...fields }),
            exists ? "Changed." : "Added.",
          );
        },
      );
      const edit = (g) => () => {
        for (const [name, value] of Object.entries(g)) {
          const f = form.elements.namedItem(name);
          if (!f) continue;
          if (f.type === "checkbox") f.checked = Boolean(value);
          else f.value = String(value);
        }
      };
      const toggle = (g) => () =>
        change(
          section,
          () => api("PATCH", `/v1/admin/gifts/${encodeURIComponent(g.id)}`, { enabled: !g.enabled }),
          g.enabled ? "Disabled." : "Enabled.",
        );
      return [
        table(
          ["Gift", "Name", "Price", "Tier", "Animation", "Order", "Enabled", ""],
          catalog.gifts.map((g) => [
            el("code", { textContent: g.id }),
            g.name,
            `${g.price} ${g.currency}`,
            g.tier,
            g.animationKey,
            g.sortOrder,
            g.enabled ? "yes" : "no",
            el(
              "span",
              { className: "row-actions" },
              button(g.enabled ? "Disable" : "Enable", toggle(g)),
              button("Edit", edit(g)),
            ),
          ]),
          "No gift yet.",
        ),
        el("h3", { textContent: "Add or change a gift" }),
        form,
        el("h3", { textContent: "Tip presets" }),
        el(
          "p",
          { className: "hint" },
          `The viewer page's quick amounts, in this order; each within the custom tip range ${money(catalog.customTip.minMinor)}–${money(catalog.customTip.maxMinor)} ${catalog.customTip.currency}.`,
        ),
        formOf(
          [
            field(
              "Amounts (comma-separated)",
              input("amounts", {
                required: true,
                size: 30,
                value: catalog.tipPresets.map((p) => p.amount).join(", "),
              }),
            ),
          ],
          "Save presets",
          (data) =>
            change(
              section,
              () =>
                api("PUT", "/v1/admin/tip-presets", {
                  amounts: String(data.get("amounts"))
                    .split(",")
                    .map((a) => a.trim())
                    .filter(Boolean),
                }),
              "Presets saved.",
            ),
        ),
      ];
    },
  },
  {
    id: "campaigns",
    title: "Campaigns and subsidy budgets",
    hint: "Platform-funded red packets: a campaign's budget is moved from the platform's subsidy account when it is created; subsidies are issued from it to users, once per external id, never past what remains. Both are audited.",
    async draw(section) {
      const { campaigns } = await api("GET", "/v1/admin/campaigns?limit=20");
      const text = (data, name) => String(data.get(name)).trim();
      // Both move money, so the API asks each for an Idempotency-Key: one per submit.
      const keyedPost = (urlOf, bodyOf, done) => (data) =>
        change(section, () => api("POST", urlOf(data), bodyOf(data), key()), done);
      // The figures (what remains, issued, used) are in each campaign's ledger shard.
      const figures = await Promise.all(
        campaigns.map((c) => api("GET", `/v1/admin/campaigns/${c.id}`).then((r) => r.campaign)),
      );
      return [
        table(
          ["Campaign", "Name", "Budget", "Remaining", "Issued", "Used", "Created"],
          figures.map((c) => [
            el("code", { textContent: c.id }),
            c.name,
            `${money(c.budgetMinor)} ${c.currency}`,
            money(c.remainingMinor),
            `${c.issuedCount} · ${money(c.issuedMinor)}`,
            c.usedCount,
            `${c.createdBy}, ${when(c.createdAtMs)}`,
          ]),
          "No campaign yet.",
        ),
        el("h3", { textContent: "Create a campaign" }),
        formOf(
          [
            field("Name", input("name", { required: true, size: 20, placeholder: "Spring Festival 2027" })),
            field("Budget", input("budget", { required: true, size: 10, placeholder: "10000.00" })),
          ],
          "Create campaign",
          keyedPost(
            () => "/v1/admin/campaigns",
            (data) => ({ name: text(data, "name"), budget: text(data, "budget") }),
            "Campaign created.",
          ),
        ),
        campaigns.length === 0 ? null : el("h3", { textContent: "Issue a subsidy" }),
        campaigns.length === 0
          ? null
          : formOf(
              [
                field(
                  "Campaign",
                  el(
                    "select",
                    { name: "campaignId" },
                    ...campaigns.map((c) => el("option", { value: c.id, textContent: c.name })),
                  ),
                ),
                field("External id", input("externalId", { required: true, size: 16, placeholder: "spring/u/8812" })),
                field("User", input("userId", { required: true, size: 12, placeholder: "viewer-ana" })),
                field("Amount", input("amount", { required: true, size: 8, placeholder: "8.88" })),
              ],
              "Issue subsidy",
              keyedPost(
                (data) => `/v1/admin/campaigns/${data.get("campaignId")}/subsidies`,
                (data) => ({
                  externalId: text(data, "externalId"),
                  userId: text(data, "userId"),
                  amount: text(data, "amount"),
                }),
                "Subsidy issued.",
              ),
            ),
      ];
    },
  },
  {
    id: "operators",
    title: "Operators and roles",
    hint: "Who may use this console, with which roles (docs/PERMISSIONS.md). Granting a role or enabling an operator again is four-eyed; revoking and disabling take effect at once.",
    async draw(section) {
      const page = await api("GET", "/v1/admin/operators?limit=100");
      const rolesForm = (o) => {
        const boxes = ROLES.map((r) =>
          el(
            "label",
            { className: "role" },
            el("input", { type: "checkbox", value: r, checked: o.roles.includes(r) }),
            r,
          ),
        );
        const save = button("Save roles", () =>
          change(
            section,
            () =>
              api(
                "PUT",
                `/v1/admin/operators/${encodeURIComponent(o.id)}/roles`,
                {
                  roles: boxes
                    .map((b) => b.querySelector("input"))
                    .filter((i) => i.checked)
                    .map((i) => i.value),
                },
                key(),
              ),
            "Roles saved.",
          ),
        );
        return el("span", { className: "roles" }, ...boxes, save);
      };
      const status = (o) =>
        button(o.status === "active" ? "Disable" : "Enable", () =>
          change(
            section,
            () =>
              api(
                "PUT",
                `/v1/admin/operators/${encodeURIComponent(o.id)}/status`,
                { status: o.status === "active" ? "disabled" : "active" },
                key(),
              ),
            o.status === "active" ? "Disabled." : "Enabled.",
          ),
        );
      return [
        table(
          ["Operator", "Name", "Email", "Status", "Roles", ""],
          page.items.map((o) => [
            el("code", { textContent: o.id }),
            o.displayName,
            o.email ?? "—",
            o.status,
            rolesForm(o),
            status(o),
          ]),
          "No operator.",
        ),
        el("h3", { textContent: "Add an operator (no roles yet: grant them above)" }),
        formOf(
          [
            field("Id", input("id", { required: true, size: 14, placeholder: "op-alice" })),
            field("Name", input("displayName", { required: true, size: 14 })),
            field("Email", input("email", { type: "email", size: 22 })),
          ],
          "Add operator",
          (data) =>
            change(
              section,
              () =>
                api("POST", "/v1/admin/operators", {
                  id: String(data.get("id")).trim(),
                  displayName: String(data.get("displayName")).trim(),
                  email: data.get("email") ? String(data.get("email")).trim() : null,
                }),
              "Added.",
            ),
        ),
      ];
    },
  },
  {
    id: "revenue",
    title: "Revenue-share schedules",
    hint: "Tiered platform share by a creator's month gross, versioned: a change is a new version from its effective instant (never an edit).",
    async draw(section) {
      const { schedules } = await api("GET", "/v1/admin/revenue-schedules");
      const tiers = (s) => s.tiers.map((t) => `from ${t.from}: ${t.platformShareBps / 100}%`).join(" · ");
      return [
        table(
          ["Version", "Effective from", "Tiers (platform share)", "Note", "Published"],
          schedules.map((s) => [
            s.version,
            when(s.effectiveFromMs),
            tiers(s),
            s.note ?? "—",
            `${s.createdBy}, ${when(s.createdAtMs)}`,
          ]),
          "No schedule: the flat default share applies.",
        ),
        el("h3", { textContent: "Publish a new version" }),
        formOf(
          [
            field(
              "Tiers: one per line, “from share%”",
              el("textarea", { name: "tiers", rows: 3, cols: 24, value: "0.00 30\n1000.00 25\n5000.00 20" }),
            ),
            field("Effective from", input("from", { type: "datetime-local", required: true })),
            field("Note", input("note", { size: 20, maxLength: 200 })),
          ],
          "Publish",
          (data) => {
            const parsed = String(data.get("tiers"))
              .split("\n")
              .map((l) => l.trim().split(/\s+/))
              .filter((p) => p[0]);
            const body = {
              // Basis points from a percentage with up to two decimals, in integers.
              tiers: parsed.map(([from, pct]) => {
                const [whole, frac = ""] = String(pct ?? "").split(".");
                return { from, platformShareBps: Number(whole) * 100 + Number(frac.padEnd(2, "0").slice(0, 2)) };
              }),
              effectiveFrom: new Date(String(data.get("from"))).toISOString(),
              ...(data.get("note") ? { note: String(data.get("note")) } : {}),
            };
            change(section, () => api("POST", "/v1/admin/revenue-schedules", body, key()), "Published.");
          },
        ),
      ];
    },
  },
  {
    id: "templates",
    title: "Notification templates",
    hint: "The creators' inbox messages per kind and language, with the {variables} each may use. Edit loads one into the form.",
    async draw(section) {
      const { items } = await api("GET", "/v1/admin/notification-templates");
      const form = formOf(
        [
          field("Kind", select("kind", [...new Set(items.map((t) => t.kind))], items[0]?.kind)),
          field("Language", select("locale", [...new Set(items.map((t) => t.locale))], items[0]?.locale)),
          field("Title", input("title", { required: true, size: 24 })),
          field("Body", el("textarea", { name: "body", rows: 2, cols: 40, required: true })),
        ],
        "Save template",
        (data) =>
          change(
            section,
            () =>
              api("PUT", `/v1/admin/notification-templates/${data.get("kind")}/${data.get("locale")}`, {
                title: String(data.get("title")),
                body: String(data.get("body")),
              }),
            "Saved.",
          ),
      );
      const edit = (t) => () => {
        for (const name of ["kind", "locale", "title", "body"]) form.elements.namedItem(name).value = t[name];
      };
      return [
        table(
          ["Kind", "Language", "Title", "Body", "Variables", "Source", ""],
          items.map((t) => [
            el("code", { textContent: t.kind }),
            t.locale,
            t.title,
            t.body,
            t.variables.map((v) => `{${v}}`).join(" "),
            t.source === "override" ? `edited by ${t.updatedBy}` : "default",
            button("Edit", edit(t)),
          ]),
          "No template.",
        ),
        el("h3", { textContent: "Change a template" }),
        form,
      ];
    },
  },
  {
    id: "alert-targets",
    title: "Alert targets",
    hint: "Where alerts are delivered (Slack, Feishu, WeCom, a generic signed webhook). The webhook URL is a credential: stored sealed, only its origin shown.",
    async draw(section) {
      const { items } = await api("GET", "/v1/admin/alert-targets");
      return [
        table(
          ["Target", "Name", "Kind", "URL", "Secret", "Per hour", "Enabled", ""],
          items.map((t) => [
            el("code", { textContent: t.id }),
            t.name,
            t.kind,
            t.urlHint,
            t.hasSecret ? "yes" : "no",
            t.ratePerHour,
            t.enabled ? "yes" : "no",
            button(t.enabled ? "Disable" : "Enable", () =>
              change(section, () => api("PATCH", `/v1/admin/alert-targets/${t.id}`, { enabled: !t.enabled }), "Saved."),
            ),
          ]),
          "No alert target: alerts are only logged.",
        ),
        el("h3", { textContent: "Add a target" }),
        formOf(
          [
            field("Name", input("name", { required: true, size: 16 })),
            field("Kind", select("kind", ["slack", "feishu", "wecom", "generic"], "feishu")),
            field("Webhook URL (https)", input("url", { type: "url", required: true, size: 30 })),
            field("Secret (optional)", input("secret", { type: "password", size: 14 })),
          ],
          "Add target",
          (data) =>
            change(
              section,
              () =>
                api("POST", "/v1/admin/alert-targets", {
                  name: String(data.get("name")).trim(),
                  kind: String(data.get("kind")),
                  url: String(data.get("url")).trim(),
                  ...(data.get("secret") ? { secret: String(data.get("secret")) } : {}),
                }),
              "Added.",
            ),
        ),
      ];
    },
  },
];

function drawSection(s) {
  const section = el("section", { className: "panel config-section", id: s.id });
  section.reload = async () => {
    const body = el("div", { className: "config-body" });
    try {
      body.append(...(await s.draw(section)));
      section.dataset.loaded = "true";
    } catch (e) {
      body.append(
        el("p", {
          className: "hint",
          textContent: e.status === 403 ? "Your roles may not read this." : describeError(e),
        }),
      );
      section.dataset.loaded = e.status === 403 ? "forbidden" : "error";
    }
    section.replaceChildren(
      el("h2", { textContent: s.title }),
      el("p", { className: "hint", textContent: s.hint }),
      body,
      el("p", { className: "config-result", role: "status" }),
    );
  };
  return section;
}

await startConsole();
$("config-toc").replaceChildren(
  ...SECTIONS.map((s) => el("a", { className: "queue-tab", href: `#${s.id}`, textContent: s.title })),
);
const sections = SECTIONS.map(drawSection);
$("config-sections").replaceChildren(...sections);
Promise.all(sections.map((s) => s.reload()))
  .then(() => {
    document.body.dataset.loaded = "true";
    if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
  })
  .catch((e) => say(describeError(e), true));
