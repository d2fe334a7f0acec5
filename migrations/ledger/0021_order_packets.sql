ALTER TABLE `payment_orders` ADD `packet_request` text;--> statement-breakpoint
ALTER TABLE `payment_orders` ADD `packet_id` text;--> statement-breakpoint
ALTER TABLE `payment_orders` ADD `packet_outcome` text;