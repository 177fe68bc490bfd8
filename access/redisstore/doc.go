// Package redisstore implements access's shared, hot state on Redis: the revocation
// fan-out bus that keeps every node's memory honest.
package redisstore
