package genclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/node"
	"github.com/bbusdev/bbus/tokens"
)

// TestGeneratedFromServedDocument: the generated client is that of the
// document the node serves; after a change to httpapi/openapi.yaml, go
// generate ./internal/genclient brings it up to date.
func TestGeneratedFromServedDocument(t *testing.T) {
	embedded, err := decodeSpec()
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(embedded, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(httpapi.OpenAPI(), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(want)) {
		t.Fatal("client_gen_test.go was generated from another document than httpapi/openapi.yaml: run go generate ./internal/genclient")
	}
}

// normalize undoes what oapi-codegen changes of a document it embeds: it
// capitalises operation ids and drops "required": false.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			switch {
			case k == "required" && e == false:
			case k == "operationId":
				id, _ := e.(string)
				out[k] = strings.ToLower(id[:1]) + id[1:]
			default:
				out[k] = normalize(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// TestRoundTrip drives a real node through the client oapi-codegen made of
// the document, as a user of another language would: status and clouds read,
// signed transactions sent as their exact bytes and read back, a nonce of
// 2^64-1 decoded exactly (in a transaction and in an evidence bundle), and an
// AMOUNT of 1234.567891 kept to the micro-credit.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	c := node.DefaultConfig("local")
	c.P2PListen = "tcp://127.0.0.1:0"
	if _, err := node.Init(node.InitOptions{Home: home, Cloud: "local", ChainID: "bbus-local", Config: &c}); err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(home, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	base := "http://" + n.APIAddr()
	write, _, err := tokens.Create(home, tokens.ScopeWrite, "test")
	if err != nil {
		t.Fatal(err)
	}
	gc, err := NewClientWithResponses(base)
	if err != nil {
		t.Fatal(err)
	}
	bearer := WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+write)
		return nil
	})
	gw, err := NewClientWithResponses(base, bearer)
	if err != nil {
		t.Fatal(err)
	}

	st, err := gc.StatusWithResponse(ctx)
	if err != nil || st.JSON200 == nil {
		t.Fatalf("status: %v %s", err, body(st))
	}
	if st.JSON200.ChainId != "bbus-local" {
		t.Fatalf("status: chain %q", st.JSON200.ChainId)
	}

	// The node's cloud invites c2's key; c2 applies with a transaction of
	// its own, nonce 2^64-1, sent through the generated client as it was signed.
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := key.Public().(ed25519.PublicKey)
	if _, err := client.New(base, client.WithToken(write)).InviteCloud(ctx, "c2", bbus.InviteRequest{PubKey: pub}, true); err != nil {
		t.Fatal(err)
	}
	sign := func(action bbus.Action) ([]byte, string) {
		raw, id, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-local", Signer: "c2", Nonce: math.MaxUint64,
			Expires: time.Now().Add(client.TxTTL).Unix(), Action: action}, key)
		if err != nil {
			t.Fatal(err)
		}
		return raw, id
	}
	submit := func(what string, raw []byte) {
		t.Helper()
		r, err := gc.SubmitWithBodyWithResponse(ctx, &SubmitParams{}, "application/json", bytes.NewReader(raw))
		if err != nil || r.JSON200 == nil || r.JSON200.Code != nil {
			t.Fatalf("%s: %v %s", what, err, body(r))
		}
	}
	join, joinID := sign(bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "Cloud c2", PubKey: pub,
		Resources: bbus.Resources{CPU: 64, MemMiB: 1 << 18, DiskIOPS: 10000, NetMbps: 1000}}})
	submit("join", join)

	tx, err := gc.TxWithResponse(ctx, joinID)
	if err != nil || tx.JSON200 == nil {
		t.Fatalf("tx: %v %s", err, body(tx))
	}
	if !bytes.Equal(tx.JSON200.Raw, join) {
		t.Errorf("tx: raw\n%s\nwant what was sent\n%s", tx.JSON200.Raw, join)
	}
	if tx.JSON200.Body == nil || tx.JSON200.Body.Nonce != math.MaxUint64 {
		t.Errorf("tx: body %+v, want nonce %d", tx.JSON200.Body, uint64(math.MaxUint64))
	}

	cl, err := gc.CloudsWithResponse(ctx, &CloudsParams{})
	if err != nil || cl.JSON200 == nil {
		t.Fatalf("clouds: %v %s", err, body(cl))
	}
	var ids []string
	for _, c := range cl.JSON200.Items {
		ids = append(ids, c.Id+":"+string(c.Status))
	}
	if want := []string{"c2:active", "local:active"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("clouds: %v, want %v", ids, want)
	}

	// A VM of c2's, registered with nonce 2^64-1 too: its evidence bundle
	// shows the nonce as signed.
	vm, _ := sign(bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 2, MemMiB: 2048}}})
	submit("vm register", vm)
	ev, err := gc.EvidenceWithResponse(ctx, &EvidenceParams{Vm: ptr("vm-1")})
	if err != nil || ev.JSON200 == nil {
		t.Fatalf("evidence: %v %s", err, body(ev))
	}
	if len(ev.JSON200.Txs) != 1 {
		t.Fatalf("evidence: txs %+v, want one", ev.JSON200.Txs)
	}
	if stx, err := bbus.DecodeTx([]byte(ev.JSON200.Txs[0].Raw)); err != nil || stx.Nonce != math.MaxUint64 {
		t.Errorf("evidence: tx %s (%v), want nonce %d", ev.JSON200.Txs[0].Raw, err, uint64(math.MaxUint64))
	}

	// An AMOUNT goes out as the string it is and comes back to the micro-credit.
	pr, err := gw.PublishOfferWithResponse(ctx, &PublishOfferParams{}, PublishOfferJSONRequestBody{
		Cpu: ptr[int64](4), MemMib: ptr[int64](4096), PriceVcpuHour: "1234.567891"})
	if err != nil || pr.JSON200 == nil {
		t.Fatalf("offer: %v %s", err, body(pr))
	}
	of, err := gc.OffersWithResponse(ctx, &OffersParams{})
	if err != nil || of.JSON200 == nil {
		t.Fatalf("offers: %v %s", err, body(of))
	}
	if len(of.JSON200.Items) != 1 || of.JSON200.Items[0].PriceVcpuHourMicro != 1_234_567_891 {
		t.Errorf("offers: %+v, want one at 1234567891 micro-credits a vCPU-hour", of.JSON200.Items)
	}
}

func ptr[T any](v T) *T { return &v }

// body returns what a response carried, for a failure's message.
func body(r interface{ StatusCode() int }) string {
	if r == nil || reflect.ValueOf(r).IsNil() {
		return ""
	}
	b := reflect.ValueOf(r).Elem().FieldByName("Body").Bytes()
	return http.StatusText(r.StatusCode()) + ": " + string(b)
}
