CREATE TABLE `moderation_list_versions` (
	`id` integer PRIMARY KEY NOT NULL,
	`version` integer NOT NULL,
	`changed_at_ms` integer NOT NULL,
	CONSTRAINT "moderation_list_versions_one_row" CHECK("moderation_list_versions"."id" = 1)
);
--> statement-breakpoint
CREATE TABLE `moderation_words` (
	`word` text PRIMARY KEY NOT NULL,
	`level` text NOT NULL,
	`variants` text DEFAULT '[]' NOT NULL,
	`created_by` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	CONSTRAINT "moderation_words_level" CHECK("moderation_words"."level" IN ('mask', 'hold'))
);
