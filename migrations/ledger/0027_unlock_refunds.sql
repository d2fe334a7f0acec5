CREATE TABLE `unlock_refunds` (
	`id` text PRIMARY KEY NOT NULL,
	`unlock_id` text NOT NULL,
	`content_id` text NOT NULL,
	`creator_id` text NOT NULL,
	`user_id` text NOT NULL,
	`unlock_day` text NOT NULL,
	`unlock_created_at_ms` integer NOT NULL,
	`amount_minor` integer NOT NULL,
	`platform_minor` integer NOT NULL,
	`creator_minor` integer NOT NULL,
	`source` text NOT NULL,
	`payer_leg_at_ms` integer,
	`moved_receivable_minor` integer,
	`reason` text NOT NULL,
	`actor_id` text NOT NULL,
	`currency` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	CONSTRAINT "unlock_refunds_parts_sum" CHECK("unlock_refunds"."platform_minor" + "unlock_refunds"."creator_minor" = "unlock_refunds"."amount_minor")
);
--> statement-breakpoint
CREATE UNIQUE INDEX `unlock_refunds_unlock` ON `unlock_refunds` (`unlock_id`);--> statement-breakpoint
CREATE INDEX `unlock_refunds_creator_day` ON `unlock_refunds` (`creator_id`,`unlock_day`);--> statement-breakpoint
CREATE INDEX `unlock_refunds_payer_leg` ON `unlock_refunds` (`payer_leg_at_ms`);--> statement-breakpoint
ALTER TABLE `entitlements` ADD `moved_from_shard` integer;