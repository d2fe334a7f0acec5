ALTER TABLE `payment_orders` ADD `unlock_content_id` text;--> statement-breakpoint
ALTER TABLE `payment_orders` ADD `unlock_id` text;--> statement-breakpoint
ALTER TABLE `payment_orders` ADD `unlock_outcome` text;