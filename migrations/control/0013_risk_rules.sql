CREATE TABLE `risk_list_entries` (
	`kind` text NOT NULL,
	`value` text NOT NULL,
	`reason` text NOT NULL,
	`added_by` text NOT NULL,
	`added_at_ms` integer NOT NULL,
	PRIMARY KEY(`kind`, `value`)
);
--> statement-breakpoint
CREATE TABLE `risk_rules` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`outcome` text NOT NULL,
	`enabled` integer NOT NULL,
	`rule` text NOT NULL,
	`updated_by` text NOT NULL,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "risk_rules_outcome" CHECK("risk_rules"."outcome" IN ('challenge', 'review', 'block'))
);
