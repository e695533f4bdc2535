//! pvgrub-measure's loader logic, pure and host-tested: read the guest's disk (MBR/GPT
//! partitions, ext2/3/4), find the boot entry (GRUB 2 `grub.cfg`, GRUB legacy `menu.lst`, or
//! `extra=` options), load the kernel (bzImage, decompressed; checked to be a Xen PV ELF) and
//! its initrd, compute where everything goes in the domain ([`layout::ImageLayout`]) and what
//! pv-grub measured into the vTPM ([`measure`]). The image (`pvgrub-measure`) drives it over
//! blkfront and tpmfront; the host CLI (`pvgrub-measure predict`) uses [`measure::predict`].
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod boot_entry;
pub mod bzimage;
pub mod decompress;
pub mod domain_image;
pub mod elf;
pub mod error;
pub mod fetch;
pub mod frame_map;
pub mod grub_cfg;
pub mod grub_path;
pub mod grub_script;
pub mod layout;
pub mod loader;
pub mod measure;
pub mod menu_lst;
pub mod options;
pub mod page_tables;
pub mod partition;
pub mod start_info;
pub mod volume;

pub use boot_entry::{BootEntry, FileRef, Volumes};
pub use error::LoadError;
pub use layout::ImageLayout;
pub use loader::{Kernel, Loaded, load, load_kernel};
pub use measure::{Prediction, predict};
pub use options::{BootMode, BootOptions, BootSource};
pub use volume::Disk;
