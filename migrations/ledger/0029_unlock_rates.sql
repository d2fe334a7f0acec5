ALTER TABLE `entitlements` ADD `schedule_version` integer;--> statement-breakpoint
CREATE INDEX `entitlements_creator_created` ON `entitlements` (`creator_id`,`created_at_ms`);