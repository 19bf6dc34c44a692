-- The first privacy policy. Published at the epoch so that no account is
-- notified of it: every account accepted it when registering.
INSERT INTO privacy_policies (version, text, published_at) VALUES (1,
'Crowd shows creators the crowd, never the faces. Creators see how many people viewed, liked, commented on, shared and saved their videos, and aggregate audience numbers by age group, gender and country. Nobody (creators, co-creators, business accounts, third-party apps or anyone reading a public counter) can learn who shared, saved or viewed a video. Your birth date, gender and country are shown to nobody but you; they feed only aggregate numbers that are released with noise, after a delay, and only for large enough audiences. Likes and comments are public actions: a creator sees who liked and who commented. A direct message shows its sender to its recipient. Deleting your account deletes your private data; your anonymous contribution to numbers already published stays.',
0);
