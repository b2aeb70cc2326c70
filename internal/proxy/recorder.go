package proxy

import (
	"net/http"
	"strconv"
)

// recorder remembers the status answered, for the metrics. Unwrap lets
// ReverseProxy flush and hijack (for upgrades) the connection beneath.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	// A 1xx before the final status (103 Early Hints) is not the answer;
	// 0 is none yet.
	if r.status < 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// statusClass is "2xx" for 200 to 299, and so on; "other" outside 1xx-5xx.
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}
