// Package pseudonym replaces account ids in analytics events with keyed
// hashes that carry exactly what aggregation needs, so that the event log
// and the analytics tables never hold the raw account id of a viewer,
// sharer or saver. Creators never learn who shared, saved or viewed a
// video; this package is what keeps that promise true of Crowd's own
// storage, not only of its reports.
//
// Three pseudonyms serve three purposes:
//
//   - Actor(account, video) is stable forever. Rollups use it to count a
//     share or save once per account and video and to net likes against
//     unlikes. It is keyed with the long-term key, so without that key it
//     cannot be recomputed from an account id.
//   - AccountDay(account, day) caps one account's counted shares (and,
//     separately, saves) per day across all videos, which bounds what any
//     reader of any set of videos can learn about that account's day.
//   - ViewerDay(account, video, day) counts distinct viewers and caps views
//     per viewer, video and day. It is keyed with a random salt for that
//     day, and the salt is destroyed after a retention (PruneSalts): from
//     then on nobody, including the operator with every file and the
//     database, can link that day's viewer hashes to accounts or to each
//     other across days.
//
// Every pseudonym is HMAC-SHA256 over an unambiguous, length-prefixed
// encoding of a domain label and its inputs, truncated to 128 bits and
// written in unpadded base64url (22 characters). Different labels make the
// three kinds unlinkable to each other even under the same key.
//
// The secrets live in their own directory (typically <data>/secrets, apart
// from the database, so that a database dump or replica does not carry
// them), with mode 0700 and files of mode 0600. Values holding secrets
// print as "[redacted]" through fmt and log/slog. One process at a time may
// use a directory.
package pseudonym
