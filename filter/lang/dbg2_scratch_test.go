package lang

import (
	"fmt"
	"testing"
)

func TestScratchItems2(t *testing.T) {
	dir := linguaTestdata(t)
	items := feedItems(t, dir, CommonWebLanguages(), 200)
	d, _ := New(DefaultConfig())
	for _, it := range items {
		r := d.Detect(it.title, it.text, "", nil)
		if r.Lang != it.lang {
			ev := d.evidence(it.title, it.text)
			if len(ev) > 3 {
				ev = ev[:3]
			}
			s := truncate(clean(joinTitle(it.title, it.text)), 500)
			fmt.Printf("want %s got %+v ev %v\n   %.200q\n", it.lang, r, ev, s)
		}
	}
}
