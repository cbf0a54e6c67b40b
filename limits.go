package bbus

import (
	"reflect"
	"strconv"
	"time"
)

// The ranges of the values a transaction carries. Each action's Validate checks
// them without reading state, so the ledger refuses an out-of-range value when
// the transaction is decoded (CheckTx), and no admitted transaction carries a
// value the ledger cannot represent. docs/TRANSACTIONS.md lists them.
const (
	// MaxUnix is the latest Unix time (seconds) a transaction may carry:
	// 9999-12-31T23:59:59Z, the last second that RFC 3339 text and
	// time.Time's JSON encoding can hold. Times range over [0, MaxUnix].
	MaxUnix = 253402300799
	// MaxPct is 100 % in thousandths of a percent (the *_mpct fields).
	MaxPct = 100_000
	// MaxLatencyMS is the largest latency, measured or agreed: one hour.
	MaxLatencyMS = 3_600_000
)

// Validatable is what every action type implements: a check of its own fields
// that reads no state. Action.Validate calls the set action's method.
type Validatable interface {
	Validate() error
}

// PublicKey is an ed25519 public key an action brings into the ledger, with
// the name of its field ("cloud_join.pub_key").
type PublicKey struct {
	Field string
	Key   []byte
}

// KeyCarrier is implemented by the actions that bring public keys into the
// ledger. The ledger refuses, before the transaction reaches a block, every
// key among them that is not a canonical ed25519 point of large order: an
// action type that carries a key must implement it.
type KeyCarrier interface {
	PublicKeys() []PublicKey
}

// Validate checks the body's expiry range and its action's fields.
func (b *Body) Validate() error {
	if err := CheckUnix("expires", b.Expires); err != nil {
		return err
	}
	return b.Action.Validate()
}

// Validate checks the fields of the one action that is set, by its type's
// Validate method, and that exactly one is set.
func (a *Action) Validate() error {
	v, err := a.set()
	if err != nil {
		return err
	}
	return v.Validate()
}

// PublicKeys returns the keys the set action brings into the ledger, if any.
func (a *Action) PublicKeys() []PublicKey {
	if v, err := a.set(); err == nil {
		if kc, ok := v.(KeyCarrier); ok {
			return kc.PublicKeys()
		}
	}
	return nil
}

// set returns the one action that is set.
func (a *Action) set() (Validatable, error) {
	var found Validatable
	v := reflect.ValueOf(a).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.IsNil() {
			continue
		}
		if found != nil {
			return nil, Errorf(EMALFORMED, "transaction body must hold exactly one action")
		}
		val, ok := f.Interface().(Validatable)
		if !ok {
			return nil, Errorf(EINTERNAL, "action %s has no Validate method", v.Type().Field(i).Name)
		}
		found = val
	}
	if found == nil {
		return nil, Errorf(EMALFORMED, "transaction body must hold exactly one action")
	}
	return found, nil
}

// CheckUnix checks that a time field, in Unix seconds, lies in [0, MaxUnix].
func CheckUnix(field string, v int64) error {
	if v < 0 || v > MaxUnix {
		return Errorf(EINVALID, "%s is %d, out of range: Unix seconds from 0 to %d (9999-12-31T23:59:59Z)", field, v, int64(MaxUnix))
	}
	return nil
}

// unixText renders Unix seconds in [0, MaxUnix] as RFC 3339.
func unixText(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }

// checkRange checks that an integer field lies in [0, hi].
func checkRange(field string, v, hi int64, unit string) error {
	if v < 0 || v > hi {
		return Errorf(EINVALID, "%s is %d, out of range: %s from 0 to %s", field, v, unit, strconv.FormatInt(hi, 10))
	}
	return nil
}

func checkKeySize(field string, k []byte) error {
	if len(k) != 32 {
		return Errorf(EINVALID, "%s is %d bytes, an ed25519 key is 32", field, len(k))
	}
	return nil
}

func checkPrices(action string, pv, pg int64) error {
	if err := checkRange(action+".price_vcpu_hour_micro", pv, MaxPrice, "micro-credits per vCPU-hour"); err != nil {
		return err
	}
	return checkRange(action+".price_gib_hour_micro", pg, MaxPrice, "micro-credits per GiB-hour")
}

