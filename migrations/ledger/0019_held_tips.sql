CREATE TABLE `held_tips` (
	`id` text PRIMARY KEY NOT NULL,
	`viewer_id` text NOT NULL,
	`room_id` text NOT NULL,
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
	CONSTRAINT "held_tips_state" CHECK("held_tips"."state" IN ('held', 'approved', 'declined', 'expired')),
	CONSTRAINT "held_tips_amount" CHECK("held_tips"."amount_minor" > 0)
);
--> statement-breakpoint
CREATE INDEX `held_tips_state_id` ON `held_tips` (`state`,`id`);--> statement-breakpoint
CREATE INDEX `held_tips_state_expires` ON `held_tips` (`state`,`expires_at_ms`);