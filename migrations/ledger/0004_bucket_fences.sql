CREATE TABLE `bucket_fences` (
	`bucket` integer PRIMARY KEY NOT NULL,
	`reason` text NOT NULL,
	`peer_shard` integer NOT NULL,
	`since_ms` integer NOT NULL,
	CONSTRAINT "bucket_fences_bucket_range" CHECK("bucket_fences"."bucket" >= 0 AND "bucket_fences"."bucket" < 1024)
);
