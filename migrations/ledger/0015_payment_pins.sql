CREATE TABLE `payment_pins` (
	`user_id` text PRIMARY KEY NOT NULL,
	`hash_hex` text NOT NULL,
	`salt_hex` text NOT NULL,
	`iterations` integer NOT NULL,
	`tries_used` integer DEFAULT 0 NOT NULL,
	`locked_until_ms` integer DEFAULT 0 NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	CONSTRAINT "payment_pins_tries_non_negative" CHECK("payment_pins"."tries_used" >= 0)
);
