CREATE TABLE `operation_tombstones` (
	`id` text PRIMARY KEY NOT NULL,
	`archive_id` text NOT NULL,
	`archived_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `operation_tombstones_archived_at` ON `operation_tombstones` (`archived_at_ms`);