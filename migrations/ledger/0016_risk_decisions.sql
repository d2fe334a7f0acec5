CREATE TABLE `risk_decisions` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`action` text NOT NULL,
	`outcome` text NOT NULL,
	`rule_ids` text NOT NULL,
	`fired` text NOT NULL,
	`amount_minor` integer,
	`signals_digest` text NOT NULL,
	`device_id` text,
	`ip` text,
	`at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `risk_decisions_user_at` ON `risk_decisions` (`user_id`,`at_ms`);--> statement-breakpoint
CREATE INDEX `risk_decisions_at` ON `risk_decisions` (`at_ms`);