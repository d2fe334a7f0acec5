/**
 * Operator permissions (issue 15): operator roles map to named permissions; every operator
 * route declares the one permission it needs (routes/define.ts), and who holds which roles is
 * data in the control database (src/db/operators.ts), never a token claim alone.
 *
 * The matrix below is the single source: docs/PERMISSIONS.md shows it as a table, and a unit
 * test holds the two equal, so the document cannot drift from what the Worker enforces.
 */

export const OPERATOR_ROLES = ["admin", "finance", "ops", "support", "risk", "auditor"] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

/** Every permission, with what it lets an operator do (the document's second column). */
export const PERMISSIONS = {
  "self.read": "Sign in to the operator console and read one's own roles and permissions.",
  "operator.read": "List operators and their roles.",
  "operator.manage": "Add or disable operators; propose role grants and revocations.",
  "audit.read": "Read the audit log and its chain verification.",
  "health.read": "Read the on-call health summary.",
  "dashboard.read": "Read the platform dashboard (GMV, revenue, tips, payers, red packets, tops) and its CSV.",
  "ledger.read": "Run the ledger invariant checker.",
  "wallet.read":
    "Read any wallet and its transactions; search and open users, creators, tips, packets, unlocks, content.",
  "wallet.adjust": "Credit or debit a wallet by a manual adjustment.",
  "refund.create": "Refund a paid order; read an order's refunds.",
  "payment.read": "Read any user's payment order; search and open orders and refunds.",
  "reconcile.run": "Upload channel statements for reconciliation.",
  "reconcile.read": "Read reconciliation runs and their findings.",
  "tip.reverse": "Reverse a tip; refund a paid unlock (revoking its entitlement).",
  "share.set": "Set a creator's revenue share; publish revenue-share schedules.",
  "share.read": "Read revenue-share schedules.",
  "settlement.run": "Run settlement for a business day.",
  "settlement.read": "List settlements.",
  "creator.hold": "Put a creator under risk hold or lift it.",
  "withdrawal.read": "List withdrawals for review; search and open them.",
  "withdrawal.approve": "Approve or reject a withdrawal.",
  "verification.review": "Review creators' real-name verifications.",
  "gift.edit": "Add, change or retire gifts; set the tip presets.",
  "campaign.manage": "Create subsidy campaigns and issue subsidies.",
  "campaign.read": "Read subsidy campaigns.",
  "template.edit": "Edit the creators' inbox templates.",
  "template.read": "Read the creators' inbox templates.",
  "pii.reseal": "Re-seal stored personal data under the newest key.",
  "switch.read": "Read runtime switches.",
  "switch.set": "Propose switch changes (pause, read-only, channel out, degrade).",
  "alert.manage": "Manage alert rules and delivery targets.",
  "risk.read": "Read risk rules, lists and decisions.",
  "risk.manage": "Manage risk rules and lists; decide risk reviews.",
  "room.moderate": "Act on any room (change or end it, read any red packet).",
  "moderation.read": "Read the sensitive-word list and the queue of held tip messages.",
  "moderation.manage": "Change the sensitive-word list; approve or reject held tip messages.",
  "queue.resolve": "Resolve payment flags (stuck payouts included) and reconciliation findings, with a note.",
  "deadletter.read": "Inspect the messages the queues gave up on (dead letters).",
  "deadletter.manage": "Replay a dead letter to its original queue (once) or discard it.",
  "content.manage": "Register, list, reprice and archive content items for any creator.",
  "partner.read": "List partners, their API keys (never the keys themselves) and webhook endpoints.",
  "partner.manage": "Create and disable partners, assign their creators, issue and revoke their API keys.",
  "proposal.read": "List four-eyes proposals.",
  "proposal.decide":
    "Approve or reject another operator's proposal — only one whose own permission you also hold; never your own.",
} as const satisfies Record<string, string>;

export type Permission = keyof typeof PERMISSIONS;
export const PERMISSION_NAMES = Object.keys(PERMISSIONS) as Permission[];

const READS = [
  "self.read",
  "operator.read",
  "audit.read",
  "health.read",
  "dashboard.read",
  "ledger.read",
  "wallet.read",
  "payment.read",
  "reconcile.read",
  "share.read",
  "settlement.read",
  "withdrawal.read",
  "campaign.read",
  "template.read",
  "switch.read",
  "moderation.read",
  "risk.read",
  "deadletter.read",
  "partner.read",
  "proposal.read",
] as const satisfies readonly Permission[];

/**
 * What each role may do. Admin holds everything; the auditor reads and never changes; the
 * others hold their desk's actions plus the reads those actions need.
 */
export const ROLE_PERMISSIONS: Readonly<Record<OperatorRole, readonly Permission[]>> = {
  admin: PERMISSION_NAMES,
  finance: [
    "self.read",
    "health.read",
    "dashboard.read",
    "ledger.read",
    "wallet.read",
    "payment.read",
    "wallet.adjust",
    "refund.create",
    "reconcile.run",
    "reconcile.read",
    "tip.reverse",
    "share.set",
    "share.read",
    "settlement.run",
    "settlement.read",
    "creator.hold",
    "withdrawal.read",
    "withdrawal.approve",
    "campaign.manage",
    "campaign.read",
    "queue.resolve",
    "deadletter.read",
    "proposal.read",
    "proposal.decide",
  ],
  ops: [
    "self.read",
    "health.read",
    "dashboard.read",
    "settlement.run",
    "settlement.read",
    "creator.hold",
    "gift.edit",
    "campaign.manage",
    "campaign.read",
    "template.edit",
    "template.read",
    "switch.read",
    "switch.set",
    "alert.manage",
    "room.moderate",
    "moderation.read",
    "moderation.manage",
    "deadletter.read",
    "deadletter.manage",
    "content.manage",
    "partner.read",
    "partner.manage",
    "proposal.read",
    "proposal.decide",
  ],
  support: [
    "self.read",
    "health.read",
    "wallet.read",
    "payment.read",
    "verification.review",
    "risk.read",
    "room.moderate",
    "moderation.read",
    "moderation.manage",
    "proposal.read",
  ],
  risk: [
    "self.read",
    "health.read",
    "dashboard.read",
    "wallet.read",
    "payment.read",
    "creator.hold",
    "withdrawal.read",
    "switch.read",
    "switch.set",
    "risk.read",
    "risk.manage",
    "moderation.read",
    "moderation.manage",
    "proposal.read",
    "proposal.decide",
  ],
  auditor: READS,
};

export function isOperatorRole(role: string): role is OperatorRole {
  return (OPERATOR_ROLES as readonly string[]).includes(role);
}

/** The union of the roles' permissions. */
export function permissionsOf(roles: Iterable<OperatorRole>): ReadonlySet<Permission> {
  const held = new Set<Permission>();
  for (const role of roles) for (const p of ROLE_PERMISSIONS[role]) held.add(p);
  return held;
}

export function rolesWith(permission: Permission): OperatorRole[] {
  return OPERATOR_ROLES.filter((r) => ROLE_PERMISSIONS[r].includes(permission));
}

/** True when some role among `roles` holds `permission`. */
export function may(roles: Iterable<OperatorRole>, permission: Permission): boolean {
  for (const role of roles) if (ROLE_PERMISSIONS[role].includes(permission)) return true;
  return false;
}
