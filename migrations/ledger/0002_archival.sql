CREATE TABLE `balance_checkpoints` (
	`archive_id` text NOT NULL,
	`account` text NOT NULL,
	`balance_minor` integer NOT NULL,
	PRIMARY KEY(`archive_id`, `account`),
	FOREIGN KEY (`archive_id`) REFERENCES `ledger_archives`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `balance_checkpoints_account` ON `balance_checkpoints` (`account`);--> statement-breakpoint
CREATE TABLE `ledger_archive_files` (
	`archive_id` text NOT NULL,
	`seq` integer NOT NULL,
	`first_transfer_id` integer NOT NULL,
	`last_transfer_id` integer NOT NULL,
	`key` text NOT NULL,
	`row_counts` text,
	`raw_sha256` text,
	`gz_sha256` text,
	`raw_bytes` integer,
	`gz_bytes` integer,
	`min_created_at_ms` integer,
	`max_created_at_ms` integer,
	`uploaded_at_ms` integer,
	PRIMARY KEY(`archive_id`, `seq`),
	FOREIGN KEY (`archive_id`) REFERENCES `ledger_archives`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "ledger_archive_files_span" CHECK("ledger_archive_files"."first_transfer_id" <= "ledger_archive_files"."last_transfer_id")
);
--> statement-breakpoint
CREATE TABLE `ledger_archive_holds` (
	`archive_id` text NOT NULL,
	`kind` text NOT NULL,
	`ref` text NOT NULL,
	PRIMARY KEY(`archive_id`, `kind`, `ref`),
	FOREIGN KEY (`archive_id`) REFERENCES `ledger_archives`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `ledger_archive_ranges` (
	`from_transfer_id` integer PRIMARY KEY NOT NULL,
	`to_transfer_id` integer NOT NULL,
	`archive_id` text NOT NULL,
	FOREIGN KEY (`archive_id`) REFERENCES `ledger_archives`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "ledger_archive_ranges_ordered" CHECK("ledger_archive_ranges"."from_transfer_id" <= "ledger_archive_ranges"."to_transfer_id")
);
--> statement-breakpoint
CREATE INDEX `ledger_archive_ranges_archive` ON `ledger_archive_ranges` (`archive_id`,`from_transfer_id`);--> statement-breakpoint
CREATE TABLE `ledger_archives` (
	`id` text PRIMARY KEY NOT NULL,
	`shard` integer NOT NULL,
	`state` text NOT NULL,
	`from_ms` integer NOT NULL,
	`to_ms` integer NOT NULL,
	`cut_transfer_id` integer NOT NULL,
	`first_transfer_id` integer,
	`last_transfer_id` integer,
	`min_created_at_ms` integer,
	`max_created_at_ms` integer,
	`export_cursor` integer DEFAULT 0 NOT NULL,
	`retained` text DEFAULT '{}' NOT NULL,
	`prune_cursor` integer,
	`manifest_key` text,
	`manifest_sha256` text,
	`checkpoint_sha256` text,
	`created_at_ms` integer NOT NULL,
	`exported_at_ms` integer,
	`verified_at_ms` integer,
	`pruned_at_ms` integer,
	CONSTRAINT "ledger_archives_period" CHECK("ledger_archives"."from_ms" <= "ledger_archives"."to_ms"),
	CONSTRAINT "ledger_archives_exported_has_manifest" CHECK("ledger_archives"."state" IN ('exporting', 'importing') OR ("ledger_archives"."manifest_key" IS NOT NULL AND "ledger_archives"."manifest_sha256" IS NOT NULL))
);
--> statement-breakpoint
CREATE INDEX `ledger_archives_state` ON `ledger_archives` (`state`);