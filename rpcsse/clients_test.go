package rpcsse_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ssebridge/ssebridge/internal/ssetest"
)

// TestSameFramesForEveryClient reads one method's stream with three
// independent clients, curl -N, the npm eventsource package and ssetest's
// decoder, and checks that they see the same events.
func TestSameFramesForEveryClient(t *testing.T) {
	for _, tool := range []string{"curl", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: make test installs it", tool)
		}
	}
	script, _ := filepath.Abs("testdata/eventsource.mjs")
	f := newFixture(t, fixtureConfig{})
	url := f.url + "/v1/quotes/ACME:watch"
	clients := map[string]*exec.Cmd{
		"curl": exec.CommandContext(ctxT(t), "curl", "-sSN", "-H", "Accept: text/event-stream", url),
		"node": exec.CommandContext(ctxT(t), "node", script, url),
	}
	outs := map[string]*bytes.Buffer{}
	for name, cmd := range clients {
		outs[name] = new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = outs[name], outs[name]
		cmd.Dir = ".." // node finds node_modules from the module root
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Each client gets its own backend call: the same messages.
		c := f.nextCall(t)
		c.sendQuote(t, 1)
		c.sendQuote(t, 2)
		c.do(t, step{end: true})
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s: %v: %s", name, err, outs[name])
		}
	}

	type event struct {
		Type        string `json:"type"`
		Data        string `json:"data"`
		LastEventID string `json:"lastEventId"`
	}
	recs, err := ssetest.DecodeAll(outs["curl"].Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var fromCurl []event
	for _, r := range recs {
		if e, ok := r.(ssetest.Event); ok {
			fromCurl = append(fromCurl, event{e.Type, e.Data, e.ID})
		}
	}
	var fromNode []event
	if err := json.Unmarshal(outs["node"].Bytes(), &fromNode); err != nil {
		t.Fatalf("node printed %s: %v", outs["node"], err)
	}
	if len(fromCurl) != 3 || fromCurl[0].Type != "trade" || fromCurl[1].LastEventID != "2" || fromCurl[2].Type != "end" {
		t.Fatalf("curl saw %+v, want quotes 1 and 2 and the end event", fromCurl)
	}
	if len(fromNode) != len(fromCurl) {
		t.Fatalf("node saw %+v\ncurl saw %+v", fromNode, fromCurl)
	}
	for i := range fromCurl {
		// The npm package gives an event without an id line an empty
		// lastEventId, where the standard (and Chromium) keep the last id.
		if fromNode[i].LastEventID == "" && fromCurl[i].Type == "end" {
			fromNode[i].LastEventID = fromCurl[i].LastEventID
		}
		if fromNode[i] != fromCurl[i] {
			t.Errorf("event %d: node %+v, curl %+v", i, fromNode[i], fromCurl[i])
		}
	}
}
