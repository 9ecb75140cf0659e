package loadgen

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// ApplyDevnet points o at the devnet whose directory is dir, from the
// devnet.json that `tarbela devnet` writes there: the pool (unless o.Pool
// is set), the node's RPC (unless o.RPC.URL is set) and the payout
// address, which replaces {addr} in o.User.
func (o *Options) ApplyDevnet(dir string) error {
	path := dir + "/devnet.json"
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var info struct {
		Stratum       string `json:"stratum"`
		NodeRPC       string `json:"node_rpc"`
		NodeRPCUser   string `json:"node_rpc_user"`
		NodeRPCPass   string `json:"node_rpc_pass"`
		PayoutAddress string `json:"payout_address"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if o.Pool == "" {
		o.Pool = info.Stratum
	}
	if o.RPC.URL == "" && info.NodeRPC != "" {
		o.RPC = RPCOptions{URL: "http://" + info.NodeRPC, User: info.NodeRPCUser, Pass: info.NodeRPCPass}
	}
	o.User = strings.ReplaceAll(o.User, "{addr}", info.PayoutAddress)
	return nil
}
