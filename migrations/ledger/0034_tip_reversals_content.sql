-- A tip reversal names the content item its tip was on (null for a tip in a room), so the
-- creator's statement and the reversal API say which item a reversed content tip belonged to.
-- Rows from before this migration stay null: their tip may live in another shard (the viewer's),
-- which one statement cannot read.
ALTER TABLE `tip_reversals` ADD `content_id` text;
