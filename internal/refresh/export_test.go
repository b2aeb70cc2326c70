package refresh

// PauseBeforeSend makes every attempt of w call pause first, before it
// checks its claim: the test holds the worker there as a SIGSTOP or a VM
// freeze would, between taking its claims and sending their requests.
func PauseBeforeSend(w *Worker, pause func()) { w.pauseHook = pause }
