CREATE TABLE `entitlements` (
	`id` text PRIMARY KEY NOT NULL,
	`content_id` text NOT NULL,
	`user_id` text NOT NULL,
	`creator_id` text NOT NULL,
	`amount_minor` integer NOT NULL,
	`platform_minor` integer NOT NULL,
	`creator_minor` integer NOT NULL,
	`platform_bps` integer NOT NULL,
	`currency` text NOT NULL,
	`state` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`revoked_at_ms` integer,
	CONSTRAINT "entitlements_state" CHECK("entitlements"."state" IN ('active', 'revoked')),
	CONSTRAINT "entitlements_parts_sum" CHECK("entitlements"."platform_minor" + "entitlements"."creator_minor" = "entitlements"."amount_minor")
);
--> statement-breakpoint
CREATE UNIQUE INDEX `entitlements_one_active` ON `entitlements` (`user_id`,`content_id`) WHERE "entitlements"."state" = 'active';--> statement-breakpoint
CREATE INDEX `entitlements_created` ON `entitlements` (`created_at_ms`);