ALTER TABLE `red_packets` ADD `seed_hex` text;--> statement-breakpoint
ALTER TABLE `red_packets` ADD `commitment_hex` text;