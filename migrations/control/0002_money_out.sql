CREATE TABLE `creator_notification_mutes` (
	`creator_id` text NOT NULL,
	`kind` text NOT NULL,
	`muted_at_ms` integer NOT NULL,
	PRIMARY KEY(`creator_id`, `kind`)
);
--> statement-breakpoint
CREATE TABLE `creator_verifications` (
	`creator_id` text PRIMARY KEY NOT NULL,
	`state` text NOT NULL,
	`sealed` text NOT NULL,
	`key_id` text NOT NULL,
	`real_name_masked` text NOT NULL,
	`id_number_masked` text NOT NULL,
	`submitted_at_ms` integer NOT NULL,
	`reviewer_id` text,
	`reviewed_at_ms` integer,
	`reject_reason` text,
	`updated_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `creator_verifications_state` ON `creator_verifications` (`state`,`submitted_at_ms`);--> statement-breakpoint
CREATE TABLE `notification_templates` (
	`kind` text NOT NULL,
	`locale` text NOT NULL,
	`title` text NOT NULL,
	`body` text NOT NULL,
	`updated_by` text NOT NULL,
	`updated_at_ms` integer NOT NULL,
	PRIMARY KEY(`kind`, `locale`)
);
--> statement-breakpoint
CREATE TABLE `payout_accounts` (
	`id` text PRIMARY KEY NOT NULL,
	`creator_id` text NOT NULL,
	`channel` text NOT NULL,
	`sealed` text NOT NULL,
	`key_id` text NOT NULL,
	`masked` text NOT NULL,
	`is_default` integer NOT NULL,
	`cooling_until_ms` integer NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	`removed_at_ms` integer
);
--> statement-breakpoint
CREATE INDEX `payout_accounts_creator` ON `payout_accounts` (`creator_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `payout_accounts_one_default` ON `payout_accounts` (`creator_id`) WHERE "payout_accounts"."is_default" = 1 AND "payout_accounts"."removed_at_ms" IS NULL;--> statement-breakpoint
CREATE TABLE `revenue_schedules` (
	`version` integer PRIMARY KEY NOT NULL,
	`effective_from_ms` integer NOT NULL,
	`tiers` text NOT NULL,
	`note` text,
	`created_by` text NOT NULL,
	`created_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `revenue_schedules_effective` ON `revenue_schedules` (`effective_from_ms`);--> statement-breakpoint
ALTER TABLE `creators` ADD `risk_hold` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `creators` ADD `risk_hold_reason` text;--> statement-breakpoint
ALTER TABLE `creators` ADD `locale` text DEFAULT 'zh-CN' NOT NULL;