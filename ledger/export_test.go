package ledger

// SetInvoiceStep sets how many items one invoice_close transaction processes,
// for tests of invoices closed in several transactions; it returns a func
// that restores it.
func SetInvoiceStep(n int) (restore func()) {
	old := invoiceStep
	invoiceStep = n
	return func() { invoiceStep = old }
}

// SetRemoveStep sets removeStep for a test and returns what restores it.
func SetRemoveStep(n int) (restore func()) {
	old := removeStep
	removeStep = n
	return func() { removeStep = old }
}
