package identity

import "encoding/base64"

// ValidDeviceID reports whether s has the shape of a device id: 16 random bytes in
// unpadded base64url (22 characters), as the browser's weft_device cookie carries it.
// Anything else is not Weft's, and is neither stored nor used to find sessions. A
// device id identifies a browser profile, not a person, and grants nothing.
func ValidDeviceID(s string) bool {
	if len(s) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}
