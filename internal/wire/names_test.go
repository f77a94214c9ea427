package wire

import (
	"errors"
	"strings"
	"testing"
)

// TestValidateNameSaysTheCharacter: a bad character is named as it was
// typed, and where, counted in characters.
func TestValidateNameSaysTheCharacter(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"a/b", `character '/' at 1 not allowed`},
		{"jäger", `character 'ä' at 1 not allowed`},
		{"ää", `character 'ä' at 0 not allowed`},
		{"日本/x", `character '日' at 0 not allowed`},
		{"ab\xffc", `character '\xff' at 2 not allowed`},
		{".x", `character '.' at 0 not allowed`},
	} {
		err := ValidateName(c.name)
		if !errors.Is(err, ErrBadQueueName) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ValidateName(%q) = %v; want %s", c.name, err, c.want)
		}
	}
	for _, ok := range []string{"a", "jobs.high-1", "a:b@c", "_x"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v; want nil", ok, err)
		}
	}
}
