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
// Errors: ErrNotFound for a missing logical volume, *InsufficientSpaceError
// when the volume group has too little free space.
package lvm
