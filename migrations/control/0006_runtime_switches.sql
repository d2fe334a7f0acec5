CREATE TABLE `runtime_switches` (
	`kind` text NOT NULL,
	`scope` text NOT NULL,
	`value` integer,
	`reason` text NOT NULL,
	`set_by` text NOT NULL,
	`set_at_ms` integer NOT NULL,
	`expires_at_ms` integer,
	PRIMARY KEY(`kind`, `scope`)
);
--> statement-breakpoint
CREATE TABLE `switch_versions` (
	`id` integer PRIMARY KEY NOT NULL,
	`version` integer NOT NULL,
	`changed_at_ms` integer NOT NULL,
	CONSTRAINT "switch_versions_one_row" CHECK("switch_versions"."id" = 1)
);
