package energy

// SetAfterAppend makes a's runs call f between the append and the trim:
// a test stops there as a crash would.
func SetAfterAppend(a *Archiver, f func() error) { a.afterAppend = f }
