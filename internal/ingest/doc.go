// Package ingest decodes and validates the NDJSON event batches that
// POST /v1/events and `crowd import FILE` take: one JSON object a line
// (docs/OPERATIONS.md, "Event format"; every field's rule is below).
//
// # What a body is
//
// Decode reads the body as a stream (a bufio.Reader, never the whole body in
// memory) and calls a function for each valid event, in order. Lines are
// counted from 1 over the whole body, blank lines included; a line ends at
// "\n", and a "\r" before it is dropped. A UTF-8 byte order mark at the very
// start of the body is ignored. Blank lines (empty, or only spaces, tabs and
// carriage returns) are skipped, never rejected. A line longer than
// Options.MaxLineBytes is rejected as line_too_long whatever it holds, and
// only its first MaxLineBytes bytes are looked at (for the rule below).
// The HTTP API checks the limits it shares among its bulk routes first
// (httpapi.MaxBulkLines and MaxBulkLineBytes, which are DefaultMaxLines and
// DefaultMaxLineBytes) and refuses a body with a line over them whole, 413
// line_too_long naming the line; this per-line rejection serves the other
// callers (crowd import).
//
// Two kinds of failure are kept apart, as the event format states (invalid
// lines are rejected one by one; a body that is not NDJSON is refused whole):
//
//   - A line that is not a valid event becomes a [Rejection] with its line
//     number, a machine-readable code and a message for the client; the lines
//     around it go on being decoded.
//   - A body that is not NDJSON at all, or has too many lines, or cannot be
//     read, makes Decode return an error ([ErrNotNDJSON], [ErrTooManyLines],
//     or the reader's error wrapped) and the caller refuses it whole.
//
// The rule for [ErrNotNDJSON]: the body is refused when its first non-blank
// line does not begin with '{' (after whitespace) AND no line of the body is
// a syntactically valid JSON object. So a JSON array, a form post, an HTML
// page, gzip bytes or any other binary body is refused whole, while an NDJSON
// batch with a garbled first line still has its good lines accepted. An empty
// body (no non-blank line) is not an error: it holds no event and no
// rejection, and the caller decides what that means. Invalid UTF-8 needs no
// rule of its own: outside strings it is a JSON syntax error (the line is
// malformed_json), inside strings it is a wrong value for that field
// (invalid_field).
//
// # What a line is
//
// Each non-blank line must be one JSON object (RFC 8259) with these fields;
// keys are matched exactly (case-sensitively, after unescaping):
//
//	id          string, 1–128 bytes of printable ASCII without spaces (0x21–0x7E);
//	            the client's idempotency key
//	type        view | like | unlike | comment | save | unsave | share
//	video_id    string, 1–128 bytes, valid UTF-8 without control characters
//	account_id  same as video_id; may be absent only for a view (a logged-out view);
//	            "" counts as absent
//	ts          RFC 3339 string ("2026-11-24T10:00:00Z", "2026-11-24T11:00:00.5+01:00"),
//	            uppercase T and Z, seconds required, not before 1970; converted to UTC
//	source      views only, required: for_you | following | profile | search |
//	            hashtag | sound | shared | other
//	watch_ms    views only, optional (default 0): an integer 0–86400000;
//	            1.5, 1e3 and "100" are invalid
//	completed   views only, optional (default false): true or false
//	channel     shares only, required: dm | whatsapp | facebook | instagram |
//	            messenger | telegram | x | email | sms | other | copy_link
//	text        comments only, required: 1–2000 characters of valid UTF-8, not only
//	            whitespace, no control characters but newline and tab
//	            (platform.ValidateCommentText, the rule of the comment API)
//
// Decisions a client may trip over, each tested:
//
//   - null is the same as an absent field: "account_id": null is a logged-out
//     view, "channel": null on a view is allowed, "id": null is missing_field.
//   - A key given twice is invalid_field ("duplicate field"), never "last one
//     wins" as in encoding/json: two values for one field is a client bug.
//   - A field that exists but does not belong to the event's type (channel on
//     a view, watch_ms on a like) is invalid_field; a key that is no field at
//     all is unknown_field.
//   - Objects and arrays as values are invalid_field (after the line was
//     checked to be valid JSON); nesting deeper than 10,000 levels is
//     malformed_json, the same limit as encoding/json.
//   - Strings may use every JSON escape, \uXXXX included; a \u escape of an
//     unpaired UTF-16 surrogate is invalid_field (encoding/json would replace
//     it by U+FFFD silently; we would rather tell the client).
//
// One line gets one rejection: the first problem found, in this order:
// syntax (malformed_json); then, in the order of the keys in the line,
// unknown_field and invalid_field for a single field; then a missing type;
// then fields that do not belong to the type; then other missing fields; then
// future_timestamp (ts later than Options.Now + Options.MaxSkew).
//
// # Why a hand-written scanner
//
// The object is flat, its fields are known and the batch endpoint must reach
// a million events a second on two cores (docs/PERFORMANCE.md, "Targets"),
// so the decoder is a small hand-written scanner. On the 2-core development box,
// for batches of 10,000 events of ~190 bytes (BenchmarkDecode), it takes
// ~230–290 ns and one allocation an event with every check above (all ids of
// an event share one string; a comment's text is a second one), against
// ~1.5 µs and 11 allocations for json.Unmarshal into plain values with no
// check at all, ~2.6 µs and 28 allocations for a strict json.Decoder, and
// ~0.4 µs (goccy/go-json) and ~0.5 µs (bytedance/sonic) for the fastest
// libraries, again without any check (measured once in a scratch module, so
// that neither is a dependency). bench_test.go keeps the encoding/json
// baselines; FuzzDecode holds the scanner to encoding/json's reading of
// every line it generates.
package ingest
