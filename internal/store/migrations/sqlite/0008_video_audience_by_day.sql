-- A video's audience is kept by day only: video_audience_month goes. Its
-- rows were sums of the days' (internal/rollup derives them), a row per
-- video and month that every batch rewrote for each video it touched,
-- about a sixth of the writer's time in the realistic world
-- (docs/PERFORMANCE.md, "A video's audience by day only"); a video's
-- breakdown now sums its days, a year of them at most. A creator's
-- monthly audience (account_audience_month) stays: a creator's days hold
-- all their videos' buckets, and the creator overview reads long ranges.
DROP TABLE video_audience_month;
