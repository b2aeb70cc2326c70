package store

// Str returns *p, or "" for NULL: most of oauth_tokens' text columns are
// nullable, and the worker's commands read them as text. It lives here,
// beside the statements that read the columns, rather than in pkg/model,
// which is the row type alone.
func Str[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}
