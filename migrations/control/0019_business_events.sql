CREATE TABLE `business_event_cursors` (
	`source` text PRIMARY KEY NOT NULL,
	`at_ms` integer NOT NULL,
	`last_id` text NOT NULL,
	`updated_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `business_events` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`fact_id` text NOT NULL,
	`occurred_at_ms` integer NOT NULL,
	`received_at_ms` integer NOT NULL,
	`state` text NOT NULL,
	`done_at_ms` integer
);
--> statement-breakpoint
CREATE INDEX `business_events_received` ON `business_events` (`received_at_ms`);