"""``minke-runtime features``: what this runtime supports, in runc's JSON shape."""

from __future__ import annotations

from minke.runtime.spec import HOOK_NAMES, NAMESPACE_TYPES


def features() -> dict:
    from minke import __version__
    from minke.runtime.capabilities import CAPABILITIES
    from minke.runtime.rootfs import MOUNT_FLAGS, PROPAGATION_FLAGS
    from minke.runtime.seccomp import OCI_ARCHES, OPS

    options = set(MOUNT_FLAGS) | set(PROPAGATION_FLAGS)
    options |= {"r" + o for o, (clear, _) in MOUNT_FLAGS.items() if o not in ("bind", "rbind", "remount", "defaults")}
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.0.2",
        "hooks": list(HOOK_NAMES),
        "mountOptions": sorted(options),
        "linux": {
            "namespaces": sorted(NAMESPACE_TYPES),
            "capabilities": sorted(CAPABILITIES, key=CAPABILITIES.get),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": sorted(OPS),
                "archs": sorted(OCI_ARCHES),
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.minke.runtime.version": __version__},
    }  # fmt: skip
