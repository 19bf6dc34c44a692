// Package eventlog is Crowd's durable, partitioned event log, kept in a NATS
// JetStream stream.
//
// Ingestion publishes envelopes of events to the log and answers the client
// only once the log has acknowledged them; the rollup consumes the log in
// sequence order and records the last applied stream sequence in the same
// database transaction as its aggregates. The log, not the database, is
// therefore the source of truth for "what happened", and the stream sequence
// is the only cursor a consumer needs.
//
// # Deployment
//
// By default the log runs an embedded nats-server inside the Crowd process
// (Config.URL empty): one binary, no extra service, and the client talks to
// the server over an in-process pipe instead of TCP, which is markedly faster
// for small synchronous publishes. The embedded server listens on no TCP
// port unless Config.Listen asks it to.
//
// For scale-out, Config.URL points at an external NATS cluster and the
// stream can be replicated (Config.Replicas, typically 3). The package code
// is the same in both modes; only Open differs.
//
// # Partitions
//
// Every message goes to the subject "<SubjectPrefix>.<partition>", where the
// partition is a stable hash of a key (the video id) modulo
// Config.Partitions. One stream holds all partitions, so a single consumer
// sees one total order; the partitions exist so that several consumers can
// later each own a subset of videos without two of them ever updating the
// same rows. The hash and the partition count decide where a video's events
// live, so neither may change for an existing stream: Open refuses a
// partition count that differs from the one recorded in the stream's
// metadata (servers before 2.10 do not keep metadata, and are not checked).
//
// # Durability
//
// An acknowledged publish must survive kill -9 and power loss, because the
// client has been told its events are safe and will not resend them. By
// default JetStream acknowledges before fsync and syncs in the background
// every two minutes; Jepsen lost acknowledged writes under power failure
// that way. The embedded server therefore runs with SyncAlways: every
// message is fsynced before its acknowledgement. That caps a single node at
// roughly the disk's fsync rate in messages per second, which is why callers
// publish envelopes carrying many events each, and why Publish pipelines a
// batch with the asynchronous API: the server fsyncs one message after
// another without waiting for a round trip in between.
//
// An external server decides its own sync policy: run it with
// "jetstream { sync_interval: always }", or rely on replication (with R3
// JetStream relaxes SyncAlways to flushing its Raft log, a different
// durability and throughput profile that should be measured separately).
//
// Publishes are deduplicated on their Nats-Msg-Id within
// Config.DuplicateWindow, so a caller that did not see an acknowledgement
// can safely resend the same batch. Delivery to consumers is not
// deduplicated; consumers track their own position by stream sequence.
package eventlog
