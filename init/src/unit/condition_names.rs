//! The names `ConditionVirtualization=` and `ConditionSecurity=` accept: the parser
//! checks values against them and `crate::condition` tests them on the running
//! system (kept here so that the two do not import each other).

/// Technology names `ConditionVirtualization=` accepts.
pub const VIRT_NAMES: &[&str] = &[
    "qemu",
    "kvm",
    "amazon",
    "zvm",
    "vmware",
    "microsoft",
    "oracle",
    "powervm",
    "xen",
    "bochs",
    "uml",
    "bhyve",
    "qnx",
    "acrn",
    "apple",
    "sre",
    "google",
    "openvz",
    "lxc",
    "lxc-libvirt",
    "systemd-nspawn",
    "docker",
    "podman",
    "rkt",
    "wsl",
    "proot",
    "pouch",
    "parallels",
    "vm-other",
];

/// The `ConditionSecurity=` names checked.
pub const SECURITY_NAMES: &[&str] = &[
    "selinux",
    "apparmor",
    "smack",
    "ima",
    "tomoyo",
    "audit",
    "tpm2",
    "uefi-secureboot",
    "cvm",
];
