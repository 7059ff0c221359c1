// Package lvm drives lvm2 through its commands (pvcreate, vgcreate, lvcreate,
// lvextend, lvremove, lvs, vgs) for one volume group, built from the disks a
// device pattern names and created when it is missing.
//
// Every command is restricted to the volume group's devices (--devices), so
// lvm2 neither scans nor touches any other disk of the machine, and runs with
// udev synchronisation off where no udev daemon runs (containers).
//
// Two activations expose a logical volume as a block device:
//
//	dm    lvchange -ay: /dev/<vg>/<lv> through device-mapper (the normal case)
//	loop  for kernels without device-mapper: logical volumes are allocated
//	      contiguously (--alloc contiguous) and a loop device is attached at
//	      the volume's extents on its physical volume, the same mapping
//	      dm-linear would make. Only linear volumes exist in this mode.
//
// Layouts (Layout): linear; striped (lvcreate --type striped -i N, one stripe
// per physical volume by default); mirror (--type raid1 -m 1, each copy on
// its own physical volume). Striped and mirrored volumes need device-mapper
// (dm-stripe, dm-raid) and at least two physical volumes; CheckLayout says
// why a volume group cannot make one. Their command lines are unit-tested
// (TestCreateArgs): the test machines' kernel has no device-mapper, so they
// have not been run there.
//
// Errors: ErrNotFound for a missing logical volume, *InsufficientSpaceError
// when the volume group has too little free space, *LayoutError for a layout
// the volume group cannot make.
package lvm
