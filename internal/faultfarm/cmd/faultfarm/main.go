// Command faultfarm serves the fault farm (babelfeed/internal/faultfarm)
// on loopback ports and writes an OPML list of its feeds, to run the real
// babelfeed binary against every attack:
//
//	go run ./internal/faultfarm/cmd/faultfarm -opml /tmp/farm.opml &
//	babelfeed --db /tmp/farm.db import /tmp/farm.opml
//	babelfeed --db /tmp/farm.db poll
//
// A fault that asks its host to wait (Retry-After) gets a port of its own,
// so that a polite poller does not defer the other faults with it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"babelfeed/internal/faultfarm"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address of the main farm")
	opmlPath := flag.String("opml", "", "write the OPML list of every feed here (default: standard output)")
	healthy := flag.Int("healthy", 4, "healthy feeds per language")
	faults := flag.Bool("faults", true, "list the faults in the OPML (false: healthy feeds only)")
	var o faultfarm.Options
	flag.Int64Var(&o.BigBody, "big-body", 0, "bytes of the big bodies (0: 50 MB)")
	flag.Int64Var(&o.BombSize, "bomb", 0, "inflated bytes of the gzip bombs (0: 4 GiB)")
	flag.IntVar(&o.Items, "items", 0, "items of the many-items faults (0: 100,000)")
	flag.IntVar(&o.TitleSize, "title", 0, "bytes of each huge title (0: 1 MiB)")
	flag.IntVar(&o.Depth, "depth", 0, "nesting of the deep faults (0: 100,000)")
	flag.DurationVar(&o.Drip, "drip", time.Second, "pause between two bytes of the slow faults")
	flag.Parse()

	farm, err := faultfarm.Listen(*addr, o)
	if err != nil {
		log.Fatal(err)
	}
	defer farm.Close()
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<opml version="2.0"><head><title>fault farm</title></head><body>` + "\n")
	if *faults {
		b.WriteString(`<outline text="faults">` + "\n")
		for _, ft := range faultfarm.Faults() {
			u := farm.URL(ft.Name)
			if ft.HostWide {
				own, err := faultfarm.New(o)
				if err != nil {
					log.Fatal(err)
				}
				defer own.Close()
				u = own.URL(ft.Name)
			}
			fmt.Fprintf(&b, `<outline type="rss" text="%s" xmlUrl="%s"/>`+"\n", ft.Name, u)
		}
		b.WriteString("</outline>\n")
	}
	b.WriteString(`<outline text="healthy">` + "\n")
	for _, lang := range faultfarm.Languages {
		for i := range *healthy {
			fmt.Fprintf(&b, `<outline type="rss" text="%s %d" xmlUrl="%s"/>`+"\n", lang, i, farm.HealthyURL(lang, i))
		}
	}
	b.WriteString("</outline>\n</body></opml>\n")
	if *opmlPath == "" {
		os.Stdout.Write(b.Bytes())
	} else if err := os.WriteFile(*opmlPath, b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	farm.Warm()
	log.Printf("fault farm on %s; Ctrl-C to stop", farm.Base())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
