ALTER TABLE `dashboard_days` ADD `unlock_count` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `dashboard_days` ADD `unlock_minor` integer DEFAULT 0 NOT NULL;