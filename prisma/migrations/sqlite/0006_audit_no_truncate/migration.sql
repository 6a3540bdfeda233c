-- SQLite has no TRUNCATE (DELETE is refused by 0004); nothing to do.
SELECT 1;
