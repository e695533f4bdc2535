//! What a boot configuration resolves to: the kernel file, the initrd file and the command
//! line of the chosen entry, plus notes about what the config asked for that this loader
//! ignored (so the console can say so).

use alloc::string::String;
use alloc::vec::Vec;

use crate::grub_path::Device;

/// A file on a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRef {
    pub device: Device,
    pub path: String,
}

impl core::fmt::Display for FileRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "({}){}", self.device.grub2_name(), self.path)
    }
}

/// The entry to boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootEntry {
    /// The menu title (`None` for a kernel given directly in `extra=`).
    pub title: Option<String>,
    pub kernel: FileRef,
    pub initrd: Option<FileRef>,
    /// The kernel's command line, exactly as measured into PCR 5.
    pub cmdline: String,
    /// Things in the config this loader did not do (one line each).
    pub notes: Vec<String>,
}

/// `search --fs-uuid` and the like, answered by the disk (or by a test).
pub trait Volumes {
    /// The first volume whose ext2/3/4 file system has this UUID.
    fn find_fs_uuid(&mut self, uuid: &str) -> Option<Device>;
}
