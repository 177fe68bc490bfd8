package redisstore

// SealForTest seals body for channel with b's key, as b would publish it.
func (b *Bus) SealForTest(channel, body string) string { return b.seal(channel, body) }

// SealWith seals body for channel with key.
func SealWith(key []byte, channel, body string) string {
	return (&Bus{opts: BusOptions{Key: key}}).seal(channel, body)
}
