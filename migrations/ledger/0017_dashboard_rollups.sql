CREATE TABLE `dashboard_days` (
	`currency` text NOT NULL,
	`day` text NOT NULL,
	`tip_count` integer NOT NULL,
	`tip_minor` integer NOT NULL,
	`platform_minor` integer NOT NULL,
	`packet_paid_minor` integer NOT NULL,
	`packets_sent` integer NOT NULL,
	`packets_sent_minor` integer NOT NULL,
	`claims` integer NOT NULL,
	`claimed_minor` integer NOT NULL,
	PRIMARY KEY(`currency`, `day`)
);
--> statement-breakpoint
CREATE TABLE `dashboard_entity_days` (
	`currency` text NOT NULL,
	`day` text NOT NULL,
	`kind` text NOT NULL,
	`key` text NOT NULL,
	`amount_minor` integer NOT NULL,
	`tip_count` integer NOT NULL,
	PRIMARY KEY(`day`, `currency`, `kind`, `key`)
);
--> statement-breakpoint
CREATE TABLE `dashboard_payer_days` (
	`currency` text NOT NULL,
	`day` text NOT NULL,
	`user_id` text NOT NULL,
	PRIMARY KEY(`day`, `currency`, `user_id`)
);
--> statement-breakpoint
CREATE TABLE `dashboard_payers` (
	`currency` text NOT NULL,
	`grain` text NOT NULL,
	`period` text NOT NULL,
	`payers` integer NOT NULL,
	PRIMARY KEY(`currency`, `grain`, `period`)
);
--> statement-breakpoint
CREATE TABLE `dashboard_rollups` (
	`day` text PRIMARY KEY NOT NULL,
	`final` integer NOT NULL,
	`computed_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `red_packets_created` ON `red_packets` (`created_at_ms`);