package ledger

import (
	"strconv"
	"time"
)

// Checked arithmetic for what the ledger adds up. Times of records lie in
// [0, maxUnix] (the years RFC 3339 and the state's JSON can write), so
// subtracting two of them never overflows; sums of amounts are checked.

// maxInt64 and minInt64 are the limits of int64 (package math is not the ledger's).
const (
	maxInt64 = 1<<63 - 1
	minInt64 = -1 << 63
)

// maxUnix is the last second of the year 9999.
const maxUnix = 253402300799

// spanNanos returns the nanoseconds from start to end (start not after end), or
// false when they do not fit in 64 bits (a span of more than 292 years).
func spanNanos(start, end time.Time) (int64, bool) {
	secs := end.Unix() - start.Unix()
	if secs < 0 || secs >= maxInt64/int64(time.Second)-1 {
		return 0, false
	}
	return end.Sub(start).Nanoseconds(), true
}

// beforeSecond reports whether the whole second sec (Unix time) begins before
// t, comparing integers so that no sec overflows a time.Time.
func beforeSecond(sec int64, t time.Time) bool {
	return sec < t.Unix() || sec == t.Unix() && t.Nanosecond() > 0
}

// afterTime reports whether the Unix second sec is after t.
func afterTime(sec int64, t time.Time) bool { return sec > t.Unix() }

// unixString renders a Unix time in RFC 3339, or as a number with what is
// wrong with it when no calendar date in the years 0001 to 9999 has it.
func unixString(sec int64) string {
	if sec < -62135596800 || sec > maxUnix {
		return "Unix time " + strconv.FormatInt(sec, 10) + " (outside the years 0001 to 9999)"
	}
	return time.Unix(sec, 0).UTC().Format(time.RFC3339)
}
