// Package platform holds Crowd's domain: accounts, videos, follows, likes,
// comments, saves, shares and direct messages, with the rules that decide
// what is valid. It imports no infrastructure; the store persists these
// types and the HTTP API exposes them.
package platform
