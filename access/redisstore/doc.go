// Package redisstore implements access's shared, hot state on Redis: the revocation
// fan-out bus that keeps every node's memory honest, and the throttle's buckets, so a
// limit on failures holds for the cluster rather than per node.
package redisstore
