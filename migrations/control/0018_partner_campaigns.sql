ALTER TABLE `subsidy_campaigns` ADD `partner_id` text;--> statement-breakpoint
ALTER TABLE `subsidy_campaigns` ADD `creator_id` text;--> statement-breakpoint
ALTER TABLE `subsidy_campaigns` ADD `room_id` text;