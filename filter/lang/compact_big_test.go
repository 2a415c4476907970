//go:build !race

package lang

import "testing"

// TestCompactBigModelsMatchLingua is TestCompactModelsMatchLingua on
// three Germanic languages with big models (up to 470,000 five-grams),
// too slow to load under -race.
func TestCompactBigModelsMatchLingua(t *testing.T) {
	compareWithLingua(t, []string{"de", "nl", "af"}, 40)
}
