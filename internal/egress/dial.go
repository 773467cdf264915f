package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/capstream/capstream/internal/capability"
)

// dialer resolves a host once, checks every address it resolves to, and
// connects to the checked addresses themselves, so a second resolution can
// never swap in another address (DNS rebinding).
type dialer struct {
	resolve      func(ctx context.Context, host string) ([]netip.Addr, error)
	allowPrivate bool
	timeout      time.Duration
	base         net.Dialer
}

// DialContext has the signature of http.Transport.DialContext; addr is the
// "host:port" of the request URL.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("splitting %q: %w", addr, err)
	}
	// The transport dials on a context detached from the request, so that a
	// connection may outlive a canceled request; bound it here.
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()

	ips, err := d.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	for _, ip := range ips {
		if d.allowPrivate || !capability.IsPrivate(ip) {
			continue
		}
		if ip.String() == host {
			return nil, &Denied{Reason: fmt.Sprintf("%s is a private address, which the rule does not allow", host)}
		}
		return nil, &Denied{Reason: fmt.Sprintf("%s resolves to %s, a private address, which the rule does not allow", host, ip)}
	}
	var errs []error
	for _, ip := range ips {
		conn, err := d.base.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// lookup returns the addresses of host, which may be an IP literal.
func (d *dialer) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	ips, err := d.resolve(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolving %s: no addresses", host)
	}
	out := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		out[i] = ip.Unmap()
	}
	return out, nil
}

func defaultResolve(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}
