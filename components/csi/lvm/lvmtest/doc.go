// Package lvmtest gives tests a real lvm2 volume group on loop devices backed
// by sparse files in the test's temporary directory, removed when the test
// ends. Tests skip, naming the reason, where lvm2 is not installed, the
// process is not root or the kernel refuses loop devices.
package lvmtest
