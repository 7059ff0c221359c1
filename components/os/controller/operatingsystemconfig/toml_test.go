package operatingsystemconfig_test

import "github.com/pelletier/go-toml/v2"

func tomlUnmarshal(b []byte, v any) error { return toml.Unmarshal(b, v) }
