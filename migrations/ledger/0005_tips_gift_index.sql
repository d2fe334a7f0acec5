-- The schema has declared this index since the ledger was split (a gift may be deleted from
-- the catalogue only if no shard has a tip of it), but no migration created it;
-- test/unit/migrations.test.ts now compares every migrated table and index with the schema.
CREATE INDEX IF NOT EXISTS `tips_gift` ON `tips` (`gift_id`);
