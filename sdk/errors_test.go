package sdk_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/capstream/capstream/sdk"
	"github.com/capstream/capstream/sdk/abi"
)

func TestErrorIs(t *testing.T) {
	sentinels := []*sdk.Error{sdk.ErrDenied, sdk.ErrNotFound, sdk.ErrInvalid, sdk.ErrQuota, sdk.ErrUpstream, sdk.ErrTooLarge, sdk.ErrStorage}
	for _, s := range sentinels {
		err := fmt.Errorf("doing it: %w", &sdk.Error{Code: s.Code, Message: "why"})
		for _, other := range sentinels {
			if got, want := errors.Is(err, other), other == s; got != want {
				t.Errorf("errors.Is(%v, %v) = %v, want %v", err, other, got, want)
			}
		}
	}
	if errors.Is(&sdk.Error{Code: abi.ErrDenied}, errors.New("denied")) {
		t.Error("an *Error matches a plain error")
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *sdk.Error
		want string
	}{
		{&sdk.Error{Code: abi.ErrDenied, Message: "url is not in the allowlist"}, "denied: url is not in the allowlist"},
		{&sdk.Error{Code: abi.ErrNotFound}, "not_found"},
		{&sdk.Error{Code: -42, Message: "new"}, "error -42: new"},
		{sdk.ErrQuota, "quota"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
