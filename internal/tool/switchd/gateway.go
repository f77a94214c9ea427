package switchd

import (
	"net"
	"os"
	"strconv"
	"strings"

	"msw/broker"
	"msw/broker/natsbackend"
	"msw/server"
)

// gatewayID names this switch among a cluster's gateways, as msw-diag and
// msw-tail show it: the host's name and the port (or socket path) of its
// first listening address, or its address itself when that names a host
// others reach it by.
func gatewayID(listens []string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	if len(listens) == 0 {
		return host + ":" + strconv.Itoa(os.Getpid())
	}
	l := listens[0]
	if path, ok := strings.CutPrefix(l, "unix:"); ok {
		return host + ":" + path
	}
	h, port, err := net.SplitHostPort(l)
	if err != nil {
		return host + ":" + l
	}
	if port == "0" {
		port = "pid" + strconv.Itoa(os.Getpid())
	}
	if ip := net.ParseIP(h); h == "" || h == "localhost" || ip != nil && (ip.IsUnspecified() || ip.IsLoopback()) {
		return host + ":" + port
	}
	return net.JoinHostPort(h, port)
}

// cluster starts this gateway's part in gathering the cluster's
// diagnostics and trace; nil without --backend.
func (k *backend) cluster(e *natsbackend.Engine, b *broker.Broker, listens []string, traceSize int) (*natsbackend.Cluster, error) {
	if e == nil {
		return nil, nil
	}
	return natsbackend.NewCluster(e, b, natsbackend.ClusterOptions{ID: gatewayID(listens), TraceSize: max(traceSize, 0)})
}

// serverCluster is c as the server takes it: none at all without one.
func serverCluster(c *natsbackend.Cluster) server.Cluster {
	if c == nil {
		return nil
	}
	return c
}
