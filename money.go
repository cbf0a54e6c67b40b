package bbus

import (
	"strconv"
	"strings"
)

// MaxPrice bounds a price per resource-hour in micro-credits (one million credits).
const MaxPrice = 1_000_000_000_000

// ParseAmount parses a decimal AMOUNT with at most 6 places ("0.05", "12") into
// micro-credits. Negative amounts are refused.
func ParseAmount(s string) (int64, error) {
	v, err := parseFixed(s, 6)
	if err != nil {
		return 0, Errorf(EINVALID, "amount %q: %v (a decimal with at most 6 places, like 0.05)", Clip(s), ErrorMessage(err))
	}
	return v, nil
}

// FormatAmount renders micro-credits as a decimal ("0.05").
func FormatAmount(micro int64) string { return formatFixed(micro, 6) }

// ParsePct parses a decimal percentage with at most 3 places ("99.95") into
// thousandths of a percent, between 0 and 100%.
func ParsePct(s string) (int64, error) {
	v, err := parseFixed(s, 3)
	if err == nil && v > 100_000 {
		err = Errorf(EINVALID, "above 100")
	}
	if err != nil {
		return 0, Errorf(EINVALID, "percentage %q: %v (a decimal from 0 to 100 with at most 3 places, like 99.95)", Clip(s), ErrorMessage(err))
	}
	return v, nil
}

// FormatPct renders thousandths of a percent as a decimal ("99.95").
func FormatPct(mpct int64) string { return formatFixed(mpct, 3) }

func parseFixed(s string, places int) (int64, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") || strings.HasPrefix(whole, "+") || strings.HasPrefix(whole, "-") {
		return 0, Errorf(EINVALID, "not a non-negative decimal")
	}
	if len(frac) > places {
		return 0, Errorf(EINVALID, "more than %d decimal places", places)
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, Errorf(EINVALID, "not a non-negative decimal")
		}
	}
	frac += strings.Repeat("0", places-len(frac))
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || len(strings.TrimLeft(whole, "0")) > 18-places {
		return 0, Errorf(EINVALID, "too large")
	}
	return v, nil
}

func formatFixed(v int64, places int) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := strconv.FormatInt(v, 10)
	if len(s) <= places {
		s = strings.Repeat("0", places-len(s)+1) + s
	}
	whole, frac := s[:len(s)-places], strings.TrimRight(s[len(s)-places:], "0")
	if frac == "" {
		return sign + whole
	}
	return sign + whole + "." + frac
}
