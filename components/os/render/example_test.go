package render_test

import (
	"fmt"

	"github.com/metalkube/metalkube/components/os/render"
)

func ExampleCloudInit() {
	unit := "[Service]\nExecStart=/opt/bin/hello\n[Install]\nWantedBy=multi-user.target\n"
	out, err := render.CloudInit(&render.Plan{
		Files: []render.File{
			{Path: "/opt/bin/hello", Mode: 0o755, Data: []byte("#!/bin/sh\necho hello\n"), Plain: true},
			{Path: "/etc/hello/token", Mode: 0o600, Data: []byte("s3cr3t")},
		},
		Units: []render.Unit{{Name: "hello.service", Content: &unit, Enable: true, Command: render.CommandStart}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Print(string(out))
	// Output:
	// #cloud-config
	// write_files:
	//   - path: /opt/bin/hello
	//     permissions: "0755"
	//     content: |
	//       #!/bin/sh
	//       echo hello
	//   - path: /etc/hello/token
	//     permissions: "0600"
	//     content: "s3cr3t"
	//   - path: /etc/systemd/system/hello.service
	//     permissions: "0644"
	//     content: |
	//       [Service]
	//       ExecStart=/opt/bin/hello
	//       [Install]
	//       WantedBy=multi-user.target
	// runcmd:
	//   - [systemctl, daemon-reload]
	//   - [systemctl, enable, hello.service]
	//   - [systemctl, restart, --no-block, hello.service]
}

func ExampleIgnition() {
	out, err := render.Ignition(&render.Plan{
		Files: []render.File{{Path: "/etc/token", Mode: 0o600, Data: []byte("<<BOOTSTRAP_TOKEN>>"), Plain: true}},
		Units: []render.Unit{{Name: "containerd.service", Enable: true, DropIns: []render.DropIn{{Name: "10-env.conf", Content: "[Service]\nEnvironment=A=b\n"}}}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out))
	// Output:
	// {"ignition":{"config":{"replace":{"verification":{}}},"proxy":{},"security":{"tls":{}},"timeouts":{},"version":"3.5.0"},"kernelArguments":{},"passwd":{},"storage":{"files":[{"group":{},"overwrite":true,"path":"/etc/token","user":{},"contents":{"source":"data:,%3C%3CBOOTSTRAP_TOKEN%3E%3E","verification":{}},"mode":384}]},"systemd":{"units":[{"dropins":[{"contents":"[Service]\nEnvironment=A=b\n","name":"10-env.conf"}],"enabled":true,"name":"containerd.service"},{"contents":"[Unit]\nDescription=Starts and stops the units of the OperatingSystemConfig at first boot (metalkube)\nConditionPathExists=!/var/lib/metalkube/units-started\n[Service]\nType=oneshot\nExecStart=-/usr/bin/systemctl start --no-block containerd.service\nExecStartPost=/usr/bin/mkdir -p /var/lib/metalkube\nExecStartPost=/usr/bin/touch /var/lib/metalkube/units-started\n[Install]\nWantedBy=multi-user.target\n","enabled":true,"name":"metalkube-start-units.service"}]}}
}
