package switchd

import (
	"log"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"

	"msw/broker"
	"msw/broker/natsbackend"
	"msw/internal/tool"
)

// backend is the switch's scale-out flags: with --backend, persistent
// queues live in a NATS JetStream cluster and this switch is one of its
// gateways (docs/scale-out.md).
type backend struct {
	url      string
	replicas int
	ackWait  tool.DurationValue
	creds    string
	ca       string
}

func (k *backend) register(fs *pflag.FlagSet) {
	k.replicas, k.ackWait = 1, tool.DurationValue(natsbackend.DefaultAckWait)
	fs.StringVar(&k.url, "backend", "", "keep persistent queues in the NATS JetStream cluster at these `urls` (nats://host1:4222,host2:4222); this switch becomes one of its gateways")
	fs.IntVar(&k.replicas, "replicas", k.replicas, "with --backend, copies of each queue the cluster keeps (`N`; 3 survives the loss of a node)")
	fs.Var(&k.ackWait, "backend-ack-wait", "with --backend, how long a message held by a gateway that died stays away before the cluster redelivers it (`duration`)")
	fs.StringVar(&k.creds, "backend-creds", "", "with --backend, the NATS credentials `file` to connect with")
	fs.StringVar(&k.ca, "backend-ca", "", "with --backend, the certificate authority `file` that signed the cluster's TLS certificates")
}

// open checks the flags and, with --backend, connects to the cluster: the
// engine (nil without --backend) and an exit code other than ExitOK when
// the flags are bad or the cluster cannot be reached.
func (k *backend) open(c *tool.Command, logger *log.Logger, withData bool) (*natsbackend.Engine, int) {
	if k.url == "" {
		return nil, tool.ExitOK
	}
	if withData {
		return nil, c.UsageError("--backend and --data: choose one (the cluster keeps the queues)")
	}
	for _, u := range strings.Split(k.url, ",") {
		if s, _, ok := strings.Cut(u, "://"); ok && s != "nats" && s != "tls" {
			return nil, c.UsageError("--backend %q: want nats://host:port or tls://host:port, separated by commas", u)
		}
	}
	if k.replicas < 1 || k.replicas > 5 {
		return nil, c.UsageError("--replicas %d: want 1 to 5", k.replicas)
	}
	if k.ackWait <= 0 {
		return nil, c.UsageError("--backend-ack-wait: want a positive duration")
	}
	var opts []nats.Option
	if k.creds != "" {
		opts = append(opts, nats.UserCredentials(k.creds))
	}
	if k.ca != "" {
		opts = append(opts, nats.RootCAs(k.ca))
	}
	e, err := natsbackend.Open(natsbackend.Options{URL: k.url, Replicas: k.replicas, AckWait: time.Duration(k.ackWait), Name: "msw-switch", NATS: opts})
	if err != nil {
		return nil, c.Failf("%v", err)
	}
	logger.Printf("backend %s: persistent queues in the cluster, %d replicas, ack wait %v", k.url, k.replicas, time.Duration(k.ackWait))
	return e, tool.ExitOK
}

// engine is e as the broker takes it: no engine at all without --backend.
func (k *backend) engine(e *natsbackend.Engine) broker.Engine {
	if e == nil {
		return nil
	}
	return e
}

// keepAlive is how often held messages are reported in progress: three
// times within the ack wait.
func (k *backend) keepAlive() time.Duration { return time.Duration(k.ackWait) / 3 }
