-- PostgreSQL's 0007 keys long conditions by digest (its B-tree entries are bounded).
-- SQLite's keys have no such bound: nothing changes here, and the two schemas keep the
-- same migration numbers.
SELECT 1;