// first returns the first error of checks, in order.
func first(checks ...func() error) error {
	for _, c := range checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the applicant's name, keys, API endpoint and capacity.
func (a *CloudJoin) Validate() error {
	if err := ValidateText("cloud name", a.Name, true); err != nil {
		return err
	}
	if err := ValidateText("api", a.API, false); err != nil {
		return err
	}
	if err := checkKeySize("pub_key", a.PubKey); err != nil {
		return err
	}
	if a.ValidatorKey != nil {
		if err := checkKeySize("validator_pub_key", a.ValidatorKey); err != nil {
			return err
		}
	}
	if err := ValidateNodeID("cloud_join.node_id", a.NodeID, false); err != nil {
		return err
	}
	if err := ValidateP2PAddress("cloud_join.p2p_address", a.P2PAddress, false); err != nil {
		return err
	}
	return a.Resources.Validate("capacity", false)
}

// PublicKeys returns the applicant's signing key and its validator key, if any.
func (a *CloudJoin) PublicKeys() []PublicKey {
	keys := []PublicKey{{"cloud_join.pub_key", a.PubKey}}
	if a.ValidatorKey != nil {
		keys = append(keys, PublicKey{"cloud_join.validator_pub_key", a.ValidatorKey})
	}
	return keys
}

// Validate checks the cloud id.
func (a *CloudRef) Validate() error { return ValidateID("cloud", a.Cloud) }

// Validate checks the VM's id, image digest and resources.
func (a *VMRegister) Validate() error {
	if err := ValidateID("vm", a.VM); err != nil {
		return err
	}
	if err := ValidateImage(a.Image); err != nil {
		return err
	}
	return a.Resources.Validate("VM resources", true)
}

// Validate checks the VM id.
func (a *VMRef) Validate() error { return ValidateID("vm", a.VM) }

// Validate checks the VM, destination and agreement ids.
func (a *Propose) Validate() error {
	return first(
		func() error { return ValidateID("vm", a.VM) },
		func() error { return ValidateID("destination cloud", a.To) },
		func() error {
			if a.Agreement == "" {
				return nil
			}
			return ValidateID("agreement", a.Agreement)
		})
}

// Validate checks the migration id.
func (a *MigrationRef) Validate() error { return ValidateID("migration", a.Migration) }

// Validate checks the offer's capacity, prices and tags (at most MaxTags,
// sorted by key, each key once).
func (a *OfferPublish) Validate() error {
	if err := a.Resources.Validate("offer", false); err != nil {
		return err
	}
	if err := checkPrices("offer_publish", a.PriceVCPUHour, a.PriceGiBHour); err != nil {
		return err
	}
	if len(a.Tags) > MaxTags {
		return Errorf(EINVALID, "an offer has at most %d tags, got %d", MaxTags, len(a.Tags))
	}
	for i, t := range a.Tags {
		if err := ValidateID("tag key", t.Key); err != nil {
			return err
		}
		if err := ValidateText("tag "+t.Key, t.Value, false); err != nil {
			return err
		}
		if i > 0 && a.Tags[i-1].Key >= t.Key {
			return Errorf(EINVALID, "tags must be sorted by key, each key once (%s after %s)", t.Key, a.Tags[i-1].Key)
		}
	}
	return nil
}

// MaxTags is the most tags an offer carries.
const MaxTags = 16

// Validate checks the parties, prices, objectives, penalty and end of validity.
func (a *AgreementPropose) Validate() error {
	return first(
		func() error { return ValidateID("provider", a.Provider) },
		func() error { return ValidateID("consumer", a.Consumer) },
		func() error {
			if a.Provider == a.Consumer {
				return Errorf(EINVALID, "provider and consumer are both %s", a.Provider)
			}
			return nil
		},
		func() error { return checkPrices("agreement_propose", a.PriceVCPUHour, a.PriceGiBHour) },
		func() error {
			return checkRange("agreement_propose.availability_mpct", a.Availability, MaxPct, "thousandths of a percent")
		},
		func() error {
			return checkRange("agreement_propose.max_latency_ms", a.MaxLatencyMS, MaxLatencyMS, "milliseconds")
		},
		func() error {
			return checkRange("agreement_propose.penalty_mpct", a.PenaltyPct, MaxPct, "thousandths of a percent")
		},
		func() error { return CheckUnix("agreement_propose.until", a.Until) })
}

// Validate checks the agreement id.
func (a *AgreementRef) Validate() error { return ValidateID("agreement", a.Agreement) }

// Validate checks the oracle's name and key.
func (a *OracleJoin) Validate() error {
	if err := ValidateText("oracle name", a.Name, true); err != nil {
		return err
	}
	return checkKeySize("pub_key", a.PubKey)
}

// PublicKeys returns the oracle's signing key.
func (a *OracleJoin) PublicKeys() []PublicKey {
	return []PublicKey{{"oracle_join.pub_key", a.PubKey}}
}

// Validate checks the oracle id.
func (a *OracleRef) Validate() error { return ValidateID("oracle", a.Oracle) }

// Validate checks the VM id, the window (Start before End, both in range) and
// the measurements.
func (a *ReportAction) Validate() error {
	return first(
		func() error { return ValidateID("vm", a.VM) },
		func() error { return CheckUnix("report.start", a.Start) },
		func() error { return CheckUnix("report.end", a.End) },
		func() error {
			if a.Start >= a.End {
				return Errorf(EINVALID, "the window's start %s is not before its end %s (report.start must be less than report.end)", unixText(a.Start), unixText(a.End))
			}
			return nil
		},
		func() error {
			return checkRange("report.availability_mpct", a.Availability, MaxPct, "thousandths of a percent")
		},
		func() error { return checkRange("report.latency_ms", a.LatencyMS, MaxLatencyMS, "milliseconds") })
}

// Validate checks the parties and the end of the period.
func (a *InvoiceClose) Validate() error {
	return first(
		func() error { return ValidateID("provider", a.Provider) },
		func() error { return ValidateID("consumer", a.Consumer) },
		func() error {
			if a.Provider == a.Consumer {
				return Errorf(EINVALID, "provider and consumer are both %s", a.Provider)
			}
			return nil
		},
		func() error { return CheckUnix("invoice_close.until", a.Until) })
}

// Validate checks the invoice id.
func (a *InvoiceRef) Validate() error { return ValidateID("invoice", a.Invoice) }

// Validate checks the invoice id and the reason.
func (a *InvoiceDispute) Validate() error {
	if err := ValidateID("invoice", a.Invoice); err != nil {
		return err
	}
	return ValidateText("reason", a.Reason, false)
}

// Validate checks the invoice id, the amounts (micro-credits, not negative)
// and the reason, which a correction must give.
func (a *InvoiceCorrect) Validate() error {
	return first(
		func() error { return ValidateID("invoice", a.Invoice) },
		func() error {
			return checkRange("invoice_correct.hosting_micro", a.Hosting, 1<<63-1, "micro-credits")
		},
		func() error {
			return checkRange("invoice_correct.penalties_micro", a.Penalties, 1<<63-1, "micro-credits")
		},
		func() error { return ValidateText("reason", a.Reason, true) })
}
