-- Held tips on content items (issue 19): held_tips.content_id, room_id nullable with a CHECK that a held tip has
-- exactly one target. A table rebuild (SQLite cannot drop NOT NULL); nothing references held_tips and no trigger or
-- view reads it. The new column does not exist in the old table: NULL is copied.
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_held_tips` (
	`id` text PRIMARY KEY NOT NULL,
	`viewer_id` text NOT NULL,
	`room_id` text,
	`creator_id` text NOT NULL,
	`ask` text NOT NULL,
	`gift_id` text,
	`quantity` integer NOT NULL,
	`amount_minor` integer NOT NULL,
	`currency` text NOT NULL,
	`message` text,
	`decision_id` text NOT NULL,
	`fired` text NOT NULL,
	`idempotency_key` text NOT NULL,
	`state` text NOT NULL,
	`tip_id` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`expires_at_ms` integer NOT NULL,
	`decided_by` text,
	`decided_at_ms` integer,
	`decision_reason` text,
	`content_id` text,
	CONSTRAINT "held_tips_target" CHECK(("__new_held_tips"."room_id" IS NULL) <> ("__new_held_tips"."content_id" IS NULL)),
	CONSTRAINT "held_tips_state" CHECK("__new_held_tips"."state" IN ('held', 'approved', 'declined', 'expired')),
	CONSTRAINT "held_tips_amount" CHECK("__new_held_tips"."amount_minor" > 0)
);
--> statement-breakpoint
INSERT INTO `__new_held_tips`("id", "viewer_id", "room_id", "creator_id", "ask", "gift_id", "quantity", "amount_minor", "currency", "message", "decision_id", "fired", "idempotency_key", "state", "tip_id", "created_at_ms", "expires_at_ms", "decided_by", "decided_at_ms", "decision_reason", "content_id") SELECT "id", "viewer_id", "room_id", "creator_id", "ask", "gift_id", "quantity", "amount_minor", "currency", "message", "decision_id", "fired", "idempotency_key", "state", "tip_id", "created_at_ms", "expires_at_ms", "decided_by", "decided_at_ms", "decision_reason", NULL FROM `held_tips`;--> statement-breakpoint
DROP TABLE `held_tips`;--> statement-breakpoint
ALTER TABLE `__new_held_tips` RENAME TO `held_tips`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `held_tips_state_id` ON `held_tips` (`state`,`id`);--> statement-breakpoint
CREATE INDEX `held_tips_state_expires` ON `held_tips` (`state`,`expires_at_ms`);