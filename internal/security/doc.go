// Package security holds Crowd's small, dependency-free security building
// blocks: memory-hard password hashing, random tokens and identifiers,
// per-key login rate limiting, HTTP security headers and CSRF checks for
// cookie sessions.
//
// Everything here is stateless or safe for concurrent use, and nothing here
// logs: callers decide what reaches the log, and secrets (passwords, tokens,
// hashes) never should.
package security
