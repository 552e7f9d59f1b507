package server_test

import (
	"os"
	"testing"

	"github.com/edgeauthz/edgeauthz/internal/leaktest"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }
