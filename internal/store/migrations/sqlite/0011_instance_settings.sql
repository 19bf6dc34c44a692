-- Settings of the instance that must survive restarts and be checked at
-- start: the disclosure mode the data was last served in ("disclosure").
CREATE TABLE instance_settings (
	name       TEXT PRIMARY KEY,
	value      TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- Every change of the disclosure mode, with whether the operator forced a
-- switch to exact after protected numbers were released
-- (--allow-exact-after-protected).
CREATE TABLE disclosure_changes (
	seq        INTEGER PRIMARY KEY,
	changed_at BIGINT NOT NULL,
	from_mode  TEXT NOT NULL, -- '' for the first mode recorded
	to_mode    TEXT NOT NULL,
	forced     INTEGER NOT NULL
);
