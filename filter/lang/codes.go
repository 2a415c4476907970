package lang

import "fmt"

// CheckLanguages reports whether codes would be accepted as
// Config.Languages, without building a detector (which takes seconds), so
// that a command can refuse a wrong --languages at once even when it turns
// out to have nothing to tag.
func CheckLanguages(codes []string) error {
	if _, err := parseLanguages(codes); err != nil {
		return fmt.Errorf("languages: %w", err)
	}
	return nil
}
