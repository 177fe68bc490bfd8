// Package keys owns the signing keys of Weft's OpenID provider: it generates them,
// keeps them encrypted at rest, rotates them, serves them to fosite for signing and
// publishes their public halves as a JWKS (go-jose v4) under the same kid.
//
// # The rotation ring
//
// Each enabled algorithm (ES256 on P-256 by default; RS256 with RSA-2048 for relying
// parties that cannot verify ECDSA) has a ring of keys, each in one of three states:
//
//	next     published in the JWKS, not signing yet
//	current  signs every new token; exactly one per algorithm
//	retired  no longer signs; published until RetireAfter, then pruned
//
// Rotation moves current → retired, next → current and creates a new next, in one
// transaction. Because the key that starts signing was published at the previous
// rotation, relying parties that cache the JWKS already hold it; and because the old
// key stays published for as long as the tokens it signed may live, no valid token ever
// stops verifying. A node whose in-memory copy is stale (see Config.Refresh) keeps
// signing with the key that was current when it last loaded; that key is still
// published, which is why Rotate adds the refresh interval to the retention.
//
// # Encryption at rest
//
// Private keys are stored as PKCS#8 DER encrypted with AES-256-GCM under a 32-byte
// key-encryption key (KEK) taken from configuration. Every key has its own random
// 96-bit nonce, and its kid, algorithm and public key are the additional authenticated
// data: a row whose ciphertext was swapped with another's, or whose clear public key
// was replaced (which would let whoever can write the table publish a key of their
// own), fails to decrypt. Kids are RFC 7638 thumbprints, so they are also checked
// against the public key. A database copied without the KEK yields no usable key.
//
// # The hot path
//
// A Manager caches the decrypted keys, the JWKS and its JSON in an immutable snapshot.
// Signing and serving the JWKS read the snapshot only; it is reloaded in the background
// at most once per Config.Refresh, and at once by Reload, EnsureKeys, Rotate and Prune.
// SQL is therefore touched once per interval per node, never per request, and a
// rotation made by `weft keys rotate` in another process is seen within the interval.
package keys
