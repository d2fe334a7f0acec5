CREATE TABLE `creator_settlements` (
	`id` text PRIMARY KEY NOT NULL,
	`creator_id` text NOT NULL,
	`day` text NOT NULL,
	`state` text NOT NULL,
	`due_at_ms` integer NOT NULL,
	`gross_minor` integer NOT NULL,
	`platform_minor` integer NOT NULL,
	`creator_part_minor` integer NOT NULL,
	`reversed_minor` integer NOT NULL,
	`withholding_minor` integer NOT NULL,
	`receivable_offset_minor` integer NOT NULL,
	`net_minor` integer NOT NULL,
	`tip_count` integer NOT NULL,
	`currency` text NOT NULL,
	`run_id` text NOT NULL,
	`held_reason` text,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "creator_settlements_net" CHECK("creator_settlements"."net_minor" = "creator_settlements"."creator_part_minor" - "creator_settlements"."reversed_minor" - "creator_settlements"."withholding_minor" - "creator_settlements"."receivable_offset_minor" AND "creator_settlements"."net_minor" >= 0)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `creator_settlements_creator_day` ON `creator_settlements` (`creator_id`,`day`);--> statement-breakpoint
CREATE INDEX `creator_settlements_state_day` ON `creator_settlements` (`state`,`day`);--> statement-breakpoint
CREATE TABLE `inbox_messages` (
	`id` text PRIMARY KEY NOT NULL,
	`creator_id` text NOT NULL,
	`kind` text NOT NULL,
	`vars` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`read_at_ms` integer
);
--> statement-breakpoint
CREATE INDEX `inbox_messages_creator_created` ON `inbox_messages` (`creator_id`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `inbox_messages_creator_unread` ON `inbox_messages` (`creator_id`,`read_at_ms`);--> statement-breakpoint
CREATE TABLE `tip_reversals` (
	`id` text PRIMARY KEY NOT NULL,
	`tip_id` text NOT NULL,
	`creator_id` text NOT NULL,
	`viewer_id` text NOT NULL,
	`tip_day` text NOT NULL,
	`tip_created_at_ms` integer NOT NULL,
	`amount_minor` integer NOT NULL,
	`platform_minor` integer NOT NULL,
	`creator_minor` integer NOT NULL,
	`source` text NOT NULL,
	`platform_leg_at_ms` integer,
	`reason` text NOT NULL,
	`actor_id` text NOT NULL,
	`currency` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	CONSTRAINT "tip_reversals_parts_sum" CHECK("tip_reversals"."platform_minor" + "tip_reversals"."creator_minor" = "tip_reversals"."amount_minor")
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tip_reversals_tip` ON `tip_reversals` (`tip_id`);--> statement-breakpoint
CREATE INDEX `tip_reversals_creator_day` ON `tip_reversals` (`creator_id`,`tip_day`);--> statement-breakpoint
CREATE INDEX `tip_reversals_creator_created` ON `tip_reversals` (`creator_id`,`created_at_ms`);--> statement-breakpoint
CREATE TABLE `withdrawal_transitions` (
	`withdrawal_id` text NOT NULL,
	`seq` integer NOT NULL,
	`from_state` text,
	`to_state` text NOT NULL,
	`cause` text NOT NULL,
	`ref` text,
	`actor_id` text,
	`at_ms` integer NOT NULL,
	PRIMARY KEY(`withdrawal_id`, `seq`),
	FOREIGN KEY (`withdrawal_id`) REFERENCES `withdrawals`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `withdrawals` (
	`id` text PRIMARY KEY NOT NULL,
	`creator_id` text NOT NULL,
	`amount_minor` integer NOT NULL,
	`fee_minor` integer DEFAULT 0 NOT NULL,
	`currency` text NOT NULL,
	`channel` text NOT NULL,
	`payout_account_id` text NOT NULL,
	`destination_masked` text NOT NULL,
	`state` text NOT NULL,
	`review` text NOT NULL,
	`review_reasons` text,
	`reviewer_id` text,
	`reject_reason` text,
	`failure_reason` text,
	`provider_ref` text,
	`channel_state` text,
	`paying_since_ms` integer,
	`query_attempts` integer DEFAULT 0 NOT NULL,
	`next_query_at_ms` integer,
	`stuck_flagged_at_ms` integer,
	`idempotency_key` text NOT NULL,
	`transition_count` integer DEFAULT 1 NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "withdrawals_amount_positive" CHECK("withdrawals"."amount_minor" > 0),
	CONSTRAINT "withdrawals_fee_bounded" CHECK("withdrawals"."fee_minor" >= 0 AND "withdrawals"."fee_minor" < "withdrawals"."amount_minor")
);
--> statement-breakpoint
CREATE UNIQUE INDEX `withdrawals_creator_key` ON `withdrawals` (`creator_id`,`idempotency_key`);--> statement-breakpoint
CREATE INDEX `withdrawals_creator_created` ON `withdrawals` (`creator_id`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `withdrawals_state_created` ON `withdrawals` (`state`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `withdrawals_next_query` ON `withdrawals` (`next_query_at_ms`);--> statement-breakpoint
ALTER TABLE `tips` ADD `platform_bps` integer;--> statement-breakpoint
ALTER TABLE `tips` ADD `schedule_version` integer;--> statement-breakpoint
CREATE INDEX `tips_creator_created` ON `tips` (`creator_id`,`created_at_ms`);