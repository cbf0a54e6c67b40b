package bbus

import (
	"encoding/hex"
	"strings"
)

// MaxIDLen is the longest id of a cloud, oracle or VM.
const MaxIDLen = 64

// ValidateID checks an id of a cloud, oracle or VM: 1 to 64 characters from
// A-Z a-z 0-9 . _ - starting with a letter or digit. what names the id in the error.
func ValidateID(what, id string) error {
	if id == "" {
		return Errorf(EINVALID, "%s id is empty", what)
	}
	if len(id) > MaxIDLen {
		return Errorf(EINVALID, "%s id is %d characters long, the limit is %d", what, len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			i > 0 && (c == '.' || c == '_' || c == '-')
		if !ok {
			return Errorf(EINVALID, "%s id %q: only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit", what, Clip(id))
		}
	}
	return nil
}

// MaxTextLen is the longest free-text field (a cloud's name, an API endpoint, an image digest).
const MaxTextLen = 256

// ValidateText checks a free-text field: at most MaxTextLen printable ASCII
// characters other than '"', '\\', '<', '>' and '&', so that every text has one
// JSON encoding only.
func ValidateText(what, s string, required bool) error {
	if s == "" && required {
		return Errorf(EINVALID, "%s is empty", what)
	}
	if len(s) > MaxTextLen {
		return Errorf(EINVALID, "%s is %d characters long, the limit is %d", what, len(s), MaxTextLen)
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return r < 0x20 || r > 0x7e || strings.ContainsRune(`"\<>&`, r)
	}); i >= 0 {
		return Errorf(EINVALID, "%s has a character that is not allowed at byte %d (printable ASCII only, no quotes, backslashes, '<', '>' or '&')", what, i)
	}
	return nil
}

// ValidateImage checks a VM image digest: empty, or "sha256:" and 64 lowercase hex digits.
func ValidateImage(s string) error {
	if s == "" {
		return nil
	}
	h, ok := strings.CutPrefix(s, "sha256:")
	if _, err := hex.DecodeString(h); !ok || len(h) != 64 || err != nil || strings.ToLower(h) != h {
		return Errorf(EINVALID, "image %q is not a digest of the form sha256:<64 lowercase hex digits>", Clip(s))
	}
	return nil
}

// Clip shortens s, something a caller sent, for an error message and makes it
// printable.
func Clip(s string) string {
	if len(s) > 70 {
		s = s[:64] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
