package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"cxt/appliance/datadir"
)

// do sends one request to the node's API — body, if not nil, as
// contentType; headers in pairs — under the session token (--token or
// $CXT_TOKEN), and returns the answer's status and bytes. An answer
// outside 2xx is an error carrying the API's code and message.
func (a *apiFlags) do(ctx context.Context, method, path, contentType string, body []byte, headers ...string) (int, []byte, error) {
	var base string
	var client *http.Client
	var err error
	switch {
	case a.data != "":
		cfg, lerr := datadir.Load(a.data)
		if lerr != nil {
			return 0, nil, badInput("%v", lerr)
		}
		base = "https://" + cfg.API
		client, err = apiClient(cfg)
	case a.url != "":
		base = strings.TrimRight(a.url, "/")
		client, err = gatewayClient(a.ca)
	default:
		return 0, nil, badInput("give --data DIR (a node on this machine) or --url URL --ca CA.pem")
	}
	if err != nil {
		return 0, nil, badInput("%v", err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, nil, badInput("%v", err)
	}
	if body != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	token := a.token
	if token == "" {
		token = os.Getenv("CXT_TOKEN")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, nil, apiError(method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, raw, nil
}

// apiError is an answer outside 2xx as an error: the API's code and
// message ({"error": {"code", "message"}}), or the body as it came.
func apiError(method, path string, status int, raw []byte) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Error.Code != "" {
		return fmt.Errorf("%s %s: %d %s: %s", method, path, status, e.Error.Code, e.Error.Message)
	}
	return fmt.Errorf("%s %s: %d %s", method, path, status, strings.TrimSpace(string(raw)))
}

// call sends a JSON request (body nil for none) and decodes a JSON answer
// into out.
func (a *apiFlags) call(ctx context.Context, method, path string, body any, out any, headers ...string) (int, error) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	status, answer, err := a.do(ctx, method, path, "application/json", raw, headers...)
	if err != nil {
		return status, err
	}
	return status, json.Unmarshal(answer, out)
}

// raw sends a body of contentType and returns the answer's bytes.
func (a *apiFlags) raw(ctx context.Context, method, path, contentType string, body []byte) (int, []byte, error) {
	return a.do(ctx, method, path, contentType, body)
}

// send is call for any body: bytes sent as contentType, anything else as
// JSON; an answer into *[]byte is kept as it came, anything else decoded
// as JSON.
func (a *apiFlags) send(ctx context.Context, method, path, contentType string, body, out any) error {
	var raw []byte
	switch b := body.(type) {
	case nil:
	case []byte:
		raw = b
	default:
		raw, _ = json.Marshal(b)
		contentType = "application/json"
	}
	_, answer, err := a.do(ctx, method, path, contentType, raw)
	if err != nil {
		return err
	}
	if b, ok := out.(*[]byte); ok {
		*b = answer
		return nil
	}
	return json.Unmarshal(answer, out)
}
