// Package demo fills a Crowd instance with a realistic demo world, so that
// every page has something true to show: creators (among them mia, a
// business account, and leo, a personal one), thousands of viewers with
// demographics, hundreds of videos, and 90 days of engagement with a daily
// rhythm, Zipf-like popularity and a few viral cascades.
//
// Everything goes through Crowd's public HTTP API, as a platform's servers
// and its users would use it: accounts and videos are synced with the
// platform's own ids, engagement is streamed to POST /v1/events in batches,
// and a few viewers log in to follow, like, comment and send direct messages
// so the creators' activity feed and inbox have names in them.
//
// The world is a function of Config.Seed: the same seed gives the same
// accounts, videos and event counts (timestamps end at Config.Now, so they
// move with the clock, but what happened and how often does not).
//
// Create runs the whole thing against an in-process Crowd (the demo and
// serve --demo commands); Fill does the work against any running instance.
package demo
