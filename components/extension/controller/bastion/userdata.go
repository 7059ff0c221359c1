package bastion

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	ignition "github.com/coreos/ignition/v2/config/v3_5/types"
)

// Paths and units of the bastion's user data.
const (
	RulesFile    = "/etc/metalkube/bastion/ssh.nft"
	ScriptFile   = "/etc/metalkube/bastion/user-data"
	FilterUnit   = "metalkube-bastion-ssh-filter.service"
	UserDataUnit = "metalkube-bastion-user-data.service"
)

// UserData is the bastion's Ignition config: the SSH filter, loaded before
// sshd starts, and Gardener's bastion user data (a script provisioning the
// SSH user and key) run once. It is never logged.
func UserData(script []byte, rules string) ([]byte, error) {
	file := func(path string, mode int, data []byte) ignition.File {
		return ignition.File{Node: ignition.Node{Path: path, Overwrite: new(true)},
			FileEmbedded1: ignition.FileEmbedded1{Mode: new(mode), Contents: ignition.Resource{Source: new("data:;base64," + base64.StdEncoding.EncodeToString(data))}}}
	}
	filter := "[Unit]\nDescription=metalkube bastion: SSH only from the ingress CIDRs\nBefore=network-pre.target sshd.service ssh.service\nWants=network-pre.target\n\n" +
		"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/sbin/nft -f " + RulesFile + "\n\n[Install]\nWantedBy=multi-user.target\n"
	run := "[Unit]\nDescription=metalkube bastion: Gardener's bastion user data\nAfter=network-online.target " + FilterUnit + "\nWants=network-online.target\n\n" +
		"[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=" + ScriptFile + "\n\n[Install]\nWantedBy=multi-user.target\n"
	cfg := ignition.Config{
		Ignition: ignition.Ignition{Version: "3.5.0"},
		Storage:  ignition.Storage{Files: []ignition.File{file(RulesFile, 0o600, []byte(rules)), file(ScriptFile, 0o700, script)}},
		Systemd: ignition.Systemd{Units: []ignition.Unit{
			{Name: FilterUnit, Enabled: new(true), Contents: new(filter)},
			{Name: UserDataUnit, Enabled: new(true), Contents: new(run)},
		}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("bastion user data: %w", err)
	}
	return b, nil
}
