package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// toxiproxyBin is the name run.sh gives Toxiproxy's server (go install
// names it "server") in the --bin directory.
const toxiproxyBin = "toxiproxy-server"

// toxiproxy is a running Toxiproxy server, driven through its HTTP API.
type toxiproxy struct {
	proc *proc
	api  string // host:port of the HTTP API
}

// startToxiproxy starts Toxiproxy on the server CPU. Its API takes a
// fixed port, so it gets one that was free a moment ago; the runner then
// polls GET /version until the API answers, whatever it logs.
func (r *runner) startToxiproxy() (*toxiproxy, error) {
	api, _, err := freeLoopbackPorts()
	if err != nil {
		return nil, fmt.Errorf("toxiproxy api port: %w", err)
	}
	host, port, err := net.SplitHostPort(api)
	if err != nil {
		return nil, fmt.Errorf("toxiproxy api port: %w", err)
	}
	p, err := startProc("toxiproxy", r.pin(r.cfg.serverCPU, r.binPath(toxiproxyBin), "-host", host, "-port", port), goEnv, stderrLines)
	if err != nil {
		return nil, err
	}
	t := &toxiproxy{proc: p, api: api}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get("http://" + api + "/version")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return t, nil
			}
		}
		select {
		case <-p.waited:
			return nil, fmt.Errorf("toxiproxy exited (%v): %s", p.err, p.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("toxiproxy api %s did not answer within %s: %s", api, startTimeout, p.stderr.String())
		}
	}
}

// createProxy creates a proxy listening on a port of its own choosing
// and returns the address it bound (Toxiproxy reads it back from its
// listener, so "listen" in the reply holds the real port).
func (t *toxiproxy) createProxy(name, upstream string) (string, error) {
	body, err := t.post("/proxies", map[string]any{"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": true})
	if err != nil {
		return "", err
	}
	var p struct {
		Listen string `json:"listen"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "", fmt.Errorf("toxiproxy create %s: %w", name, err)
	}
	return p.Listen, nil
}

// addLatency adds a latency toxic on the proxy's downstream (upstream →
// client), the direction of sockplane's default DIRECTION_OUT.
func (t *toxiproxy) addLatency(name string, delay time.Duration) error {
	_, err := t.post("/proxies/"+name+"/toxics", map[string]any{
		"type": "latency", "stream": "downstream", "toxicity": 1.0,
		"attributes": map[string]any{"latency": delay.Milliseconds()},
	})
	return err
}

func (t *toxiproxy) post(path string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post("http://"+t.api+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("toxiproxy %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("toxiproxy %s %s: %s: %s", path, b, resp.Status, body)
	}
	return body, nil
}
