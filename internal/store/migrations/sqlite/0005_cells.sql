-- Released cells (protected mode): one noisy number per subject, metric,
-- bucket and period, computed once when its period has closed plus the
-- release delay, and never changed. Stored with what produced it, so an
-- audit can recompute it.
CREATE TABLE cells (
	subject        TEXT NOT NULL,   -- "video:<id>"
	granularity    TEXT NOT NULL,   -- day or hour
	period         BIGINT NOT NULL, -- Unix day or hour
	metric         TEXT NOT NULL,
	dim            TEXT NOT NULL,   -- '' for a total
	bucket         TEXT NOT NULL,   -- '' for a total
	value          BIGINT NOT NULL,
	mechanism      TEXT NOT NULL,
	eps_num        BIGINT NOT NULL,
	eps_den        BIGINT NOT NULL,
	sensitivity    BIGINT NOT NULL,
	kid            BIGINT NOT NULL,
	schema_version INTEGER NOT NULL,
	released_at    BIGINT NOT NULL,
	PRIMARY KEY (subject, granularity, period, metric, dim, bucket)
);
