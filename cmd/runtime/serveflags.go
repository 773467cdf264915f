package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// checkServeFlags refuses combinations of serve's flags that are unsafe or
// contradictory, before anything starts.
func checkServeFlags(f serveFlags) error {
	if err := checkDev(f); err != nil {
		return err
	}
	if err := checkAudience(f); err != nil {
		return err
	}
	if f.metricsAddr != "" && f.metricsAddr == f.addr && !strings.HasSuffix(f.addr, ":0") {
		return fmt.Errorf("--metrics-addr is --addr (%q): give the metrics a listener of their own, or leave --metrics-addr empty", f.addr)
	}
	if err := checkMCP(f); err != nil {
		return err
	}
	if err := f.cluster.check(f); err != nil {
		return err
	}
	if f.drainTimeout < 0 {
		return errors.New("--drain-timeout must not be negative")
	}
	if f.shutdownGrace <= 0 {
		return errors.New("--shutdown-grace must be positive: it bounds how long the server waits, after --drain-timeout, before it exits")
	}
	return nil
}

// checkAudience requires --jwt-audience with a public key or a JWKS:
// an identity provider signs the tokens of all its applications with the
// same keys, so without an audience check a token it issued for another
// application would be accepted here. --jwt-accept-any-audience waives the
// check. An HS256 secret needs no audience: it is shared with this service
// alone, and whoever holds it can mint any aud anyway.
func checkAudience(f serveFlags) error {
	asymmetric := ""
	switch {
	case f.jwksURL != "":
		asymmetric = "--jwks-url"
	case f.publicKey != "":
		asymmetric = "--jwt-public-key"
	}
	switch {
	case f.audienceAny && f.audience != "":
		return errors.New("--jwt-accept-any-audience contradicts --jwt-audience: give one of them")
	case f.audienceAny && asymmetric == "":
		return errors.New("--jwt-accept-any-audience applies to --jwt-public-key and --jwks-url only; drop it")
	case asymmetric != "" && f.audience == "" && !f.audienceAny:
		return fmt.Errorf("%s needs --jwt-audience: the identity provider's keys sign the tokens of every application "+
			"it serves, so without an audience check a token issued for another application would be accepted. "+
			"Give --jwt-audience with the aud your provider puts in tokens for capstream, or "+
			"--jwt-accept-any-audience to accept tokens whatever their audience", asymmetric)
	}
	return nil
}

// checkMCP refuses MCP settings that could not work: URLs that are not
// absolute, bounds that are not positive.
func checkMCP(f serveFlags) error {
	if f.publicURL != "" {
		u, err := url.Parse(f.publicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("--public-url %q: give the origin clients reach the server at, such as https://tools.example.com (no path)", f.publicURL)
		}
	}
	if f.mcpResource != "" {
		u, err := url.Parse(f.mcpResource)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
			return fmt.Errorf("--mcp-resource %q: give the absolute URI of /mcp, such as https://tools.example.com/mcp (RFC 8707: no fragment)", f.mcpResource)
		}
	}
	for _, a := range f.mcpAuthServers {
		if u, err := url.Parse(a); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("--mcp-authorization-server %q: give the issuer URL of an OAuth authorization server", a)
		}
	}
	for _, h := range f.mcpAllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ ") {
			return fmt.Errorf("--mcp-allowed-host %q: give a host name, host:port, or *", h)
		}
	}
	if f.mcpSessionTimeout <= 0 {
		return errors.New("--mcp-session-timeout must be positive")
	}
	if f.mcpMaxSessions <= 0 {
		return errors.New("--mcp-max-sessions-per-principal must be positive")
	}
	return nil
}
