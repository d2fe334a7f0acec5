-- The gift catalog giftwire ships with (prices in fen). Operators edit it through the API;
-- INSERT OR IGNORE keeps their edits if this migration is ever replayed on a copy.
INSERT OR IGNORE INTO `gifts` (`id`, `name`, `price_minor`, `currency`, `tier`, `animation_key`, `enabled`, `sort_order`, `created_at_ms`, `updated_at_ms`) VALUES
	('heart', 'Little Heart', 10, 'CNY', 'small', 'heart-pop', 1, 10, 0, 0),
	('rose', 'Rose', 100, 'CNY', 'small', 'rose-bloom', 1, 20, 0, 0),
	('light-stick', 'Light Stick', 100, 'CNY', 'small', 'light-stick-wave', 1, 30, 0, 0),
	('six-six-six', '666', 660, 'CNY', 'small', 'six-six-six', 1, 40, 0, 0),
	('lucky-cat', 'Lucky Cat', 990, 'CNY', 'medium', 'lucky-cat-wave', 1, 50, 0, 0),
	('love-letter', 'Love Letter', 5200, 'CNY', 'medium', 'love-letter-fly', 1, 60, 0, 0),
	('crown', 'Crown', 9990, 'CNY', 'medium', 'crown-shine', 1, 70, 0, 0),
	('sports-car', 'Sports Car', 52000, 'CNY', 'big', 'sports-car-drift', 1, 80, 0, 0),
	('yacht', 'Yacht', 131400, 'CNY', 'big', 'yacht-sail', 1, 90, 0, 0),
	('private-jet', 'Private Jet', 300000, 'CNY', 'epic', 'private-jet-flyby', 1, 100, 0, 0),
	('rocket', 'Rocket', 500000, 'CNY', 'epic', 'rocket-launch', 1, 110, 0, 0);
--> statement-breakpoint
INSERT OR IGNORE INTO `tip_presets` (`amount_minor`, `currency`, `sort_order`) VALUES
	(660, 'CNY', 1),
	(880, 'CNY', 2),
	(1880, 'CNY', 3),
	(5200, 'CNY', 4);
