package main

import (
	"errors"
	"fmt"
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
