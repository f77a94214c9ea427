package lib

// OnServeConsumeEnded has f called when a stopping Serve has ended its
// consume, until the returned function undoes it.
func OnServeConsumeEnded(f func()) (undo func()) {
	testHookConsumeEnded = f
	return func() { testHookConsumeEnded = nil }
}
