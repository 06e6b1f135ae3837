"""minke's built-in OCI runtime: runs a bundle the way runc does, written in Python.

``minke-runtime`` (``minke.runtime.cli``) speaks runc's command line; ``oci.OCIRuntime``
is the interface the engine uses for it or for any runc-compatible binary.  Modules:
libc (all ctypes), syscalls (the kernel seam and its recording fake), spec (config.json),
state (the state directory), container (the lifecycle), init (the forked container
init), rootfs, exec, hooks, capabilities, seccomp, cgroups.
"""
