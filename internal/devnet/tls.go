package devnet

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/tlscert"
)

// tlsValidity is how long the devnet's certificate is made for.
const tlsValidity = 365 * 24 * time.Hour

// enableTLS gives the devnet's pool a Stratum TLS listener on a free
// loopback port, serving a self-signed pair for the loopback names from
// dir/tls.crt and dir/tls.key (0600). A pair already there is kept while it
// stays valid, so that a miner told to trust it (tarbela-miner --tls-ca
// devnet/tls.crt) keeps trusting it across devnet runs.
func enableTLS(cfg *config.Config, dir string) error {
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if _, err := tlscert.Ensure(cert, key, tlscert.Loopback, tlsValidity); err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	cfg.Stratum.TLSListen, cfg.Stratum.TLSCertFile, cfg.Stratum.TLSKeyFile = "127.0.0.1:0", cert, key
	return nil
}
